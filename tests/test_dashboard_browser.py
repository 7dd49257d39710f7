"""The dashboard in a real browser: Debian's chromium, driven by playwright, against a real
`nas serve` (its own coordinator runs the jobs). A user logs in with their key; the jobs list,
a finished job's page (the Pareto plot's points and marked front, the candidates table, a
candidate's graph), a candidate exported and downloaded, a running job's page (its counter advancing without a reload, then cancelled
from its button) and the offline `nas report` file are checked, and each is saved as a
screenshot under test-artifacts/dashboard/ (or $NAS_TEST_ARTIFACTS)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from nas.access import add_user
from nas.job.metrics import metric
from nas.store import Store
from tests.helpers import EXAMPLES, REPO, nas_serve, poll, require, trained_job, verdict_job

pytestmark = [pytest.mark.system, pytest.mark.timeout(600)]

CHROMIUM = os.environ.get("NAS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
SHOTS = Path(os.environ.get("NAS_TEST_ARTIFACTS", REPO / "test-artifacts")) / "dashboard"
BENCH = (EXAMPLES / "nas-bench-bert.yaml").read_text()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if CHROMIUM is None or not Path(CHROMIUM).exists():
        require("chromium", "not on this machine (apt-get install chromium, or set NAS_CHROMIUM)", "NAS_REQUIRE_BROWSER")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        # --no-sandbox: CI runs as root, where chromium's sandbox refuses to start.
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


def shoot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def plotted(page, plot: str = "pareto") -> dict[str, int]:
    """Points per trace of a Plotly plot, as the page drew it."""
    return page.evaluate(f"() => Object.fromEntries(document.getElementById('{plot}').data.map(t => [t.name, t.x.length]))")


def served_locally(context, url: str) -> list[str]:
    """Refuses, and lists, every request the pages make to anywhere but the server (a CDN)."""
    elsewhere: list[str] = []

    def route(request_route) -> None:
        if request_route.request.url.startswith((url, "data:")):
            request_route.continue_()
        else:
            elsewhere.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    return elsewhere


def log_in(context, url: str, key: str):
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: dialog.accept())  # the cancel button asks first
    page.goto(f"{url}/")
    assert page.url.startswith(f"{url}/login")
    page.fill("#key", "nask_wrong")
    page.click("#login")
    assert "Unknown or revoked key" in page.inner_text("#login-error")
    page.fill("#key", key)
    page.click("#login")
    page.wait_for_url(f"{url}/")
    return page, errors


def test_dashboard_in_chromium(browser, tmp_path: Path, digits_supernet: Path, ray_address: str) -> None:
    with Store(f"sqlite:///{tmp_path / 'home' / 'nas.db'}") as store:  # keys only: no server token
        _, alice = add_user(store, "alice")
        _, bob = add_user(store, "bob")
        trained, trained_candidate = trained_job(store, digits_supernet, tmp_path, owner="alice")  # something to export
        store.claim_job("setup", trained.id)
        store.finish_job(trained.id, "succeeded", worker="setup")
    with nas_serve(tmp_path, token=None, ray_address=ray_address) as (url, _):
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {alice}"}, timeout=30)
        finished = api.post("/jobs", content=BENCH.replace("candidates: 50", "candidates: 24"), headers={"Content-Type": "application/yaml"}).json()
        poll(lambda: api.get(f"/jobs/{finished['id']}").json()["status"] == "succeeded", 240, "the first job to finish", every=0.5)
        long = BENCH.replace("candidates: 50", "candidates: 2000").replace("name: nas-bench-bert-boshnas", "name: long-search")
        running = api.post("/jobs", content=long, headers={"Content-Type": "application/yaml"}).json()

        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        elsewhere = served_locally(context, url)
        page, errors = log_in(context, url, alice)

        # The jobs list: both of alice's jobs, newest first, with their status and progress.
        page.wait_for_selector(f'#jobs tr[data-job="{running["id"]}"]')
        assert page.locator("#jobs tbody tr").evaluate_all("rows => rows.map(r => r.dataset.job)") == [str(running["id"]), str(finished["id"]), str(trained.id)]
        assert "24/24" in page.inner_text(f'#jobs tr[data-job="{finished["id"]}"]') and "alice" in page.inner_text("#who")
        shoot(page, "jobs-list")

        # A finished job: every done candidate is a point, the front is marked as the API computes it.
        page.goto(f"{url}/ui/jobs/{finished['id']}")
        page.wait_for_selector("#pareto .main-svg")
        front = api.get(f"/jobs/{finished['id']}/pareto", params={"objectives": "params,accuracy"}).json()
        traces = plotted(page)
        assert traces["Pareto front"] == len(front) and traces["candidates"] + traces["Pareto front"] == 24, traces
        marked = page.evaluate("() => document.getElementById('pareto').data[1].customdata.map(c => c[0])")
        assert sorted(marked) == sorted(r["candidate"] for r in front)
        assert page.locator("#candidates tbody tr").count() == 24 and page.inner_text("#job-status") == "succeeded"
        page.select_option("#pareto-x", "flops")  # other axes: the front is asked again
        flops_front = api.get(f"/jobs/{finished['id']}/pareto", params={"objectives": "flops,accuracy"}).json()
        poll(lambda: plotted(page)["Pareto front"] == len(flops_front), 60, "the front on flops")
        page.click('#candidates th[data-key="accuracy"]')
        page.click('#candidates th[data-key="accuracy"]')  # twice: best first
        best = max(api.get(f"/jobs/{finished['id']}/candidates").json(), key=lambda c: (c["metrics"]["accuracy"], -c["candidate"]))
        assert page.locator("#candidates tbody tr").first.get_attribute("data-candidate") == str(best["candidate"])
        # Written as the CLI writes it (nas/job/metrics.py): a benchmark job's accuracy is a GLUE score in points.
        glue = metric("accuracy", benchmark=True)
        assert glue.label in page.inner_text("#candidates thead") and glue.format(best["metrics"]["accuracy"]) in page.locator("#candidates tbody tr").first.inner_text()
        assert "★" in page.inner_text("#candidates tbody")  # the front's members, marked
        page.fill("#candidate-filter", "no such architecture")
        assert page.locator("#candidates tbody tr").count() == 0
        page.fill("#candidate-filter", best["arch_id"][:10])
        assert page.locator("#candidates tbody tr").count() == 1
        page.fill("#candidate-filter", "")
        page.select_option("#pareto-x", "params")
        poll(lambda: plotted(page)["Pareto front"] == len(front), 60, "the front on params again")
        shoot(page, "job-finished")

        # The analysis under it: the front's hypervolume after each candidate, what matters for the
        # primary objective, as the API computes them (a benchmark job trains no supernet).
        analysis = api.get(f"/jobs/{finished['id']}/analysis").json()
        page.wait_for_selector("#hypervolume .main-svg")
        page.wait_for_selector("#importance .main-svg")
        assert page.get_attribute("#hypervolume", "data-points") == str(len(analysis["hypervolume"])) == "24"
        assert page.get_attribute("#importance", "data-features") == str(len(analysis["importance"]["features"]))
        assert "GLUE score" in page.inner_text("#importance-note") and page.locator("#supernet-panel").is_hidden()
        page.locator("#hypervolume").scroll_into_view_if_needed()
        shoot(page, "job-analysis")

        # A candidate's page: its metrics, arch and graph, as the API has them.
        page.locator("#candidates tbody tr").first.click()
        page.wait_for_selector("#arch-graph")
        candidate_id = int(page.url.rsplit("/", 1)[1])
        detail = api.get(f"/jobs/{finished['id']}/candidates/{candidate_id}").json()
        assert page.locator("#arch-graph g.node").count() == len(detail["graph"]["nodes"])
        assert '"layers": [' in page.inner_text("#arch-json") and glue.format(detail["metrics"]["accuracy"]) in page.inner_text("#candidate-metrics")
        assert page.locator("#no-export").count() == 1 and page.locator("#export-button").count() == 0  # a table's results: nothing to export
        shoot(page, "candidate")

        # A trained job's candidate: exported on the server, downloaded by the browser, with its model card.
        page.goto(f"{url}/ui/jobs/{trained.id}/candidates/{trained_candidate.seq}")
        page.wait_for_selector("#export-button")
        page.select_option("#export-format", "torchscript")
        with page.expect_download(timeout=120_000) as download:
            page.click("#export-button")
        assert "test accuracy" in page.inner_text("#export-result")
        with tarfile.open(download.value.path()) as archive:
            names = {Path(name).name for name in archive.getnames()}
            card = next(archive.extractfile(m).read().decode() for m in archive.getmembers() if m.name.endswith("MODEL_CARD.md"))
        assert {"arch.json", "model.pt", "loader.py", "MODEL_CARD.md"} <= names and f"candidate {trained_candidate.seq}" in card
        shoot(page, "candidate-exported")

        # A job whose verified stage trained a plain-family member beside its candidate: the
        # reference drawn on the front (at its validation accuracy, as the verified diamonds) and the verdict said.
        with Store(f"sqlite:///{tmp_path / 'home' / 'nas.db'}") as store:
            compared = verdict_job(store, digits_supernet, tmp_path, owner="alice")
        page.goto(f"{url}/ui/jobs/{compared.id}")
        page.wait_for_selector("#pareto .main-svg")
        poll(lambda: plotted(page).get("plain family (trained alone)") == 1 and plotted(page).get("verified (trained alone)") == 1, 60, "the reference beside the verified candidate")
        verdict = api.get(f"/jobs/{compared.id}").json()["verdict"]
        assert page.inner_text("#verdict") == f"Verdict: {verdict['text']}" and verdict["beat"] is True and "1.60× faster" in verdict["text"]
        assert "squares: the plain family" in page.inner_text("#pareto-caption")
        assert "Rung 1 1 scored (fine-tuned 5 steps) · best 92.00%" in page.inner_text("#job-progress")
        (verify,) = api.get(f"/jobs/{compared.id}").json()["compute"]["stages"]  # its trainings' CPU time
        assert f"verify {verify['cpu_minutes']:.1f} CPU-minutes" in page.inner_text("#timing")
        shoot(page, "job-verdict")

        # The jobs list: a stage column; two jobs with the same metrics compared on one plot, one
        # whose accuracy is another kind of number (a fraction, not GLUE points) left out, said so.
        page.goto(f"{url}/")
        page.wait_for_selector(f'#jobs tr[data-job="{running["id"]}"] td.stage')
        assert "Stage" in page.inner_text("#jobs thead") and page.inner_text(f'#jobs tr[data-job="{running["id"]}"] td.stage').startswith(("search", "starting"))
        for job_id in (finished["id"], running["id"], trained.id):  # a job is picked once it has a done candidate
            page.wait_for_selector(f'#jobs input.pick[value="{job_id}"]', timeout=60_000)
            page.check(f'#jobs input.pick[value="{job_id}"]')
        page.click("#compare")
        page.wait_for_selector("#compare-plot .main-svg")
        assert page.get_attribute("#compare-plot", "data-jobs") == "2" and f"#{trained.id}" in page.inner_text("#compare-note")
        assert page.locator("#compare-table tbody tr").count() == 2
        shoot(page, "jobs-compared")

        # A running job: the counter advances with no reload, then the cancel button stops it. The
        # long job above may have gone through the table's 441 architectures by now (on an idle
        # machine it does): a fresh one, once the coordinator has stopped the first.
        if api.get(f"/jobs/{running['id']}").json()["status"] in ("queued", "running"):
            api.post(f"/jobs/{running['id']}/cancel")
        poll(lambda: api.get(f"/jobs/{running['id']}").json()["status"] in ("cancelled", "succeeded"), 120, "the long job to stop", every=0.5)
        running = api.post("/jobs", content=long, headers={"Content-Type": "application/yaml"}).json()
        page.goto(f"{url}/ui/jobs/{running['id']}")
        page.wait_for_function("() => document.getElementById('job-status')?.textContent === 'running'", timeout=120_000)
        page.evaluate("() => { window.notReloaded = true; }")
        first = int(page.inner_text("#done-count"))
        poll(lambda: int(page.inner_text("#done-count")) > first + 2, 120, "the live counter to advance", every=0.5)
        assert page.evaluate("() => window.notReloaded === true")
        page.wait_for_selector("#pareto .main-svg")  # drawn once the first results are in
        assert "Pareto front" in plotted(page) and "ends in" in page.inner_text("#timing")
        assert page.locator("#events li").count() >= 2
        shoot(page, "job-running")
        page.click("#cancel")
        page.wait_for_function("() => document.getElementById('job-status').textContent === 'cancelled'", timeout=120_000)
        assert api.get(f"/jobs/{running['id']}").json()["status"] == "cancelled"
        assert page.locator("#cancel").count() == 0
        shoot(page, "job-cancelled")

        # The API's own pages render with no network beyond the server.
        page.goto(f"{url}/docs")
        page.wait_for_selector(".opblock-summary-path")
        assert page.locator(".opblock").count() >= 15
        page.goto(f"{url}/redoc")
        page.wait_for_selector("h1:has-text('transformer-nas')")
        shoot(page, "redoc")
        assert errors == [] and elsewhere == [], (errors, elsewhere)

        # Another user sees none of it: an empty list, and alice's job page reads as not found.
        other, other_errors = log_in(browser.new_context(), url, bob)
        other.wait_for_selector("#jobs-note:has-text('No jobs yet')")
        other.goto(f"{url}/ui/jobs/{finished['id']}")
        other.wait_for_selector("#job-progress .error")
        assert f"job {finished['id']} not found" in other.inner_text("#job-progress")

        # The report: the same page from one file, opened with no network at all.
        report = tmp_path / "report.html"
        env = {**os.environ, "NAS_HOME": str(tmp_path / "home")}
        env.pop("NAS_DB_URL", None)
        made = subprocess.run([sys.executable, "-m", "nas.cli", "report", str(finished["id"]), "--out", str(report)], env=env, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
    offline = browser.new_context(offline=True, viewport={"width": 1400, "height": 1000})
    page = offline.new_page()
    page.goto(report.as_uri())
    page.wait_for_selector("#pareto .main-svg")
    traces = plotted(page)
    assert traces["Pareto front"] == len(front) and traces["candidates"] + traces["Pareto front"] == 24
    assert plotted(page, "best-curve")["best so far"] == 24
    shoot(page, "report")
