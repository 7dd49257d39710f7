"""A job on a real multi-node Ray cluster on this machine, with token authentication, where the
worker node cannot see the coordinator's data directory: its own mount namespace (`unshare -m`)
with an empty tmpfs over that directory. The supernet, the evaluators and the verified stage are
pinned to the worker node by a custom resource; the job must complete with every file going
through the artifact root's relay, and the worker's view of the directory must stay empty."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from nas.service import export_candidate, submit_job
from nas.store import Store
from tests.helpers import EXAMPLES, REPO, free_port, poll, require

pytestmark = [pytest.mark.system, pytest.mark.timeout(900)]

BIN = Path(sys.executable).parent
WORKER_RESOURCE = "remote_node"


def can_isolate() -> bool:
    """Whether this machine lets a test make network and mount namespaces (root does)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return subprocess.run(["unshare", "-m", "-n", "true"], capture_output=True).returncode == 0


@dataclass
class Network:
    """A network namespace for the worker node, joined to this one by a veth pair: two addresses
    of a private /30 that exist on this machine only."""

    namespace: str
    head_ip: str
    worker_ip: str

    @classmethod
    def make(cls) -> Network:
        tag = uuid.uuid4().hex[:6]
        third, fourth = int(tag[:2], 16), int(tag[2:4], 16) // 4 * 4
        made = cls(f"nas-test-{tag}", f"10.213.{third}.{fourth + 1}", f"10.213.{third}.{fourth + 2}")
        outside, inside = f"nash{tag}", f"nasw{tag}"
        for command in (
            ["ip", "netns", "add", made.namespace],
            ["ip", "link", "add", outside, "type", "veth", "peer", "name", inside],
            ["ip", "link", "set", inside, "netns", made.namespace],
            ["ip", "addr", "add", f"{made.head_ip}/30", "dev", outside],
            ["ip", "link", "set", outside, "up"],
            ["ip", "netns", "exec", made.namespace, "ip", "addr", "add", f"{made.worker_ip}/30", "dev", inside],
            ["ip", "netns", "exec", made.namespace, "ip", "link", "set", inside, "up"],
            ["ip", "netns", "exec", made.namespace, "ip", "link", "set", "lo", "up"],
        ):
            subprocess.run(command, check=True, capture_output=True)
        made.outside = outside
        return made

    def remove(self) -> None:
        subprocess.run(["ip", "link", "del", self.outside], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)


@dataclass
class Cluster:
    address: str
    env: dict[str, str]  # what a coordinator on the head's machine runs with (the token included)
    head: subprocess.Popen
    worker: subprocess.Popen
    coordinator_home: Path


def stop(process: subprocess.Popen) -> None:
    """Ends a node started here: its process group (its Ray processes), by id."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=20)
            return
        except subprocess.TimeoutExpired:
            continue


def nodes(cluster: Cluster, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    script = "import json, ray; ray.init(address=%r, log_to_driver=False); print(json.dumps([{'id': n['NodeID'], 'alive': n['Alive'], 'resources': n['Resources']} for n in ray.nodes()]))"
    return subprocess.run([sys.executable, "-c", script % cluster.address], capture_output=True, text=True, timeout=120, env=env or cluster.env)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    if not can_isolate():
        require("namespaces", "this machine does not let the test make network and mount namespaces (ip netns, unshare -m): run it as root", "NAS_REQUIRE_NAMESPACES")
    home = tmp_path / "coordinator-home"
    home.mkdir()
    (home / "SENTINEL").write_text("only the coordinator's machine sees this")
    token = uuid.uuid4().hex
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_", "NAS_"))}
    base.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "PATH": f"{BIN}:{base.get('PATH', '')}", "PYTHONPATH": str(REPO)})
    network = Network.make()
    port = free_port()
    address = f"{network.head_ip}:{port}"
    common = ["--disable-usage-stats", "--block"]
    ray_temp = tempfile.mkdtemp(prefix="nasray-", dir="/tmp")  # short: Ray's socket paths must fit 107 characters
    # The head's own temp dir: Ray's default one would record this cluster as the machine's
    # current one (/tmp/ray/ray_current_cluster), for other processes to find after it is gone.
    head, worker = None, None
    try:
        head = subprocess.Popen(
            [str(BIN / "ray"), "start", "--head", "--node-ip-address", network.head_ip, "--port", str(port), "--num-cpus", "1", "--include-dashboard", "false", "--temp-dir", ray_temp, *common],
            env={**base, "NAS_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        # The worker node: another host (its own network namespace) whose filesystem has an
        # empty tmpfs where the coordinator's directory is (its own mount namespace).
        join = " ".join(
            [str(BIN / "ray"), "start", "--address", address, "--node-ip-address", network.worker_ip, "--num-cpus", "2", "--resources", f"'{json.dumps({WORKER_RESOURCE: 8})}'", *common]
        )  # fmt: skip
        worker = subprocess.Popen(
            ["ip", "netns", "exec", network.namespace, "unshare", "-m", "--propagation", "private", "sh", "-c", f"mount -t tmpfs nas-hidden {home} && exec {join}"],
            env={**base, "NAS_HOME": str(tmp_path / "worker-home")}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        made = Cluster(address, {**base, "NAS_HOME": str(home), "RAY_ADDRESS": address}, head, worker, home)

        def both_alive() -> bool:
            listed = nodes(made)
            return listed.returncode == 0 and sum(n["alive"] for n in json.loads(listed.stdout.splitlines()[-1])) == 2

        poll(both_alive, 180, "the head and the worker node to be up", every=2.0)
        yield made
    finally:
        for process in (worker, head):
            if process is not None:
                stop(process)
        network.remove()
        shutil.rmtree(ray_temp, ignore_errors=True)


def worker_view(cluster: Cluster, path: Path) -> Path:
    """`path` as the worker node's processes see it (through their mount namespace)."""
    return Path(f"/proc/{cluster.worker.pid}/root") / path.relative_to("/")


