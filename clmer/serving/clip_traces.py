"""Each scored clip as an MLflow trace, where a reviewer reads its explanation and rates it.

One trace per clip, in the drops' experiment (`drift.experiment`, beside the drops' runs): its inputs say which
file of which drop, its outputs are the clip's JSON document (`clip_result.document`: the record every other
output is rendered from) or, for a clip without an explanation, its status and error. One span per stage the clip
went through, at the times it ran: decode, asr, features, fusion, explanation, reasoning (a drop's reasoning texts
are written in one batch, so each clip's reasoning span is that batch's time). The trace names its registered
model (tags `clmer.model_name` / `clmer.model_version`, and the logged model as MLflow 3's `mlflow.modelId`, so
the model's page lists it) and is linked to the drop's run when the drift report makes one.

Ratings (`clmer.serving.ratings`) are feedback named `explanation_rating` on these traces. Tracing is for people:
any error here is a warning, and the drop is scored and published whatever MLflow says.
"""

from __future__ import annotations

import logging
import warnings

from clmer.config import Settings
from clmer.serving.clip_result import ClipResult, document

TAG_DROP, TAG_FILE, TAG_STATUS = "clmer.drop", "clmer.file", "clmer.status"
TAG_NAME, TAG_VERSION = "clmer.model_name", "clmer.model_version"  # as on the drops' runs (drift_tracking)
MLFLOW_SCHEMES = ("models:/", "runs:/")
_SPAN_TYPES = {"features": "EMBEDDING", "reasoning": "LLM", "decode": "PARSER"}
log = logging.getLogger(__name__)


def wanted(settings: Settings, model_uri: str) -> bool:
    """mlflow.traces: 'auto' traces a model that came from MLflow (so MLflow is in use); 'on' any model."""
    mode = settings.mlflow.traces
    return mode == "on" or (mode == "auto" and str(model_uri).startswith(MLFLOW_SCHEMES))


def warn(what: str, exc: Exception) -> None:
    warnings.warn(f"clip traces: {what} ({exc.__class__.__name__}: {exc}); the drop is scored without them",
                  RuntimeWarning, stacklevel=3)


class ClipTracer:
    """Writes the traces of one scorer's clips; `for_scorer` gives None when tracing is off or cannot start."""

    def __init__(self, settings: Settings, model_uri: str, model_version: str):
        from clmer.serving import drift_tracking

        self.experiment_id = drift_tracking.experiment_id(settings)  # configures MLflow too
        name = drift_tracking.model_name(model_uri)
        self.tags = {TAG_VERSION: str(model_version), "clmer.model_uri": str(model_uri), TAG_NAME: name or ""}
        self.metadata = {}
        model_id = _logged_model_id(name, str(model_version)) if name else None
        if model_id:
            self.metadata["mlflow.modelId"] = model_id
        self.failed = False

    @classmethod
    def for_scorer(cls, scorer) -> "ClipTracer | None":
        settings, uri = getattr(scorer, "settings", None), getattr(scorer, "model_uri", None)
        if settings is None or uri is None or not wanted(settings, uri):
            return None  # tracing off, or a scorer that names no model (nothing to link a trace to)
        try:
            return cls(settings, uri, getattr(scorer, "model_version", "local"))
        except Exception as exc:  # noqa: BLE001 - an unreachable server must not fail the drop
            warn("cannot reach MLflow", exc)
            return None

    def log(self, rec: ClipResult) -> str | None:
        """The clip's trace; returns its id (None when it could not be written: a warning, once a chunk)."""
        if self.failed:
            return None
        try:
            return self._log(rec)
        except Exception as exc:  # noqa: BLE001
            self.failed = True  # one warning, not one per clip against a server that is down
            warn(f"{rec.file}: trace not written", exc)
            return None

    def _log(self, rec: ClipResult) -> str:
        import time

        import mlflow

        stages = sorted(rec.stages, key=lambda s: s[1])
        start = stages[0][1] if stages else time.time_ns()
        end = max((s[2] for s in stages), default=start)
        tags = self.tags | {TAG_DROP: rec.drop or "", TAG_FILE: rec.file, TAG_STATUS: rec.status}
        root = mlflow.start_span_no_context(
            f"score {rec.video_id}", span_type="CHAIN", inputs=trace_inputs(rec), tags=tags,
            metadata=self.metadata, experiment_id=self.experiment_id, start_time_ns=start)
        for name, t0, t1 in stages:
            span = mlflow.start_span_no_context(name, span_type=_SPAN_TYPES.get(name, "UNKNOWN"), parent_span=root,
                                                attributes=stage_attributes(rec, name), start_time_ns=t0)
            span.end(end_time_ns=max(t1, t0))
        root.end(outputs=trace_outputs(rec), status="ERROR" if rec.status == "failed" else "OK", end_time_ns=end)
        return root.trace_id

    def flush(self) -> None:
        """Traces are exported in the background; a chunk's are out before its task ends."""
        try:
            import mlflow

            mlflow.flush_trace_async_logging()
        except Exception as exc:  # noqa: BLE001
            warn("traces not flushed", exc)


