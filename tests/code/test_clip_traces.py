"""A clip's MLflow trace, in a local SQLite store: the record's document as outputs, one span per stage at the
times it ran, the tags a reviewer searches by; a failed clip's trace says why; tracing that cannot reach its
server is a warning, never an error."""

import warnings

import mlflow
import pytest
from mlflow import MlflowClient

from clmer.serving import clip_traces
from clmer.serving.clip_result import ClipResult, Prediction, document
from tests.conftest import with_local_mlflow

T0 = 1_700_000_000_000_000_000


def _record(status="ok") -> ClipResult:
    rec = ClipResult(file="day1/a.mp4", video_id="day1__a", drop="/drops/Test_Data", model_version="local",
                     scored_at="2026-12-04T03:00:00Z", status=status, language="en", transcript="i am thrilled")
    rec.stages = [("decode", T0, T0 + 10), ("asr", T0 + 10, T0 + 30), ("features", T0 + 30, T0 + 60),
                  ("fusion", T0 + 60, T0 + 70), ("explanation", T0 + 70, T0 + 90), ("reasoning", T0 + 90, T0 + 99)]
    if status == "failed":
        rec.stages, rec.error = rec.stages[:1], "day1/a.mp4: no usable text, audio or video"
        return rec
    rec.prediction = Prediction("positive", 0.9, {"negative": 0.05, "neutral": 0.05, "positive": 0.9}, 0.7,
                                {"text": 0.5, "audio": 0.3, "vision": 0.2})
    rec.explanation = {"prediction": {"polarity": "positive", "confidence": 0.9},
                       "modality_shares": {"text": 0.6, "audio": 0.3, "vision": 0.1},
                       "top_words": [{"word": "thrilled", "score": 0.31}], "reasoning": {"source": "template"}}
    return rec


@pytest.fixture
def traced(tiny_settings, tmp_path):
    s = with_local_mlflow(tiny_settings, tmp_path / "mlflow")
    s.mlflow.traces = "on"
    return s


def test_one_trace_per_clip_with_its_document_as_outputs_and_a_span_per_stage(traced):
    tracer = clip_traces.ClipTracer(traced, "/models/local", "local")
    rec = _record()
    trace_id = tracer.log(rec)
    tracer.flush()
    trace = MlflowClient().get_trace(trace_id)
    assert trace.info.tags[clip_traces.TAG_FILE] == "day1/a.mp4"
    assert trace.info.tags[clip_traces.TAG_DROP] == "/drops/Test_Data"
    assert trace.info.tags[clip_traces.TAG_VERSION] == "local" and trace.info.state.value == "OK"
    root = next(s for s in trace.data.spans if s.parent_id is None)
    assert root.outputs == document(rec) and root.inputs["transcript"] == "i am thrilled"
    spans = {s.name: s for s in trace.data.spans if s.parent_id is not None}
    assert list(spans) == ["decode", "asr", "features", "fusion", "explanation", "reasoning"]
    assert (spans["asr"].start_time_ns, spans["asr"].end_time_ns) == (T0 + 10, T0 + 30)
    assert (root.start_time_ns, root.end_time_ns) == (T0, T0 + 99)
    assert spans["fusion"].attributes["polarity"] == "positive" and spans["explanation"].attributes["share_text"] == 0.6
    assert clip_traces.find_trace(traced, "/drops/Test_Data", "day1/a.mp4") == trace_id
    assert clip_traces.find_trace(traced, "/drops/other", "day1/a.mp4") is None


def test_a_failed_clip_has_a_trace_that_says_why(traced):
    tracer = clip_traces.ClipTracer(traced, "/models/local", "local")
    trace_id = tracer.log(_record("failed"))
    tracer.flush()
    trace = MlflowClient().get_trace(trace_id)
    root = next(s for s in trace.data.spans if s.parent_id is None)
    assert trace.info.state.value == "ERROR" and "no usable" in root.outputs["error"]
    assert root.outputs["prediction"] is None and [s.name for s in trace.data.spans if s.parent_id] == ["decode"]


@pytest.mark.parametrize("mode,uri,expected", [("auto", "models:/clmer@champion", True), ("auto", "/models/x", False),
                                               ("on", "/models/x", True), ("off", "models:/clmer/3", False)])
def test_tracing_follows_the_setting(tiny_settings, mode, uri, expected):
    tiny_settings.mlflow.traces = mode
    assert clip_traces.wanted(tiny_settings, uri) is expected


def test_a_server_that_cannot_be_reached_is_a_warning_not_an_error(tiny_settings, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    tiny_settings.mlflow.traces = "on"
    tiny_settings.mlflow.tracking_uri = "http://127.0.0.1:9"  # nothing listens on the discard port

    class Scorer:
        settings, model_uri, model_version = tiny_settings, "/models/x", "local"

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert clip_traces.ClipTracer.for_scorer(Scorer()) is None
    assert any("clip traces: cannot reach MLflow" in str(w.message) for w in caught)
    mlflow.set_tracking_uri(None)
