"""Explanations reviewed in MLflow, on a real MLflow server: a registered version scores a small drop and leaves
one trace per clip (the clip's JSON document as outputs, a span per stage, linked to the logged model and to the
drop's run); `clmer review` rates two clips on their traces and in the results folder; the ratings read back from
MLflow, the version's tags carry their mean and count, and with mlflow.gate_min_rating on the champion gate keeps
the champion while the challenger is rated below it, and promotes it once ratings given as in the UI lift it."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import AssessmentSource
from typer.testing import CliRunner

from clmer.names import REPORTS_DIR, SUPPLEMENTS_DIR
from clmer.serving import ratings
from clmer.serving.clip_traces import TAG_FILE, TAG_VERSION
from tests.conftest import free_port, running_server, with_local_mlflow

pytestmark = [pytest.mark.slow, pytest.mark.e2e]
STAGES = {"decode", "asr", "features", "fusion", "explanation", "reasoning"}


@pytest.fixture(scope="module")
def scored(trained_demo, tmp_path_factory):
    """v1 registered (champion) with a drift reference; the same logged model registered again as v2; a drop of
    three test clips scored by models:/clmer/2."""
    from clmer import pipeline
    from clmer.serving.drop_scoring import score_drop
    from clmer.serving.signing import sign_version

    work, port = tmp_path_factory.mktemp("review"), free_port()
    s = with_local_mlflow(trained_demo["settings"], work)
    cmd = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", s.mlflow.tracking_uri,
           "--artifacts-destination", s.mlflow.artifact_location, "--host", "127.0.0.1", "--port", str(port),
           "--workers", "1"]
    url = f"http://127.0.0.1:{port}"
    with running_server("mlflow", cmd, dict(os.environ) | {"MLFLOW_ENABLE_TELEMETRY": "false"}, work / "logs", port,
                        f"{url}/health"):
        s.mlflow.tracking_uri = url
        s.reasoning.enabled = "off"
        s.drift.reference_max_clips = 12
        train_dir = work / "train"
        shutil.copytree(Path(trained_demo["model_dir"]).parent, train_dir)
        evaluation = pipeline.evaluate(train_dir / "model", trained_demo["corpus"], trained_demo["features"], s,
                                       work / "eval")
        first = pipeline.register(train_dir, evaluation, trained_demo["corpus"], s)
        second = str(mlflow.register_model(first["model_uri"], s.mlflow.model_name).version)
        # registered by hand, so signed by hand as registry.register_and_gate does: unsigned versions do not load
        sign_version(s.mlflow.model_name, second, s, work / "signing")
        labels = pd.read_csv(trained_demo["corpus"] / "label.csv", dtype={"clip_id": str})
        drop = work / "Test_Data"
        drop.mkdir()
        for i, r in enumerate(labels[labels["mode"] == "test"].head(3).itertuples()):
            shutil.copy(trained_demo["corpus"] / "Raw" / r.video_id / f"{r.clip_id}.mp4", drop / f"clip_{i}.mp4")
        # the pyfunc builds its scorer from the environment's settings: this session's tiny model store
        env = {"CLMER_HOME": str(s.paths.home), "CLMER_MODEL_STORE": str(s.paths.model_store),
               "CLMER_FEATURE_STORE": str(s.paths.feature_store)}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            scorer = pipeline.load_scorer(f"models:/{s.mlflow.model_name}/{second}", s)
        finally:
            for k, v in saved.items():
                os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
        out = work / "out"
        summary = score_drop(str(drop), scorer, out, scorer.settings, chunk_size=8)
        yield {"settings": s, "url": url, "first": first, "second": second, "out": out, "summary": summary,
               "corpus": trained_demo["corpus"], "model_dir": train_dir / "model"}


def _traces(scored) -> list:
    client = MlflowClient(scored["url"])
    exp = client.get_experiment_by_name(scored["settings"].drift.experiment)
    return client.search_traces(locations=[exp.experiment_id], filter_string=f"tags.`{TAG_VERSION}` = "
                                f"'{scored['second']}'")


def test_each_scored_clip_has_one_trace_with_its_document_and_a_span_per_stage(scored):
    traces = _traces(scored)
    assert sorted(t.info.tags[TAG_FILE] for t in traces) == ["clip_0.mp4", "clip_1.mp4", "clip_2.mp4"]
    for trace in traces:
        root = next(s for s in trace.data.spans if s.parent_id is None)
        stem = Path(trace.info.tags[TAG_FILE]).stem
        on_disk = json.loads((scored["out"] / REPORTS_DIR / f"{stem}.json").read_text())
        for kf in on_disk.get("key_frames") or []:  # the report's own thumbnail files, not part of the record
            kf.pop("thumbnail", None)
        assert root.outputs == on_disk  # what the report shows is what the UI shows
        assert STAGES <= {s.name for s in trace.data.spans if s.parent_id is not None}
        assert all(s.start_time_ns >= root.start_time_ns and s.end_time_ns <= root.end_time_ns
                   for s in trace.data.spans)


def test_the_traces_are_linked_to_the_logged_model_and_the_drops_run(scored):
    client = MlflowClient(scored["url"])
    source = client.get_model_version(scored["settings"].mlflow.model_name, scored["second"]).source
    model_id = source.removeprefix("models:/")
    assert source.startswith("models:/m-")  # the version is the logged model the training run logged
    assert {t.info.trace_metadata["mlflow.modelId"] for t in _traces(scored)} == {model_id}
    exp = client.get_experiment_by_name(scored["settings"].drift.experiment).experiment_id
    assert len(client.search_traces(locations=[exp], model_id=model_id)) == 3  # the logged model's Traces tab
    report = json.loads((scored["out"] / SUPPLEMENTS_DIR / "drift_report.json").read_text())
    linked = client.search_traces(locations=[exp], run_id=report["mlflow_run_id"])
    assert len(linked) == 3


def test_ratings_from_clmer_review_and_the_ui_reach_the_version_and_the_gate(scored, monkeypatch):
    from clmer.cli import app
    from clmer.serving.registry import _against_champion

    s, client, name, version = scored["settings"], MlflowClient(scored["url"]), scored["settings"].mlflow.model_name, \
        scored["second"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", scored["url"])
    runner = CliRunner()
    for clip, value, note in (("clip_0.mp4", 2, "the key words are stop words"), ("clip_1.mp4", 3, None)):
        args = ["review", str(scored["out"]), "--clip", clip, "--rating", str(value), "--reviewer", "ann"]
        result = runner.invoke(app, args + (["--comment", note] if note else []))
        assert result.exit_code == 0, result.output
        assert f"rated {clip} {value}/5 by ann: saved on trace" in result.output
    assert "model v2: mean rating 2.50 over 2" in result.output
    by_file = {t.info.tags[TAG_FILE]: t for t in _traces(scored)}
    first = client.get_trace(by_file["clip_0.mp4"].info.trace_id).info.assessments
    rated = [a for a in first if a.name == ratings.RATING]
    assert [(a.value, a.rationale, a.source.source_id, a.source.source_type) for a in rated] == \
        [(2, "the key words are stop words", "ann", "HUMAN")]
    local = ratings.load_local(scored["out"])
    assert [(r["file"], r["rating"]) for r in local] == [("clip_0.mp4", 2), ("clip_1.mp4", 3)]
    assert all(r["trace_id"] == by_file[r["file"]].info.trace_id for r in local)
    tags = client.get_model_version(name, version).tags
    assert (tags[ratings.MEAN_TAG], tags[ratings.COUNT_TAG]) == ("2.50", "2")

    better = {"war": 1.0, "uar": 1.0, "n": 1}  # the challenger beats the champion on the metrics: ratings decide
    gate = s.model_copy(deep=True)
    gate.mlflow.gate_min_rating, gate.mlflow.gate_min_ratings = 3.5, 2
    decision, _ = _against_champion(name, scored["first"]["version"], better, scored["corpus"], gate, "valid",
                                    {"challenger.version": version})
    assert decision.startswith("kept champion v1: challenger beats it on WAR and UAR, but its explanations are "
                               "rated 2.50 on average over 2, below the 3.5")
    mlflow.set_tracking_uri(scored["url"])
    for clip in ("clip_0.mp4", "clip_2.mp4"):  # a second reviewer rates in the UI (the same REST call)
        mlflow.log_feedback(trace_id=by_file[clip].info.trace_id, name=ratings.RATING, value=5,
                            source=AssessmentSource(source_type="HUMAN", source_id="bob"))
    decision, _ = _against_champion(name, scored["first"]["version"], better, scored["corpus"], gate, "valid",
                                    {"challenger.version": version})
    assert decision == "promoted: beats champion v1"
    assert client.get_model_version(name, version).tags[ratings.MEAN_TAG] == "3.75"  # (2 + 3 + 5 + 5) / 4
    again = runner.invoke(app, ["gate", scored["first"]["version"], "--corpus", str(scored["corpus"])])
    assert again.exit_code != 0 and "is the champion already" in str(again.exception)  # only a challenger is gated again
