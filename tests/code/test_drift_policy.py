"""What a verdict does outside the report: the flow run's state, the drift streak the policy acts on, and the
registry model name a drop run is tagged with."""

from __future__ import annotations

from types import SimpleNamespace

from prefect.states import Completed

from clmer.config import load_settings
from clmer.serving.drift_tracking import model_name, streak
from flows.score_drop import retrain_early, with_drift

SUMMARY = {"status_counts": {"ok": 8}, "scored": 8, "skipped": 0}


def test_a_drift_verdict_names_the_completed_state_and_says_what_moved():
    state = with_drift(Completed(data=SUMMARY, message="8 file(s) scored, 0 skipped"),
                       {"verdict": "drift", "reason": "drift: audio (loudness), vision (brightness)"})
    assert state.is_completed() and state.name == "Drift"
    assert state.message == "drift: audio (loudness), vision (brightness); 8 file(s) scored, 0 skipped"
    partial = with_drift(Completed(name="Partial", data=SUMMARY, message="1 of 8 file(s) failed"),
                         {"verdict": "watch", "reason": "watch: text (language mix)"})
    assert partial.name == "Partial" and partial.message == "1 of 8 file(s) failed; drift watch"
    plain = Completed(data=SUMMARY, message="x")
    assert with_drift(plain, None) is plain  # nothing scored now: no report, nothing to say
    assert with_drift(plain, None, "; drift report failed (OSError)").message == "x; drift report failed (OSError)"


def _run(verdict: str):
    return SimpleNamespace(data=SimpleNamespace(tags={"drift.verdict": verdict}))


def test_the_streak_counts_drift_in_a_row_and_skips_drops_too_small_to_tell():
    assert streak([_run("drift"), _run("unknown"), _run("drift"), _run("ok"), _run("drift")]) == 2
    assert streak([_run("watch"), _run("drift")]) == 0 and streak([]) == 0


def test_retrain_early_only_when_the_policy_says_so_and_the_streak_just_reached_it():
    logger = SimpleNamespace(warning=lambda *a: None)
    off = load_settings(None, {"drift": {"on_persist": "off", "persist_drops": 1}})
    assert retrain_early({"streak": 1}, off, logger) == ""
    on = load_settings(None, {"drift": {"on_persist": "retrain", "persist_drops": 3}})
    assert retrain_early({"streak": 2}, on, logger) == "" and retrain_early({"streak": 4}, on, logger) == ""


def test_model_names_from_registry_uris():
    assert model_name("models:/clmer@champion") == "clmer" and model_name("models:/my/model/7") == "my/model"
    assert model_name("runs:/abc/model") is None and model_name("/some/folder") is None
