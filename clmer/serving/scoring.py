"""Scoring with a trained model: the same encoders it was trained with, then predictions and
explanations. Used by the MLflow pyfunc, `clmer score`, `clmer explain` and the score_drop flow.

The model folder's model.json records each encoder's name, revision and config hash, and the
media/model settings used in training. The scorer re-applies those settings and refuses to run
if the model store now holds a different revision: features from another encoder would be
silently wrong.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from clmer.config import Settings, load_settings
from clmer.model.dataset import load_clip
from clmer.explain.clip import ClipInfo, explain_clip
from clmer.features.extract import ClipJob, extract_chunk
from clmer.features.feature_store import CorruptRecordError, FeatureStore
from clmer.model.fusion import MODALITIES
from clmer.data.labels import CLASSES

PREDICTION_COLUMNS = ["drop", "file", "video_id", "language", "transcript", "polarity", "confidence", "p_negative", "p_neutral",
                      "p_positive", "share_text", "share_audio", "share_vision", "model_version", "status", "error"]


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
        self.model_uri, self.model_alias, self.run_id = str(model_dir), None, None
        self.examples_dir = Path(examples_dir) if examples_dir else None
        self.store = FeatureStore(self.settings.paths.feature_store)
        beside = self.model_dir.parent / "explainer"  # a local train run keeps it next to the model
        self.explainer_dir = Path(explainer_dir) if explainer_dir else (beside if is_trained(beside) else None)
        self._explainer = None
        self._explainer_tried = False
        self.use_lm = True  # False: reasoning from the grounded template only
        self._frames: dict[str, list] = {}

    def resolve(self, path: str) -> str:
        """A relative path that does not exist here is looked up among the model's bundled examples."""
        p = Path(path)
        if not p.exists() and self.examples_dir is not None and (self.examples_dir / p.name).exists():
            return str(self.examples_dir / p.name)
        return path

    def extract(self, jobs: list[ClipJob], progress=None) -> pd.DataFrame:
        """Features for the jobs; the frames of clips decoded now are kept for `key_frames`."""
        self._frames = {}
        return extract_chunk(jobs, self.settings, self.store, progress=progress, frames_out=self._frames)

    def key_frames(self, path: str, indices: list[int], root: str | None = None) -> dict[int, np.ndarray]:
        """Frames for the report: from the last extraction's decode, or (features came from the
        store, so nothing was decoded) from one decode now, opened and time-limited as extraction does."""
        frames = self._frames.get(path)
        if frames is None:
            frames = _decode_frames(ClipJob(clip=path, path=path, root=root), self.settings)
        return {i: frames[i] for i in indices if i < len(frames)}

    def predict_features(self, features: pd.DataFrame) -> pd.DataFrame:
        """One prediction row per features row; failed extractions stay as failed rows."""
        from clmer.model.train import predict

        rows = []
        for r in features.itertuples():
            base = {"drop": None, "file": r.path, "video_id": Path(r.clip).stem if "/" not in str(r.clip) else str(r.clip),
                    "language": r.language if r.language in ("zh", "en") else None,
                    "transcript": r.transcript if isinstance(r.transcript, str) else "",
                    "model_version": self.model_version, "status": r.status, "error": _reason(r)}
            if r.status == "failed":
                rows.append(base)
                continue
            try:
                clip = load_clip(self.store, r.text_key, r.audio_key, r.vision_key)
                if not clip.present.any():
                    rows.append(base | {"status": "failed", "error": f"{r.path}: no usable modality"})
                    continue
                pred = predict(self.model, _single(clip, self.model.dims), "cpu")
            except CorruptRecordError as exc:  # changed in the store since extraction: this file alone fails
                rows.append(base | {"status": "failed", "error": f"{r.path}: {exc}"})
                continue
            except Exception as exc:  # noqa: BLE001 - one file's features never take the batch down
                rows.append(base | {"status": "failed",
                                    "error": f"{r.path}: scoring failed ({exc.__class__.__name__}: {exc})"})
                continue
            probs, w = pred["probs"][0], pred["weights"][0]
            k = int(probs.argmax())
            rows.append(base | {"polarity": CLASSES[k], "confidence": float(probs[k]),
                                **{f"p_{c}": float(p) for c, p in zip(CLASSES, probs)},
                                **{f"share_{m}": float(x) for m, x in zip(MODALITIES, w)}})
        return pd.DataFrame(rows, columns=PREDICTION_COLUMNS)

    def predict_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The pyfunc contract: columns video_path [, transcript, language] -> PREDICTION_COLUMNS."""
        if "video_path" not in frame.columns:
            raise ValueError("input needs a `video_path` column (optional: transcript, language)")
        jobs = []
        for i, r in frame.reset_index(drop=True).iterrows():
            path = self.resolve(str(r["video_path"]))
            transcript = r.get("transcript") if isinstance(r.get("transcript"), str) and r.get("transcript") else None
            language = r.get("language") if r.get("language") in ("zh", "en") else None
            jobs.append(ClipJob(clip=Path(path).name, path=path, transcript=transcript, language=language))
        return self.predict_features(self.extract(jobs))

    def explain_row(self, row) -> dict:
        """Explanation doc for one successfully extracted features row."""
        doc = self._explain(row)
        doc["reasoning"] = self.reasoning(doc)
        return doc

    def explain_rows(self, rows: list) -> list:
        """Explanation docs of several rows (an Exception in place of a doc that failed), their reasoning
        texts written by the LM in batches (`reasoning.batch_size`): what a drop's chunk uses."""
        docs: list = []
        for row in rows:
            try:
                docs.append(self._explain(row))
            except Exception as exc:  # one clip's failure is that clip's
                docs.append(exc)
        ok = [d for d in docs if isinstance(d, dict)]
        for doc, reasoning in zip(ok, self.reasoning_batch(ok)):
            doc["reasoning"] = reasoning
        return docs

    def _explain(self, row) -> dict:
        clip = load_clip(self.store, row.text_key, row.audio_key, row.vision_key)
        info = ClipInfo(clip=str(row.clip), file=str(row.path), language=row.language if row.language in ("zh", "en") else None,
                        transcript=row.transcript if isinstance(row.transcript, str) else "")
        doc = explain_clip(self.model, self.model.dims, clip, info, self.model_info(), self.doc.get("cue_stats"))
        doc["scored_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        doc["status"] = "partial" if row.status == "partial" else "ok"
        doc["warnings"] = [w for w in str(row.warnings or "").split("; ") if w]
        if row.missing:
            doc["warnings"].append(f"missing modality: {row.missing}")
        return doc

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
        return {"uri": self.model_uri, "alias": self.model_alias, "version": self.model_version, "run_id": self.run_id,
                "corpus": train.get("corpus"), "corpus_digest": train.get("corpus_digest"),
                "profile": self.doc.get("profile"),
                "encoders": {r: {"name": e["name"], "revision": e["revision"]} for r, e in self.doc.get("encoders", {}).items()}}


def _decode_frames(job: ClipJob, settings: Settings) -> list[np.ndarray]:
    import os

    from clmer.data import media
    from clmer.data.decode_worker import DecodeWorker
    from clmer.features.extract import open_checked

    fd = open_checked(job, settings.limits.max_file_bytes)
    try:
        with DecodeWorker() as worker:
            return worker.decode(fd, job.path, settings.limits.decode_timeout_s, **media.decode_kwargs(settings)).frames
    finally:
        os.close(fd)


def _reason(r) -> str | None:
    """The error column: why it failed, or for a partial row what was missing or wrong."""
    if r.status == "failed":
        return r.error
    if r.status == "partial":
        parts = [f"no {m}" for m in str(r.missing or "").split(",") if m]
        parts += [w for w in str(r.warnings or "").split("; ") if w]
        return f"{r.path}: partial: {'; '.join(parts)}" if parts else None
    return None


def _single(clip, dims):
    from clmer.model.dataset import FeatureSet

    return FeatureSet([clip], pd.DataFrame({"clip": ["x"]}), dims)
