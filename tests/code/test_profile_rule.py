"""The one rule for which model profile runs (demo, serve, nightly, scoring), and what a change of
profile restarts."""

import pytest

from clmer import pipeline
from clmer.config import load_settings
from clmer.features import importers, model_store
from clmer.features.model_store import ModelMissingError
from clmer.ops import auth, services


def _settings(tmp_path, profile="auto"):
    return load_settings(None, {"paths": {"home": str(tmp_path), "model_store": str(tmp_path / "models")},
                                "models": {"profile": profile}, "serve": {"run_dir": str(tmp_path / "run")}})


def test_auto_takes_full_then_small_then_tiny(tmp_path, monkeypatch):
    s = _settings(tmp_path)
    monkeypatch.setattr(importers, "available", lambda role: True)
    chosen, line = pipeline.prepare_profile(s, build=False)
    assert chosen.models.profile == "small" and line.startswith("model profile: small (auto:")
    assert s.models.profile == "auto"  # the caller's settings are not changed

    monkeypatch.setattr(importers, "available", lambda role: False)
    chosen, line = pipeline.prepare_profile(s, build=False)
    assert chosen.models.profile == "tiny" and "RANDOM weights" in line

    monkeypatch.setattr(model_store, "complete", lambda store, profile: profile == "full")
    chosen, line = pipeline.prepare_profile(s, build=False)
    assert chosen.models.profile == "full" and "every full-profile model is in the store" in line


def test_an_explicit_profile_is_used_as_set_and_a_missing_full_profile_says_how_to_get_it(tmp_path):
    chosen, line = pipeline.prepare_profile(_settings(tmp_path, "tiny"), build=False)
    assert chosen.models.profile == "tiny" and "set in the settings" in line
    with pytest.raises(ModelMissingError, match="clmer models pull --profile full"):
        pipeline.prepare_profile(_settings(tmp_path, "full"), build=False)


def test_a_changed_profile_restarts_the_runners_not_the_servers(tmp_path, monkeypatch):
    for name in auth.KNOWN:
        monkeypatch.delenv(name, raising=False)
    small, tiny = _settings(tmp_path, "small"), _settings(tmp_path, "tiny")
    a, b = (services._fingerprints(s, auth.resolve(s), watcher=True) for s in (small, tiny))
    assert a["servers"] == b["servers"] and a["runners"] != b["runners"]


def test_every_setting_has_help_and_the_model_fields_name_each_profiles_default():
    """One place holds the defaults (model_store.PROFILES); the help text must not drift from it."""
    from pydantic import BaseModel

    from clmer.config import ModelsConfig, Settings
    from clmer.features.model_store import PROFILES

    def fields(model: type[BaseModel], prefix: str = ""):
        for name, field in model.model_fields.items():
            yield prefix + name, field
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
                yield from fields(field.annotation, f"{prefix}{name}.")

    missing = [name for name, field in fields(Settings) if not (field.description or "").strip()]
    assert missing == []
    for role in ("asr", "text", "audio", "vision", "explainer"):
        text = ModelsConfig.model_fields[role].description
        assert all(f"'{PROFILES[p][role]}'" in text for p in PROFILES), (role, text)