def test_a_job_runs_on_a_worker_node_that_cannot_see_the_coordinators_files(cluster: Cluster, tmp_path: Path) -> None:
    listed = json.loads(nodes(cluster).stdout.splitlines()[-1])
    (worker_node,) = [n["id"] for n in listed if WORKER_RESOURCE in n["resources"]]
    # The isolation itself: the worker's processes see an empty directory where the coordinator's is.
    assert (cluster.coordinator_home / "SENTINEL").exists() and list(worker_view(cluster, cluster.coordinator_home).iterdir()) == []

    # Without the cluster's token, a coordinator is refused, with a message that says so.
    refused = subprocess.run(
        [str(BIN / "nas"), "coordinator", "--once", "--no-progress", "--db", f"sqlite:///{tmp_path / 'other.db'}"],
        capture_output=True, text=True, timeout=180, env={**cluster.env, "RAY_AUTH_TOKEN": "not-the-token"},
    )  # fmt: skip
    assert refused.returncode != 0 and "RAY_AUTH_TOKEN" in refused.stderr and "Traceback" not in refused.stderr, refused.stderr[-2000:]

    spec = yaml.safe_load((EXAMPLES / "digits-vit.yaml").read_text())
    on_worker = {"cpus": 1, "custom": {WORKER_RESOURCE: 1}}
    spec.update({
        "budget": {"candidates": 4}, "workers": 2,
        "supernet": {"epochs": 1, "archs_per_step": 2, "batch_size": 64, "max_train": 300, "check": False, "score_finetune_steps": 0},
        "latency": {**spec["latency"], "max_seconds": 2}, "verify": {"top_k": 1, "epochs": 1, "references": 0},
        "resources": {"supernet": on_worker, "evaluator": on_worker, "verify": on_worker},
    })  # fmt: skip
    db = f"sqlite:///{cluster.coordinator_home / 'nas.db'}"
    store = Store(db)
    job = submit_job(store, spec)
    ran = subprocess.run(
        [str(BIN / "nas"), "coordinator", "--job", str(job.id), "--no-progress", "--db", db], capture_output=True, text=True, timeout=900, env=cluster.env
    )  # fmt: skip
    finished = store.get_job(job.id)
    assert ran.returncode == 0 and finished.status == "succeeded", f"{finished.status}: {finished.error}\n{ran.stderr[-4000:]}"
    assert store.counts(job.id)["done"] == 4

    events = store.events(job.id)
    trained = [e for e in events if e.kind == "supernet_trained"]
    placed = [where for e in events if e.kind == "evaluators_started" for where in e.data["evaluators"]]
    assert trained and trained[0].data["where"]["node_id"] == worker_node, trained[0].data
    assert len(placed) >= 2 and {where["node_id"] for where in placed} == {worker_node}, placed
    (verification,) = store.verifications(job.id)
    artifacts = cluster.coordinator_home / "artifacts"
    assert verification.weights.startswith(str(artifacts)) and Path(verification.weights).is_file()
    assert (Path(store.artifacts(job.id, "supernet_checkpoint")[0].path) / "checkpoint.json").is_file()
    # Nothing remote wrote under the coordinator's directory: whatever it wrote would be in the tmpfs.
    assert list(worker_view(cluster, cluster.coordinator_home).iterdir()) == []
    assert (tmp_path / "worker-home" / "cache").is_dir()  # what the worker read, it kept in its own cache

    print(f"\nnodes: head {[n['id'] for n in listed if n['id'] != worker_node]}, worker {worker_node}")
    print("supernet trained on", trained[0].data["where"], "; evaluators on", [(w["slot"], w["node_id"], w["host"], w["device"]) for w in placed])
    print("verified weights:", verification.weights, "; worker's view of the coordinator's directory:", list(worker_view(cluster, cluster.coordinator_home).iterdir()))
    # The server's side reads the same artifact root: the verified model exports.
    exported = export_candidate(store, job.id, store.get_candidate(verification.candidate_id).seq, "pytorch", tmp_path / "export")
    assert exported["metrics"]["weights"] == "verified"
