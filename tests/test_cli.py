"""The `nas` command line: the installed console script in a process of its own, then every
command through Typer's runner in this process (the same code, exit codes, stdout and stderr,
without a process start each)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES
from tests.helpers import cli as nas

SCRIPT = Path(sys.executable).parent / "nas"


def test_the_installed_script_runs_and_refuses_bad_input_without_a_traceback(tmp_path):
    version = subprocess.run([str(SCRIPT), "--version"], capture_output=True, text=True, timeout=120)
    assert version.returncode == 0 and version.stdout.startswith("transformer-nas ")
    (tmp_path / "arch.json").write_text('{"layers": "many"}')
    refused = subprocess.run([str(SCRIPT), "arch", "validate", "flexibert", str(tmp_path / "arch.json")], capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "layers: expected a list, got str" in refused.stderr and "Traceback" not in refused.stderr


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_spaces_list_and_describe():
    listed = nas("spaces", "list", "--json")
    assert listed.exit_code == 0
    spaces = {row["space"]: row for row in json.loads(listed.stdout)}
    assert set(spaces) == {"flexibert", "vit-resnas"}
    assert set(spaces["flexibert"]["presets"]) == {"nas-bench-bert", "flexibert", "flexibert-2"}
    described = nas("spaces", "describe", "flexibert", "--preset", "flexibert", "--json")
    info = json.loads(described.stdout)
    assert info["size"] == 240**2 + 240**4
    assert info["choices"]["heads"] == [2, 4]
    overridden = json.loads(nas("spaces", "describe", "flexibert", "-p", "flexibert", "--set", "num_layers=[2]", "--json").stdout)
    assert overridden["size"] == 240**2
    human = nas("spaces", "describe", "vit-resnas", "--preset", "tiny")
    assert human.exit_code == 0 and "size:" in human.stdout


def test_sample_is_deterministic_and_valid(tmp_path):
    first = nas("spaces", "sample", "vit-resnas", "-p", "small-images", "-n", "4", "--seed", "7", "--cost")
    second = nas("spaces", "sample", "vit-resnas", "-p", "small-images", "-n", "4", "--seed", "7", "--cost")
    assert first.exit_code == 0 and first.stdout == second.stdout
    rows = json_lines(first.stdout)
    assert len(rows) == 4 and all(row["params"] > 0 and row["flops"] > 0 for row in rows)
    other = nas("spaces", "sample", "vit-resnas", "-p", "small-images", "-n", "4", "--seed", "8")
    assert [r["arch_id"] for r in json_lines(other.stdout)] != [r["arch_id"] for r in rows]
    path = tmp_path / "archs.jsonl"
    path.write_text(first.stdout)
    validated = nas("arch", "validate", "vit-resnas", str(path))
    assert validated.exit_code == 0
    assert [r["arch_id"] for r in json_lines(validated.stdout)] == [r["arch_id"] for r in rows]


def test_cost_of_one_file_and_input_options(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text(json.dumps({"layers": [{"hidden": 128, "heads": 2, "op": "sa-sdp", "ff": [512]}] * 2}))
    default = json_lines(nas("arch", "cost", "flexibert", str(path), "-p", "nas-bench-bert").stdout)[0]
    shorter = json_lines(nas("arch", "cost", "flexibert", str(path), "-p", "nas-bench-bert", "--seq-len", "64").stdout)[0]
    assert default["input"]["max_len"] == 128 and shorter["input"]["max_len"] == 64
    assert shorter["flops"] < default["flops"] and shorter["params"] < default["params"]
    wrong = nas("arch", "cost", "flexibert", str(path), "--image-size", "32")
    assert wrong.exit_code == 2 and "--image-size: not an input option of space 'flexibert'" in wrong.stderr


@pytest.mark.parametrize(
    "content, expected",
    [
        ('{"layers": [{"hidden": 256, "heads": 3, "op": "sa-sdp", "ff": [1024]}, {"hidden": 256, "heads": 2, "op": "wat", "ff": [1]}]}', ["layers[0].heads: 3 not in {2, 4}", "layers[1].op: 'wat' not in", "layers[1].ff[0]: 1 not in {512, 1024}"]),
        ("", ["empty file"]),
        ("[1, 2", ["not valid JSON"]),
        ('{"layers": "many"}', ["layers: expected a list, got str"]),
        ('{"layers": [{"hidden": 1e999, "heads": 2, "op": "sa-sdp", "ff": [512]}]}', ["layers[0].hidden: expected an integer, got float inf"]),
    ],
)
def test_validate_rejects_bad_files_with_exit_2_and_no_traceback(tmp_path, content, expected):
    path = tmp_path / "arch.json"
    path.write_text(content)
    result = nas("arch", "validate", "flexibert", str(path))
    assert result.exit_code == 2
    assert "Traceback" not in result.stderr and result.stdout == ""
    for text in expected:
        assert text in result.stderr, result.stderr


def test_validate_reads_stdin_and_reports_line_numbers():
    good = json.dumps({"layers": [{"hidden": 128, "heads": 2, "op": "lt-dct", "ff": [512]}] * 2})
    bad = json.dumps({"layers": [{"hidden": 128, "heads": 2, "op": "lt-dct", "ff": [512]}] * 3})
    result = nas("arch", "validate", "flexibert", "-", "-p", "nas-bench-bert", stdin=f"{good}\n{bad}\n")
    assert result.exit_code == 2
    assert "-:2: layers: length 3 not in {2, 4}" in result.stderr
    assert json_lines(result.stdout)[0]["where"] == "-:1"


def test_unknown_space_preset_and_missing_file():
    assert "space: 'bert' not in" in nas("spaces", "describe", "bert").stderr
    assert "preset: 'huge' not in" in nas("spaces", "sample", "flexibert", "-p", "huge").stderr
    missing = nas("arch", "validate", "flexibert", "/nonexistent/arch.json")
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    bad_set = nas("spaces", "describe", "flexibert", "--set", "heads=2,4")
    assert bad_set.exit_code == 2 and "is not JSON" in bad_set.stderr


def test_import_nas_bench_bert(nas_bench_bert_path):
    result = nas("arch", "import", "nas-bench-bert", str(nas_bench_bert_path))
    assert result.exit_code == 0
    assert nas("arch", "import", "nas-bench-bert").stdout == result.stdout  # the shipped copy by default
    rows = json_lines(result.stdout)
    assert len(rows) == 500 and len({r["arch_id"] for r in rows}) == 491
    assert set(rows[0]) == {"record_id", "arch_id", "arch"}
    # The imported lines feed straight into validate and cost.
    checked = nas("arch", "validate", "flexibert", "-", "-p", "nas-bench-bert", stdin=result.stdout)
    assert checked.exit_code == 0 and len(json_lines(checked.stdout)) == 500
    assert nas("arch", "import", "nas-bench-201", str(nas_bench_bert_path)).exit_code == 2


def test_supernet_train_resume_and_evaluate(tmp_path):
    small = ["--set", 'stages=[{"widths": [16, 32], "heads": [1, 2], "head_dim": 8, "mlp": [32], "blocks": 2, "optional": [2]}, {"widths": [32], "heads": [2], "head_dim": 8, "mlp": [64], "blocks": 2, "optional": [2]}]']
    out = tmp_path / "ckpt"
    args = ["supernet", "train", "vit-resnas", "--task", "digits", "--out", str(out), *small, "--epochs", "2", "--batch-size", "128", "--max-train", "256", "--no-progress"]
    trained = nas(*args)
    assert trained.exit_code == 0, trained.stderr
    assert trained.stdout.startswith(f"wrote {out}: 4 steps (2 epochs) in ") and "majority class" in trained.stdout, trained.stdout  # for people
    assert (out / "supernet.safetensors").exists()
    again = nas(*args)
    assert again.exit_code == 2 and "already holds a checkpoint" in again.stderr
    resumed = nas(*args, "--resume", "--json")
    assert resumed.exit_code == 0 and json_lines(resumed.stdout)[-1]["steps"] == 0  # nothing left to do
    archs = nas("spaces", "sample", "vit-resnas", *small, "-n", "3")
    scored = nas("supernet", "evaluate", str(out), "-", stdin=archs.stdout)
    assert scored.exit_code == 0, scored.stderr
    rows = json_lines(scored.stdout)
    assert len(rows) == 3 and all(0 <= r["accuracy"] <= 1 and r["params"] > 0 for r in rows)
    outside = nas("supernet", "evaluate", str(out), "-", stdin=nas("spaces", "sample", "vit-resnas", "-n", "1").stdout)
    assert outside.exit_code == 2 and "not in" in outside.stderr  # arch of the full preset: outside this supernet's space


def test_supernet_train_rejects_bad_input(tmp_path):
    bad_task = nas("supernet", "train", "vit-resnas", "--task", "imagenet", "--out", str(tmp_path / "a"))
    assert bad_task.exit_code == 2 and "task: 'imagenet' not in" in bad_task.stderr
    bad_config = nas("supernet", "train", "vit-resnas", "--task", "digits", "--out", str(tmp_path / "b"), "--archs-per-step", "1", "--sandwich")
    assert bad_config.exit_code == 2 and "--sandwich: needs --archs-per-step >= 2" in bad_config.stderr
    mlm_on_images = nas("supernet", "train", "vit-resnas", "--task", "digits", "--out", str(tmp_path / "c"), "--mlm-epochs", "1")
    assert mlm_on_images.exit_code == 2 and "needs a text task" in mlm_on_images.stderr
    lone_teacher = nas("supernet", "train", "vit-resnas", "--task", "digits", "--out", str(tmp_path / "d"), "--archs-per-step", "1", "--distill")
    assert lone_teacher.exit_code == 2 and "--distill: needs --sandwich" in lone_teacher.stderr
    assert not any((tmp_path / name).exists() for name in "abcd")


def test_submit_refuses_a_supernet_too_short_to_learn_in_one_line(tmp_path):
    spec = tmp_path / "digits.yaml"
    spec.write_text((EXAMPLES / "digits-vit.yaml").read_text().replace("supernet: {", "supernet: {epochs: 10, "))
    refused = nas("submit", str(spec), "--db", f"sqlite:///{tmp_path / 'nas.db'}")
    assert refused.exit_code == 2 and refused.stdout == ""
    assert refused.stderr.count("\n") == 1 and refused.stderr.startswith("supernet.epochs: 10 epochs make 120 optimizer steps")


def test_users_add_list_revoke(tmp_path):
    db = f"sqlite:///{tmp_path / 'nas.db'}"
    added = nas("users", "add", "alice", "--db", db, "--json")
    assert added.exit_code == 0, added.stderr
    user = json.loads(added.stdout)
    assert user["name"] == "alice" and user["admin"] is False and user["key"].startswith("nask_")
    assert json.loads(nas("users", "add", "root", "--admin", "--db", db, "--json").stdout)["admin"] is True
    again = nas("users", "add", "alice", "--db", db)
    assert again.exit_code == 2 and "user 'alice' exists already" in again.stderr
    bad = nas("users", "add", "al ice", "--db", db)
    assert bad.exit_code == 2 and "not a user name" in bad.stderr
    listed = json.loads(nas("users", "list", "--db", db, "--json").stdout)
    shown = nas("users", "list", "--db", db).stdout  # a table for people by default
    assert "alice" in shown and "root" in shown and not shown.lstrip().startswith("[")
    assert [(u["name"], u["admin"], u["revoked_at"]) for u in listed] == [("alice", False, None), ("root", True, None)]
    assert user["key"] not in nas("users", "list", "--db", db).stdout  # shown once, at creation
    assert json.loads(nas("users", "revoke", "alice", "--db", db, "--json").stdout)["revoked_at"]
    unknown = nas("users", "revoke", "carol", "--db", db)
    assert unknown.exit_code == 2 and "no user 'carol'" in unknown.stderr