def _logged_model_id(name: str, version: str) -> str | None:
    """The logged model (MLflow 3) behind a registered version, or None (a version number we cannot resolve)."""
    if not version.isdigit():
        return None
    from mlflow import MlflowClient

    mv = MlflowClient().get_model_version(name, version)
    if getattr(mv, "model_id", None):
        return mv.model_id
    # a version registered from a logged model's URI keeps it as its source (the store leaves model_id empty)
    source = str(mv.source or "")
    return source.removeprefix("models:/") if source.startswith("models:/m-") else None


def trace_inputs(rec: ClipResult) -> dict:
    return {"file": rec.file, "drop": rec.drop, "sha256": rec.provenance.sha256, "language": rec.language,
            "transcript": rec.transcript, "duration_s": rec.provenance.duration_s}


def trace_outputs(rec: ClipResult) -> dict:
    """The clip's JSON document (what its report shows), or why it has none."""
    if rec.explanation is not None:
        return document(rec)
    p = rec.prediction
    return {"file": rec.file, "status": rec.status, "error": rec.error, "scored_at": rec.scored_at,
            "prediction": None if p is None else {"polarity": p.polarity, "confidence": p.confidence,
                                                  "probabilities": p.probabilities, "weights": p.weights}}


def stage_attributes(rec: ClipResult, stage: str) -> dict:
    """What a reader of one span wants to know about that stage of this clip."""
    p = rec.prediction
    if stage == "asr":
        return {"language": rec.language, "transcript_source": rec.provenance.transcript_source,
                "cached": "asr" not in rec.provenance.computed}
    if stage == "features":
        return {"computed": ",".join(rec.provenance.computed) or "none (feature store)"}
    if stage == "fusion" and p is not None:
        return {"polarity": p.polarity, "confidence": p.confidence} | {f"weight_{m}": w for m, w in p.weights.items()}
    if stage == "explanation" and rec.shares:
        return {f"share_{m}": v for m, v in rec.shares.items() if isinstance(v, (int, float))}
    if stage == "reasoning" and rec.reasoning:
        return {"source": str(rec.reasoning.get("source"))}
    return {}


def link_to_run(trace_ids: list[str], run_id: str) -> None:
    """The drop's traces on its run's page (MLflow links at most 100 per call)."""
    from mlflow import MlflowClient

    client = MlflowClient()
    for i in range(0, len(trace_ids), 100):
        client.link_traces_to_run(trace_ids[i: i + 100], run_id)


def find_trace(settings: Settings, drop: str | None, file: str) -> str | None:
    """The newest trace of `file` in `drop`, or None."""
    from mlflow import MlflowClient

    from clmer.serving import drift_tracking

    exp = drift_tracking.experiment_id(settings)
    quoted = "'" not in file and "\\" not in file  # a name MLflow's filter syntax cannot hold is matched here
    query = f"tags.`{TAG_FILE}` = '{file}'" if quoted else None
    traces = MlflowClient().search_traces(locations=[exp], filter_string=query, include_spans=False,
                                          order_by=["timestamp_ms DESC"], max_results=100 if quoted else 1000)
    for t in traces:
        if t.info.tags.get(TAG_FILE) == file and t.info.tags.get(TAG_DROP, "") == (drop or ""):
            return t.info.trace_id
    return None
