"""A drop run as an operator meets it in the Prefect UI: a real Prefect server, the real score-drop
flow on real clips plus one broken file, and headless Chromium driven over the DevTools protocol.

The run shows the state "Partial", its Artifacts tab lists the summary and the results table, and
both artifact pages render what the operator needs: counts by status, the failed file with its
reason, and one row per file. Screenshots go to $CLMER_SCREENSHOT_DIR when set.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT, flow_env
from tests.e2e.browser import DevToolsPage, keep_screenshot, require_chromium

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.browser]


@pytest.fixture(scope="module")
def drop_run(trained_demo, prefect_api, tmp_path_factory):
    """One score-drop flow run on 3 clips and a broken file; returns its id and artifacts by key."""
    from clmer.ops.prefect_api import PrefectAPI

    work = tmp_path_factory.mktemp("prefect_ui")
    drop = work / "drop"
    drop.mkdir()
    clips = [drop / f"clip_{i}.mp4" for i in range(3)]  # corpus clips share names across video folders
    for source, clip in zip(sorted((trained_demo["corpus"] / "Raw").rglob("*.mp4")), clips):
        shutil.copy(source, clip)
    (drop / "broken.mp4").write_bytes(b"\x00" * 100)
    env = flow_env(trained_demo["settings"], prefect_api, work / "features")
    cmd = [sys.executable, "-m", "flows.score_drop", str(drop), "--model", str(trained_demo["model_dir"]),
           "--out", str(work / "out")]
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    api = PrefectAPI(prefect_api["url"], auth_string="")
    artifacts = {a["key"]: a for a in api.call("/artifacts/filter", {"artifacts": {"key": {"any_": [
        "score-drop-summary", "score-drop-results"]}}})}
    assert set(artifacts) == {"score-drop-summary", "score-drop-results"}
    run_id = artifacts["score-drop-summary"]["flow_run_id"]
    return {"id": run_id, "run": api.call(f"/flow_runs/{run_id}"), "artifacts": artifacts, "clips": clips,
            "ui": prefect_api["ui"]}


def test_flow_run_page_shows_partial_state_and_both_artifacts(drop_run, tmp_path):
    chromium = require_chromium()
    assert drop_run["run"]["state"]["name"] == "Partial"
    with DevToolsPage(chromium, (1400, 1100)) as page:
        page.goto(f"{drop_run['ui']}/runs/flow-run/{drop_run['id']}")
        page.wait_for("!!document.getElementById('artifacts')", what="the flow run's tabs")
        assert "Partial" in page.text()
        page.evaluate("document.getElementById('artifacts').click()")  # the UI resets ?tab= on load
        page.wait_for("document.body.innerText.includes('score-drop-results')", what="the Artifacts tab")
        text = page.text()
        assert "score-drop-summary" in text and "what this drop run did" in text
        png = tmp_path / "prefect_flow_run_artifacts.png"
        page.screenshot(png)
        assert png.stat().st_size > 20_000
        keep_screenshot(png)
        assert page.exceptions == []


def test_artifact_pages_show_counts_failures_and_rows(drop_run, tmp_path):
    chromium = require_chromium()
    summary, results = drop_run["artifacts"]["score-drop-summary"], drop_run["artifacts"]["score-drop-results"]
    with DevToolsPage(chromium, (1400, 1000)) as page:
        page.goto(f"{drop_run['ui']}/artifacts/artifact/{summary['id']}")
        page.wait_for("document.body.innerText.includes('Failed files')", what="the rendered summary")
        text = page.text()
        assert "broken.mp4" in text and "combined_results.csv" in text
        assert page.evaluate("document.querySelector('h1').innerText") == f"1 of {len(drop_run['clips']) + 1} file(s) failed"
        counts = {"ok": len(drop_run["clips"]), "failed": 1}
        for status, n in counts.items():  # the markdown table, rendered as a table
            assert page.evaluate(f"[...document.querySelectorAll('tr')].some(r => r.innerText.replace(/\\s+/g, ' ')"
                                 f".trim() == '{status} {n}')"), f"no row '{status} {n}' in:\n{text[:1500]}"
        png = tmp_path / "prefect_drop_summary.png"
        page.screenshot(png)
        keep_screenshot(png)

        page.goto(f"{drop_run['ui']}/artifacts/artifact/{results['id']}")
        page.wait_for("document.body.innerText.includes('broken.mp4')", what="the results table")
        rows = json.loads(results["data"])
        assert len(rows) == len(drop_run["clips"]) + 1
        text = page.text()
        for clip in drop_run["clips"]:
            assert clip.name in text
        png = tmp_path / "prefect_drop_results.png"
        page.screenshot(png)
        keep_screenshot(png)
        assert page.exceptions == []
