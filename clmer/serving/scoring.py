"""Scoring with a trained model: one pass per clip, ending in one `ClipResult` record.

    open -> check -> decode once (hashing the bytes it decodes; the frames kept for the report)
         -> features (the feature store first: only what it lacks is computed, from that decode)
         -> prediction -> explanation (+ reasoning text) -> ClipResult

The first stages are extraction's (`clmer.features.extract`), the rest are the `Scorer`'s, each a
method over one clip; nothing here renders an output: `clmer.serving.clip_result` turns the record
into every one of them. Used by the MLflow pyfunc, `clmer score`, `clmer explain` and the
score_drop flow.

The model folder's model.json records each encoder's name, revision and config hash, and the
media/model settings used in training. The scorer re-applies those settings and refuses to run
if the model store now holds a different revision: features from another encoder would be
silently wrong.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from clmer.config import Settings, load_settings
from clmer.data.labels import CLASSES
from clmer.explain.clip import ClipInfo, explain_clip, validate_explanation
from clmer.features.extract import ClipExtraction, ClipJob, extract_chunk, extract_passes
from clmer.features.feature_store import CorruptRecordError, FeatureStore
from clmer.model.dataset import ClipFeatures, load_clip
from clmer.monitor.profile import FILE_NAME as DRIFT_REFERENCE
from clmer.names import MODALITIES, utc_now
from clmer.serving.clip_result import PREDICTION_COLUMNS, ClipResult, Prediction, Provenance, document, prediction_row


class EncoderMismatchError(RuntimeError):
    pass


def settings_for_model(doc: dict, base: Settings | None = None) -> Settings:
    """`base` settings with the model's encoders and the media/model options it was trained with."""
    base = base or load_settings()
    data = base.model_dump(mode="json")
    for key, value in doc.get("settings", {}).items():
        section, _, name = key.partition(".")
        if section in ("models", "media") and name not in ("device", "profile"):
            data[section][name] = value
    for role, enc in doc.get("encoders", {}).items():
        data["models"][role] = enc["name"]
    return Settings.model_validate(data)


def check_encoders(doc: dict, settings: Settings) -> None:
    from clmer.features.encoders import identity

    for role, enc in doc.get("encoders", {}).items():
        now = identity(role, settings)
        if (now["revision"], now["config_hash"]) != (enc["revision"], enc["config_hash"]):
            raise EncoderMismatchError(
                f"the model was trained with {role} encoder {enc['name']} revision {enc['revision']} "
                f"(config {enc['config_hash']}), but this machine gives revision {now['revision']} "
                f"(config {now['config_hash']}); pull the same model or retrain")


@dataclass(frozen=True)
class ClipName:
    """Who a clip is in the outputs: its path in the drop (or the path given), its report name, its drop."""

    file: str
    video_id: str
    drop: str | None = None

    @classmethod
    def of(cls, job: ClipJob) -> "ClipName":
        clip = str(job.clip)
        return cls(job.label, Path(clip).stem if "/" not in clip else clip)


