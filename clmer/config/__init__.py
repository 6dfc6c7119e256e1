"""Every setting CLMER has, typed, with help text and its default: the one place defaults live.

One module per group of sections (data, models, training, serving); `Settings` gathers them and
this module re-exports every section, so `from clmer.config import TrainConfig` reads as before.

Settings come from, in rising order of precedence: the defaults below, a YAML file
(`--config FILE` or `CLMER_CONFIG`), and a few environment variables for paths and servers
(`CLMER_HOME`, `CLMER_MODEL_STORE`, `MLFLOW_TRACKING_URI`, ...). Relative paths are relative to
the working directory, so nothing here names a machine.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from clmer.config.base import _Section
from clmer.config.data import LimitsConfig, MediaConfig, PathsConfig
from clmer.config.models import PROFILE_CHOICES, DemoConfig, ExtractConfig, ModelsConfig, ProfileChoice
from clmer.config.serving import DriftConfig, MlflowConfig, ScoringConfig, ServeConfig
from clmer.config.training import EvalConfig, FusionConfig, ReasoningConfig, TrainConfig

__all__ = ["PROFILE_CHOICES", "DemoConfig", "DriftConfig", "EvalConfig", "ExtractConfig", "FusionConfig", "LimitsConfig", "MediaConfig",
           "MlflowConfig", "ModelsConfig", "PathsConfig", "ProfileChoice", "ReasoningConfig", "ScoringConfig",
           "ServeConfig", "Settings", "TrainConfig", "flatten", "load_settings", "redact_uri", "split_credentials"]


class Settings(_Section):
    paths: PathsConfig = Field(default_factory=PathsConfig, description="Where things live.")
    media: MediaConfig = Field(default_factory=MediaConfig, description="Decoding.")
    limits: LimitsConfig = Field(default_factory=LimitsConfig, description="Per-file resource limits.")
    models: ModelsConfig = Field(
        default_factory=lambda: ModelsConfig(profile=os.environ.get("CLMER_PROFILE", "auto")),
        description="Backbones and devices.",
    )
    extract: ExtractConfig = Field(default_factory=ExtractConfig, description="Feature extraction.")
    demo: DemoConfig = Field(default_factory=DemoConfig, description="Demo corpus generator.")
    fusion: FusionConfig = Field(default_factory=FusionConfig, description="Fusion model shape.")
    train: TrainConfig = Field(default_factory=TrainConfig, description="Training (warm-up + RLVR).")
    eval: EvalConfig = Field(default_factory=EvalConfig, description="Evaluation.")
    reasoning: ReasoningConfig = Field(default_factory=ReasoningConfig, description="Reasoning-text explainer (trl GRPO).")
    scoring: ScoringConfig = Field(default_factory=ScoringConfig, description="Scoring drops.")
    mlflow: MlflowConfig = Field(default_factory=MlflowConfig, description="Tracking and registry.")
    serve: ServeConfig = Field(default_factory=ServeConfig, description="Local services started by `clmer serve`.")
    drift: DriftConfig = Field(default_factory=DriftConfig, description="Drift monitoring of scored drops.")


def _deep_update(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_update(out[key], value)
        else:
            out[key] = value
    return out


def load_settings(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Settings:
    """Defaults, then the YAML file (argument or CLMER_CONFIG), then explicit overrides."""
    import yaml

    data = Settings().model_dump(mode="json")
    path = path or os.environ.get("CLMER_CONFIG")
    if path:
        text = Path(path).read_text(encoding="utf-8")
        loaded = yaml.safe_load(text) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{path}: a CLMER config file must be a YAML mapping")
        data = _deep_update(data, loaded)
    if overrides:
        data = _deep_update(data, overrides)
    return Settings.model_validate(data)


def flatten(settings: BaseModel, prefix: str = "") -> dict[str, Any]:
    """`{'train.lr': 0.002, ...}`: the form MLflow params and reports want."""
    flat: dict[str, Any] = {}
    for key, value in settings.model_dump(mode="json").items():
        _flatten_into(flat, f"{prefix}{key}", value)
    return flat


def _flatten_into(flat: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict):
        for sub, v in value.items():
            _flatten_into(flat, f"{key}.{sub}", v)
    else:
        flat[key] = value


_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/@\s]*@)")
_SECRET_QUERY = re.compile(r"(?P<key>[?&;](?:[^=&;\s]*(?:password|passwd|pwd|token|secret|key|signature|sig|credential|auth)"
                           r"[^=&;\s]*)=)(?P<value>[^&;\s#]*)", re.IGNORECASE)


def redact_uri(text: str) -> str:
    """`text` with the credentials of every URI in it replaced by `***`: the `user:password@` part
    and query values whose names say secret (password, token, key, signature, ...). Used on
    everything logged to MLflow or printed, so a URI from the environment never leaks its secret."""
    if "://" not in text:
        return text
    text = _USERINFO.sub(lambda m: m.group("scheme") + "***@", text)
    return _SECRET_QUERY.sub(lambda m: m.group("key") + "***", text)


def split_credentials(uri: str) -> tuple[str, str | None, str | None]:
    """(uri without `user:password@`, user, password) for an http(s) URI; others are returned whole."""
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return uri, None, None
    host = parts.netloc.rsplit("@", 1)[1]
    return (urlunsplit(parts._replace(netloc=host)), unquote(parts.username or "") or None,
            unquote(parts.password) if parts.password is not None else None)
