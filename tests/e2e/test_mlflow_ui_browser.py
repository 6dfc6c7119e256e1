"""The nightly flow's MLflow run as a reviewer meets it, through a real Prefect flow run, a real MLflow
server and headless Chromium: named `nightly-<date>`, tagged with the git commit and the Prefect flow
run, lasting as long as its training, a model-version description with the gate's numbers, no second
version for the same data, code and config, and an experiment page that opens on the runs table.

The nightly's heavy stages (validate, extract, train, evaluate) are replaced by the session's trained
demo model, so what runs for real is the flow's own logic and the register stage.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from clmer.ops.prefect_api import PrefectAPI
from tests.conftest import ROOT, free_port, running_server, with_local_mlflow
from tests.e2e.browser import DevToolsPage, console_messages, dump_dom, keep_screenshot, require_chromium, screenshot

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.browser]

NIGHTLY = """
import json, sys
import flows.nightly as n

args = json.loads(sys.argv[1])
stub = lambda value: (lambda *a, **k: value)
n.validate_flow = stub(None)
n.train_flow = stub(args["model_dir"])
n.evaluate_flow = stub(args["evaluation"])
n.extract_flow = type("Extract", (), {"with_options": lambda self, **k: stub(args["features"])})()
runs = [n.nightly_retrain(args["corpus"], overrides=args["overrides"], cross_lingual=False) for _ in range(2)]
print(json.dumps([r["registration"] for r in runs], default=str))
"""


@pytest.fixture(scope="module")
def mlflow_ui(trained_demo, tmp_path_factory):
    """`mlflow server` on a SQLite store of its own, as `clmer serve` runs it; yields (url, work folder)."""
    work, port = tmp_path_factory.mktemp("nightly_ui"), free_port()
    store = with_local_mlflow(trained_demo["settings"], work).mlflow
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", store.tracking_uri,
           "--artifacts-destination", store.artifact_location, "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    with running_server("mlflow", cmd, dict(os.environ) | {"MLFLOW_ENABLE_TELEMETRY": "false"}, work / "logs", port,
                        f"{url}/health"):
        yield url, work


@pytest.fixture(scope="module")
def nightly(trained_demo, mlflow_ui, prefect_api):
    """The nightly flow, twice, on a real Prefect server (with its UI) and tracking to the MLflow server."""
    from clmer import pipeline

    url, work = mlflow_ui
    s = with_local_mlflow(trained_demo["settings"], work)
    s.mlflow.tracking_uri = url
    s.reasoning.enabled = "off"
    evaluation = pipeline.evaluate(trained_demo["model_dir"], trained_demo["corpus"], trained_demo["features"], s,
                                   work / "eval")
    args = {"corpus": str(trained_demo["corpus"]), "features": str(trained_demo["features"]),
            "model_dir": str(trained_demo["model_dir"]), "evaluation": str(evaluation),
            "overrides": json.loads(s.model_dump_json())}
    env = dict(os.environ) | {"PREFECT_API_URL": prefect_api["url"], "PREFECT_HOME": prefect_api["home"],
                              "PYTHONPATH": str(ROOT), "MLFLOW_ENABLE_TELEMETRY": "false"}
    env.pop("PREFECT_UI_URL", None)  # Prefect derives it from the API URL, as in a served stack
    proc = subprocess.run([sys.executable, "-c", NIGHTLY, json.dumps(args)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-4000:]
    first, second = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"settings": s, "first": first, "second": second, "work": work, "trained": trained_demo,
            "mlflow": url, "prefect": prefect_api}


def test_nightly_run_is_named_tagged_and_covers_training(nightly):
    s, first = nightly["settings"], nightly["first"]
    client = MlflowClient(s.mlflow.tracking_uri)
    run = client.get_run(first["run_id"])
    assert run.info.run_name == f"nightly-{time.strftime('%Y-%m-%d', time.gmtime())}"
    tags = run.data.tags
    assert re.fullmatch(r"[0-9a-f-]{36}", tags["prefect.flow_run.id"])
    assert tags["prefect.flow_run.url"] == f"{nightly['prefect']['ui']}/flow-runs/flow-run/{tags['prefect.flow_run.id']}"
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert tags["mlflow.source.git.commit"] == head and tags["git.dirty"] in ("true", "false")
    assert tags["kind"] == "nightly"
    trained = json.loads((Path(nightly["trained"]["model_dir"]) / "model.json").read_text())["train"]
    assert run.info.start_time == int(trained["started_at"] * 1000)
    version = client.get_model_version(s.mlflow.model_name, first["version"])
    assert version.description.startswith(f"**{first['decision']}**") and "| this version (challenger) |" in version.description


def test_unchanged_nightly_registers_nothing(nightly):
    s, first, second = nightly["settings"], nightly["first"], nightly["second"]
    assert second["unchanged"] and second["version"] == first["version"]
    client = MlflowClient(s.mlflow.tracking_uri)
    assert len(client.search_model_versions(f"name='{s.mlflow.model_name}'")) == 1
    assert len(client.search_runs([first["experiment_id"]])) == 1


def test_experiment_page_opens_on_the_runs_table(nightly, tmp_path):
    from clmer.serving.tracking import experiment_url, model_version_url

    chromium = require_chromium()
    first, mlflow_ui = nightly["first"], nightly["mlflow"]
    page = experiment_url(mlflow_ui, first["experiment_id"])
    run = dump_dom(chromium, page, budget_ms=20000, timeout=120)
    assert run.returncode == 0
    assert f"nightly-{time.strftime('%Y-%m-%d', time.gmtime())}" in run.stdout  # the runs table, with our run
    assert "Detect Issues" not in run.stdout  # not the GenAI overview
    png = tmp_path / "mlflow_experiment.png"
    shot = screenshot(chromium, page, png, (1400, 900), budget_ms=20000, timeout=120)
    assert shot.returncode == 0 and png.stat().st_size > 20_000
    keep_screenshot(png)

    version_page = model_version_url(mlflow_ui, nightly["settings"].mlflow.model_name, first["version"])
    run = dump_dom(chromium, version_page, budget_ms=20000, timeout=120)
    assert "Champion gate" in run.stdout, console_messages(run.stderr)[-5:]  # the description with the numbers
    png = tmp_path / "mlflow_model_version.png"
    screenshot(chromium, version_page, png, (1400, 1000), budget_ms=20000, timeout=120)
    keep_screenshot(png)


def test_prefect_run_shows_the_gate_and_links_back_to_mlflow(nightly, tmp_path):
    """The reviewer's loop: the MLflow run's Prefect link opens the flow run, whose gate artifact shows
    the decision with both models' numbers and links to the MLflow run and model version."""
    from clmer.serving.tracking import model_version_url

    chromium = require_chromium()
    first = nightly["first"]
    tags = MlflowClient(nightly["mlflow"]).get_run(first["run_id"]).data.tags
    run_id = tags["prefect.flow_run.id"]
    with DevToolsPage(chromium, (1400, 1100)) as page:
        page.goto(tags["prefect.flow_run.url"])  # Prefect's own link form; the UI redirects it
        page.wait_for("!!document.getElementById('artifacts')", what="the nightly flow run page")
        assert page.evaluate("location.pathname") == f"/runs/flow-run/{run_id}"
        page.evaluate("document.getElementById('artifacts').click()")
        page.wait_for("document.body.innerText.includes('nightly-gate')", what="the gate artifact card")

        api = PrefectAPI(nightly["prefect"]["url"], auth_string="")
        gate = api.call("/artifacts/filter", {"artifacts": {"key": {"any_": ["nightly-gate"]},
                                                            "flow_run_id": {"any_": [run_id]}}})[0]
        page.goto(f"{nightly['prefect']['ui']}/artifacts/artifact/{gate['id']}")
        page.wait_for("document.body.innerText.includes('Nightly retrain')", what="the rendered gate artifact")
        assert page.evaluate("document.querySelector('h1').innerText") == f"Nightly retrain: {first['decision']}"
        rows = page.evaluate("[...document.querySelectorAll('tr')].map(r => r.innerText.replace(/\\s+/g, ' ').trim())")
        assert any(r.startswith(f"challenger v{first['version']} ") for r in rows), rows
        assert any(r.startswith("champion ") for r in rows), rows
        links = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => a.href)")
        version_url = model_version_url(nightly["mlflow"], nightly["settings"].mlflow.model_name, first["version"])
        assert version_url in links and any(first["run_id"] in link for link in links), links
        png = tmp_path / "prefect_nightly_gate.png"
        page.screenshot(png)
        keep_screenshot(png)

        page.goto(version_url)  # the link lands on the version, with the gate's numbers in its description
        page.wait_for("document.body.innerText.includes('Champion gate')", what="the MLflow model version page")
        assert page.exceptions == []
