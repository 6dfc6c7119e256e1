"""The drop run's summary as markdown (the Prefect `score-drop-summary` artifact, built here so it is
tested without Prefect): the verdict first, the counts, where the results are, and the failed files.

Everything that came from outside (the drop's file names, the errors that quote them, the folders) goes
into code spans (`clmer.data.safe_markdown.md_code`): a name must never become a link, an image or a
heading in the UI. Code spans, not escapes: the Prefect UI renders a text token's characters as they are,
so backslash escapes and character references showed up literally (`combined\\_results\\.csv`).
"""

from __future__ import annotations

from pathlib import Path

from clmer.data.safe_markdown import md_code
from clmer.names import REPORTS_DIR

MAX_FAILED_LISTED = 50  # a drop of thousands of broken files: the table artifact and the CSV hold them all


def drop_title(summary: dict) -> str:
    """The verdict first: an operator scanning artifacts wants to know whether anything failed."""
    scored, failed = summary["scored"], summary["status_counts"].get("failed", 0)
    if not scored:
        return f"Nothing new: {summary['skipped']} file(s) scored before"
    if failed:
        return f"{failed} of {scored} file(s) failed"
    return f"All {scored} file(s) scored"


def _path_and_link(path: str | Path) -> str:
    # as_uri percent-encodes; <> keeps it one URL. The path is shown in full because a browser opens
    # file:// links from a web page rarely, and an operator copies the path instead.
    return f"{md_code(path)} ([open](<{Path(path).resolve().as_uri()}>))"


def drop_summary_markdown(summary: dict, chunks: list[dict], out: str | Path) -> str:
    reports = Path(out) / REPORTS_DIR
    lines = [f"# {drop_title(summary)}", "", f"Drop: {md_code(summary['drop'])}", "",
             f"{summary['scored']} file(s) scored now, {summary['skipped']} scored before (same content).", "",
             "| status | files |", "|---|---|"]
    lines += [f"| {md_code(k)} | {v} |" for k, v in sorted(summary["status_counts"].items())]
    lines += ["", f"* results table: {_path_and_link(summary['combined_results'])}",
              f"* per-clip reports (JSON + HTML): {_path_and_link(reports)}"]
    failed = [r for c in chunks for r in c["predictions"] if r.get("status") == "failed"]
    if failed:
        lines += ["", "## Failed files", ""] + [f"* {md_code(r['file'])}: {md_code(r.get('error') or 'no reason recorded')}"
                                               for r in failed[:MAX_FAILED_LISTED]]
        if len(failed) > MAX_FAILED_LISTED:
            lines.append(f"* ... and {len(failed) - MAX_FAILED_LISTED} more (see the results table)")
    return "\n".join(lines)