class Scorer:
    def __init__(self, model_dir: str | Path, settings: Settings | None = None, model_version: str = "local",
                 examples_dir: str | Path | None = None, explainer_dir: str | Path | None = None):
        from clmer.explain.reasoning import is_trained
        from clmer.model.train import load_model

        self.model_dir = Path(model_dir)
        self.model, self.doc = load_model(self.model_dir)
        self.settings = settings_for_model(self.doc, settings)
        check_encoders(self.doc, self.settings)
        self.model_version = model_version
        # where the model came from, for reports: set by pipeline.load_scorer for registry URIs
        self.model_uri, self.model_alias, self.mlflow_run_id = str(model_dir), None, None
        self.examples_dir = Path(examples_dir) if examples_dir else None
        self.store = FeatureStore(self.settings.paths.feature_store)
        beside = self.model_dir.parent / "explainer"  # a local train run keeps it next to the model
        self.explainer_dir = Path(explainer_dir) if explainer_dir else (beside if is_trained(beside) else None)
        self._explainer = None
        self._explainer_tried = False
        self.use_lm = True  # False: reasoning from the grounded template only
        self.monitored = (self.model_dir / DRIFT_REFERENCE).exists()  # the model carries a drift reference profile

    def resolve(self, path: str) -> str:
        """A relative path that does not exist here is looked up among the model's bundled examples."""
        p = Path(path)
        if not p.exists() and self.examples_dir is not None and (self.examples_dir / p.name).exists():
            return str(self.examples_dir / p.name)
        return path

    def score(self, jobs: list[ClipJob], names: list[ClipName] | None = None, explain: bool = True,
              reasoning: bool = True, frames: bool = True,
              progress: Callable[[str, str], None] | None = None) -> Iterator[ClipResult]:
        """Each clip through every stage; its record is yielded as soon as it is complete.

        `frames`: every clip is decoded (its hash riding on the decode) and the frames its report
        shows are kept on the record; without, a clip is hashed and decoded only for what the
        feature store lacks. `explain`: the explanation (and with `reasoning`, its text) too.
        `progress(file, what)` hears "extracted" and "explaining" for each file as it happens."""
        names = names or [ClipName.of(j) for j in jobs]
        tell = progress or (lambda file, what: None)
        file_of = {j.path: n.file for j, n in zip(jobs, names)}
        passes = extract_passes(jobs, self.settings, self.store, decode_first=frames,
                                progress=lambda res: tell(file_of[res.path], "extracted"))
        pending: list[ClipResult] = []  # explained, waiting for the LM to write their texts in one batch
        for p, name in zip(passes, names):
            rec = self.record(p.result, name, p.bytes_read)
            rec.stages = list(p.stages)
            self.segments_stage(rec, p.result)
            start = time.time_ns()
            clip = self.load_stage(rec, p.result)
            if clip is not None:
                self.predict_stage(rec, clip)
                rec.stages.append(("fusion", start, time.time_ns()))
            if self.monitored:
                self.drift_stage(rec, p.result)
            if explain and rec.prediction is not None:
                tell(name.file, "explaining")
                start = time.time_ns()
                try:
                    self.explain_stage(rec, clip, p.result.clip)
                    rec.frames = frames_at(rec.key_frames, p.frames, p.frame_times)
                except Exception as exc:  # the prediction stands; the explanation is what failed
                    rec.explanation, rec.status = None, "partial"
                    rec.error = f"{rec.file}: explanation failed ({exc.__class__.__name__}: {exc})"
                rec.stages.append(("explanation", start, time.time_ns()))
            p.frames = []
            pending.append(rec)
            if not reasoning or len(pending) >= self.settings.reasoning.batch_size:
                yield from self.reasoning_stage(pending, reasoning)
                pending = []
        yield from self.reasoning_stage(pending, reasoning)

    def reasoning_stage(self, records: list[ClipResult], reasoning: bool = True) -> list[ClipResult]:
        """The reasoning texts of explained records: the LM's in one batch (a drop's reports decode
        together), or without `reasoning` the grounded template; then each document is checked whole."""
        from clmer.explain.reasoning_template import template_reasoning

        explained = [r for r in records if r.explanation is not None]
        docs = [r.explanation for r in explained]
        start = time.time_ns()
        texts = self.reasoning_batch(docs) if reasoning else [template_reasoning(d) for d in docs]
        for rec in explained:  # one batch writes them all: each clip's span is the batch's time
            rec.stages.append(("reasoning", start, time.time_ns()))
        for rec, text in zip(explained, texts):
            rec.explanation["reasoning"] = text
            try:
                validate_explanation(document(rec))
            except Exception as exc:  # the prediction stands; the explanation is what failed
                rec.explanation, rec.status = None, "partial"
                rec.error = f"{rec.file}: explanation failed ({exc.__class__.__name__}: {exc})"
        return records

    def record(self, res: ClipExtraction, name: ClipName, bytes_read: int = 0) -> ClipResult:
        """A clip's record as extraction left it (failed, or ready for the model's stages)."""
        warnings = list(res.warnings) + ([f"missing modality: {','.join(res.missing)}"] if res.missing else [])
        rec = ClipResult(file=name.file, video_id=name.video_id, drop=name.drop, model_version=self.model_version,
                         scored_at=utc_now(), status=res.status, error=_reason(res, name.file),
                         language=res.language if res.language in ("zh", "en") else None,
                         transcript=res.transcript if isinstance(res.transcript, str) else "", warnings=warnings,
                         provenance=Provenance(sha256=res.sha256, model=self.model_info(), computed=list(res.computed),
                                               transcript_source=res.transcript_source, duration_s=res.duration_s,
                                               bytes_read=bytes_read))
        return rec

    def segments_stage(self, rec: ClipResult, res: ClipExtraction) -> None:
        """The ASR segments (timed transcript) from the store, for the transcripts table."""
        if isinstance(res.asr_key, str) and res.asr_key:
            try:
                rec.segments = self.store.get_meta(res.asr_key)[1].get("segments", [])
            except Exception as exc:  # noqa: BLE001 - the transcript stands; only its timings are lost
                rec.warnings.append(f"ASR segments unreadable ({exc.__class__.__name__}: {exc})")

    def load_stage(self, rec: ClipResult, res: ClipExtraction) -> ClipFeatures | None:
        """The clip's features from the store; a record that cannot have them fails, alone."""
        if rec.status == "failed":
            return None
        try:
            clip = load_clip(self.store, res.text_key, res.audio_key, res.vision_key)
        except CorruptRecordError as exc:  # changed in the store since extraction: this file alone fails
            return _fail(rec, str(exc))
        except Exception as exc:  # noqa: BLE001 - one file's features never take the batch down
            return _fail(rec, f"scoring failed ({exc.__class__.__name__}: {exc})")
        return clip if clip.present.any() else _fail(rec, "no usable modality")

    def predict_stage(self, rec: ClipResult, clip: ClipFeatures) -> None:
        from clmer.model.train import predict

        try:
            pred = predict(self.model, _single(clip, self.model.dims), "cpu")
        except Exception as exc:  # noqa: BLE001
            _fail(rec, f"scoring failed ({exc.__class__.__name__}: {exc})")
            return
        probs, w = pred["probs"][0], pred["weights"][0]
        k = int(probs.argmax())
        rec.prediction = Prediction(CLASSES[k], float(probs[k]), {c: float(x) for c, x in zip(CLASSES, probs)},
                                    float(pred["reg"][0]), {m: float(x) for m, x in zip(MODALITIES, w)})

    def drift_stage(self, rec: ClipResult, res: ClipExtraction) -> None:
        """The clip's statistics for the drop's drift report, from its stored features and prediction."""
        from clmer.monitor.clip_stats import clip_statistic

        pred = rec.prediction
        rec.drift = clip_statistic(res.row() | {"clip": rec.file}, {"status": rec.status, "polarity": pred and pred.polarity,
                                                                     "confidence": pred and pred.confidence}, self.store)

    def explain_stage(self, rec: ClipResult, clip: ClipFeatures, clip_id: str) -> None:
        """The explanation document on the record (its reasoning text comes in `reasoning_stage`)."""
        info = ClipInfo(clip=str(clip_id), file=rec.file, language=rec.language, transcript=rec.transcript)
        rec.explanation = explain_clip(self.model, self.model.dims, clip, info, rec.provenance.model,
                                       self.doc.get("cue_stats"))

    def extract(self, jobs: list[ClipJob], progress=None) -> pd.DataFrame:
        """Features rows for the jobs (hashed first, decoded only for what the store lacks)."""
        return extract_chunk(jobs, self.settings, self.store, progress=progress)

    def predict_features(self, features: pd.DataFrame) -> pd.DataFrame:
        """Prediction rows (PREDICTION_COLUMNS, no explanation: no shares) for features rows; failed
        extractions stay as failed rows."""
        rows = []
        for row in features.to_dict("records"):
            res = ClipExtraction.from_row(row)
            rec = self.record(res, ClipName.of(ClipJob(clip=res.clip, path=res.path)))
            clip = self.load_stage(rec, res)
            if clip is not None:
                self.predict_stage(rec, clip)
            rows.append(prediction_row(rec))
        return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The pyfunc contract: columns video_path [, transcript, language] -> PREDICTION_COLUMNS, rendered
        from each file's record as the CSV is (explained, so the shares are the reports' shares)."""
        if "video_path" not in frame.columns:
            raise ValueError("input needs a `video_path` column (optional: transcript, language)")
        jobs = []
        for _, r in frame.reset_index(drop=True).iterrows():
            path = self.resolve(str(r["video_path"]))
            transcript = r.get("transcript") if isinstance(r.get("transcript"), str) and r.get("transcript") else None
            language = r.get("language") if r.get("language") in ("zh", "en") else None
            jobs.append(ClipJob(clip=Path(path).name, path=path, transcript=transcript, language=language))
        records = self.score(jobs, reasoning=False, frames=False)
        return pd.DataFrame([prediction_row(r) for r in records], columns=PREDICTION_COLUMNS)

    def explain_row(self, row) -> dict:
        """The explanation document of one successfully extracted features row (a dict or a row tuple)."""
        res = ClipExtraction.from_row(row._asdict() if hasattr(row, "_asdict") else dict(row))
        rec = self.record(res, ClipName.of(ClipJob(clip=res.clip, path=res.path)))
        clip = load_clip(self.store, res.text_key, res.audio_key, res.vision_key)
        self.explain_stage(rec, clip, res.clip)
        self.reasoning_stage([rec], reasoning=True)
        if rec.explanation is None:
            raise ValueError(rec.error)
        return document(rec)

    def reasoning(self, doc: dict) -> dict:
        """Every report gets a reasoning text: the LM's when it passes its checks, else the grounded template."""
        return self.reasoning_batch([doc])[0]

    def reasoning_batch(self, docs: list[dict]) -> list[dict]:
        from clmer.explain.reasoning_template import template_reasoning

        try:
            explainer = self._load_explainer()
        except Exception as exc:  # the report stands on the template; the failure is recorded
            return [template_reasoning(d) | {"lm": {"error": f"{exc.__class__.__name__}: {exc}"}} for d in docs]
        if explainer is None:
            return [template_reasoning(d) for d in docs]
        try:
            return explainer.reason_batch(docs)
        except Exception as exc:
            return [template_reasoning(d) | {"lm": {"model": explainer.name, "error": f"{exc.__class__.__name__}: {exc}"}}
                    for d in docs]

    def _load_explainer(self):
        """The registered explainer (a LoRA adapter), else the store's LM when reasoning is on, else None."""
        if self._explainer is not None or self._explainer_tried or not self.use_lm:
            return self._explainer
        self._explainer_tried = True
        from clmer.explain import reasoning
        from clmer.features.encoders import model_ref, quiet_loading, resolve_device

        path, name = self.explainer_dir, None
        if path is None and reasoning.enabled(self.settings):
            ref = model_ref("explainer", self.settings)
            path, name = ref.path, ref.name
        if path is None:
            return None
        with quiet_loading():
            self._explainer = reasoning.Explainer(path, resolve_device(self.settings.models.device),
                                                  self.settings.reasoning.generate_max_new_tokens, name=name,
                                                  settings=self.settings)
        return self._explainer

    def model_info(self) -> dict:
        train = self.doc.get("train", {})
        return {"uri": self.model_uri, "alias": self.model_alias, "version": self.model_version, "run_id": self.mlflow_run_id,
                "corpus": train.get("corpus"), "corpus_digest": train.get("corpus_digest"),
                "profile": self.doc.get("profile"),
                "encoders": {r: {"name": e["name"], "revision": e["revision"]} for r, e in self.doc.get("encoders", {}).items()}}


def frames_at(key_frames: list[dict], frames: list[np.ndarray], times: list[float]) -> dict[int, np.ndarray]:
    """The decoded frame each key frame shows, found by its time: vision items are the sampled frames,
    spread evenly on long clips, so an item's index need not be its frame's."""
    if not frames or not key_frames:
        return {}
    t = np.asarray(times, float)
    return {int(k["index"]): frames[int(np.abs(t - float(k["time"])).argmin())] for k in key_frames}


def _fail(rec: ClipResult, reason: str) -> None:
    rec.status, rec.error, rec.prediction = "failed", f"{rec.file}: {reason}", None


def _reason(res: ClipExtraction, file: str) -> str | None:
    """The error column: why it failed, or for a partial row what was missing or wrong."""
    if res.status == "failed":
        return res.error
    if res.status == "partial":
        parts = [f"no {m}" for m in res.missing] + list(res.warnings)
        return f"{file}: partial: {'; '.join(parts)}" if parts else None
    return None


def _single(clip, dims):
    from clmer.model.dataset import FeatureSet

    return FeatureSet([clip], pd.DataFrame({"clip": ["x"]}), dims)
