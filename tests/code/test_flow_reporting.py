"""What the flows publish for an operator: the state of a drop run and the nightly's gate artifact."""

from clmer.config import load_settings
from flows.reporting import drop_state, gate_markdown

SUMMARY = {"corpus": "corpora/chsims2", "features": "runs/n/extract/features.parquet", "model_dir": "runs/n/train/model",
           "evaluation": "runs/n/evaluate/evaluation.json"}


def _settings(tracking_uri: str, public: str | None = None):
    return load_settings(None, {"mlflow": {"tracking_uri": tracking_uri}, "serve": {"mlflow_public_url": public}})


def _registration(**kw):
    base = {"name": "clmer", "version": "7", "run_id": "abc123", "experiment_id": "2", "unchanged": False,
            "challenger": {"war": 0.8125, "uar": 0.79, "n": 64, "split": "valid"},
            "champion": {"war": 0.75, "uar": 0.8, "n": 64, "split": "valid"}, "champion_version": "5",
            "decision": "kept champion v5: challenger does not beat it on WAR and UAR"}
    return base | kw


def test_gate_shows_both_models_numbers_and_links_without_credentials():
    text = gate_markdown(_registration(), _settings("http://writer:SENTINEL-PW@127.0.0.1:5000"), SUMMARY)
    assert text.startswith("# Nightly retrain: kept champion v5")
    assert "| challenger v7 | 0.812 | 0.790 | 64 |" in text
    assert "| champion v5 | 0.750 | 0.800 | 64 |" in text
    assert "(http://127.0.0.1:5000/#/experiments/2/runs/abc123?workflowType=machine_learning)" in text
    assert "(http://127.0.0.1:5000/#/models/clmer/versions/7?workflowType=machine_learning)" in text
    assert "SENTINEL-PW" not in text and "writer" not in text
    assert "* evaluation: `runs/n/evaluate/evaluation.json`" in text


def test_gate_links_to_the_public_url_and_says_when_there_was_no_champion():
    reg = _registration(champion=None, champion_version=None, decision="promoted: no champion yet")
    text = gate_markdown(reg, _settings("http://127.0.0.1:5000", "https://mlflow.lab/"), SUMMARY)
    assert "| champion | none yet | | |" in text
    assert "(https://mlflow.lab/#/models/clmer/versions/7?workflowType=machine_learning)" in text
    assert "127.0.0.1" not in text


def test_unchanged_nightly_says_why_nothing_was_registered():
    reg = {"name": "clmer", "version": "3", "run_id": "r3", "unchanged": True, "challenger": None, "champion": None,
           "decision": "unchanged: data, code and config match v3; no new version registered"}
    text = gate_markdown(reg, _settings("http://127.0.0.1:5000"), {"corpus": "corpora/chsims2"})
    assert text.startswith("# Nightly retrain: unchanged") and "Nothing trained or registered" in text
    assert "| challenger" not in text and "versions/3?" in text and "* corpus: `corpora/chsims2`" in text
    assert "features" not in text  # nothing was extracted


def test_gate_for_a_local_store_names_the_store_without_its_secrets(tmp_path):
    text = gate_markdown(_registration(), _settings(f"sqlite:///{tmp_path / 'mlflow.db'}"), SUMMARY)
    assert "local store `sqlite:///" in text and "](" not in text


def test_a_drop_with_failures_is_named_partial_and_says_how_many():
    state = drop_state({"status_counts": {"ok": 3, "failed": 1}, "scored": 4, "skipped": 0,
                        "combined_results": "out/Test_Results/combined_results.csv"})
    assert state.name == "Partial" and state.is_completed()
    assert state.message.startswith("1 of 4 file(s) failed")
    clean = drop_state({"status_counts": {"ok": 2}, "scored": 2, "skipped": 5, "combined_results": "x.csv"})
    assert clean.name == "Completed" and clean.message == "2 file(s) scored, 5 skipped"


def test_the_flow_run_link_on_mlflow_runs_uses_the_public_prefect_url(monkeypatch):
    from prefect.runtime import flow_run

    from flows.common import provenance_tags

    monkeypatch.setattr(flow_run, "get_id", lambda: "0b5e")
    monkeypatch.setattr(flow_run, "get_name", lambda: "brave-otter")
    monkeypatch.setattr(flow_run, "get_flow_run_ui_url", lambda: "http://127.0.0.1:4200/flow-runs/flow-run/0b5e")
    assert provenance_tags()["prefect.flow_run.url"] == "http://127.0.0.1:4200/flow-runs/flow-run/0b5e"
    tags = provenance_tags("https://prefect.lab/")
    assert tags["prefect.flow_run.url"] == "https://prefect.lab/flow-runs/flow-run/0b5e"
    assert tags["prefect.flow_run.name"] == "brave-otter"
