"""What an operator sees on a flow run's Artifacts tab, and the state that tells a partial drop from a
clean one. Every run publishes a markdown summary; score-drop adds its results table, the nightly
retrain the champion gate's decision with both models' numbers and links into MLflow.
"""

from __future__ import annotations

from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.states import Completed, State

from clmer.config import Settings, redact_uri
from clmer.serving.drop_summary import drop_summary_markdown

RESULT_COLUMNS = ["file", "status", "polarity", "confidence", "language", "model_version", "error"]


def drop_artifacts(summary: dict, chunks: list[dict], out: str) -> None:
    create_markdown_artifact(drop_summary_markdown(summary, chunks, out), key="score-drop-summary",
                             description="what this drop run did")
    rows = [{c: _cell(r.get(c)) for c in RESULT_COLUMNS} for c_ in chunks for r in c_["predictions"]]
    if rows:
        create_table_artifact(rows, key="score-drop-results", description="one row per file scored in this run")


def _cell(value):
    if value is None or (isinstance(value, float) and value != value):
        return ""
    return round(value, 3) if isinstance(value, float) else value


def drop_state(summary: dict) -> State:
    """Completed, named "Partial" with a message when some files failed: a green run must mean every
    file was scored."""
    counts = summary["status_counts"]
    failed = counts.get("failed", 0)
    if failed:
        return Completed(name="Partial", data=summary,
                         message=f"{failed} of {summary['scored']} file(s) failed; see {summary['combined_results']}")
    return Completed(data=summary, message=f"{summary['scored']} file(s) scored, {summary['skipped']} skipped")


def gate_artifact(registration: dict, settings: Settings, summary: dict) -> None:
    create_markdown_artifact(gate_markdown(registration, settings, summary), key="nightly-gate",
                             description="champion gate decision")


def gate_markdown(registration: dict, settings: Settings, summary: dict) -> str:
    """The champion gate's decision, challenger vs champion, and where to look in MLflow. A nightly
    skipped because nothing changed says so and links the version it matched."""
    new, old = registration.get("challenger") or {}, registration.get("champion") or {}
    name, version = registration.get("name"), registration.get("version")
    lines = [f"# Nightly retrain: {registration.get('decision')}", ""]
    if registration.get("unchanged"):
        lines += [f"Nothing trained or registered: the corpus, code and config are those of `{name}` version "
                  f"{version}, which stays as it is."]
    else:
        champion = f"champion v{registration['champion_version']}" if registration.get("champion_version") else "champion"
        lines += [f"Model `{name}` version {version}; gate split `{new.get('split', '?')}`.", "",
                  "| model | WAR | UAR | clips |", "|---|---|---|---|",
                  f"| challenger v{version} | {_num(new.get('war'))} | {_num(new.get('uar'))} | {new.get('n', '')} |",
                  f"| {champion} | {_num(old.get('war'))} | {_num(old.get('uar'))} | {old.get('n', '')} |" if old
                  else "| champion | none yet | | |"]
    from clmer.serving.tracking import model_version_url, run_url, ui_base

    ui = ui_base(settings)
    if ui:
        lines.append("")
        if registration.get("experiment_id"):
            run = run_url(ui, registration["experiment_id"], registration.get("run_id"))
            lines.append(f"* MLflow run: [{registration.get('run_id')}]({run})")
        lines.append(f"* model version: [{name} v{version}]({model_version_url(ui, name, version)})")
    else:
        store = redact_uri(settings.mlflow.tracking_uri)
        lines += ["", f"* MLflow run `{registration.get('run_id')}` in the local store `{store}` "
                  f"(open it with `mlflow ui --backend-store-uri {store}`)"]
    lines += ["", "## Inputs", ""] + [f"* {label}: `{summary[key]}`" for key, label in (
        ("corpus", "corpus"), ("features", "features"), ("model_dir", "model folder"), ("evaluation", "evaluation"))
        if summary.get(key)]
    return "\n".join(lines)


def _num(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else ""
