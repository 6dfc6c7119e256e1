"""`clmer review RESULTS`: read each explained clip of a scoring output folder and rate its explanation 1-5.

With --clip and --rating it records one rating and exits (scripts, tests); on a terminal without them it shows
the clips one by one and asks; elsewhere it lists them. The work is in `clmer.serving.review`."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Optional

import typer

from clmer.cli.common import app, console, settings
from clmer.cli.errors import UserError, need_path


@app.command()
def review(
    results: Path = typer.Argument(..., help="A scoring output folder (what `clmer score --out` wrote)."),
    clip: Optional[str] = typer.Option(None, "--clip", help="The clip to rate: its file in the drop or its report's "
                                       "name. Without --rating: show only that clip."),
    rating: Optional[int] = typer.Option(None, "--rating", help="1 (misleading) to 5 (convincing and faithful); "
                                         "needs --clip."),
    comment: Optional[str] = typer.Option(None, "--comment", help="Why, in a sentence (optional)."),
    reviewer: Optional[str] = typer.Option(None, "--reviewer", help="Who rates (default: your login name)."),
) -> None:
    """Show each clip's prediction, shares, key words and reasoning, and record 1-5 ratings of its explanation
    (on the clip's MLflow trace when it has one, and in Test_Results/explanation_ratings.jsonl)."""
    from clmer.serving import review as rv

    need_path(results, "a scoring output folder")
    cfg = settings()
    try:
        found = rv.clips(results)
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(str(exc)) from None
    if not found:
        raise UserError(f"{results}: no explained clips to review (none scored ok or partial with a report)")
    who = reviewer or _login()
    if rating is not None:
        if clip is None:
            raise UserError("--rating needs --clip: which clip's explanation is rated")
        _show_and_record(results, _pick(rv, found, clip), rating, comment, who, cfg)
        return
    chosen = [_pick(rv, found, clip)] if clip else found
    if not console.is_terminal:  # nothing to ask: list what there is to rate
        for c in chosen:
            console.print("\n".join(rv.summary_lines(c)), markup=False, highlight=False)
        console.print(f"{len(chosen)} clip(s); rate one with --clip FILE --rating 1-5 [--comment TEXT]", markup=False)
        return
    for n, c in enumerate(chosen, 1):
        console.print(f"[bold]{n}/{len(chosen)}[/]")
        console.print("\n".join(rv.summary_lines(c)), markup=False, highlight=False)
        answer = typer.prompt("rating 1-5 (enter: skip, q: stop)", default="", show_default=False).strip()
        if answer.lower() == "q":
            break
        if not answer:
            continue
        note = typer.prompt("comment (optional)", default="", show_default=False).strip()
        _record(results, c, answer, note, who, cfg)


def _login() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no login name in this environment (a container)
        return "reviewer"


def _pick(rv, found, name: str):
    try:
        return rv.pick(found, name)
    except LookupError as exc:
        raise UserError(str(exc)) from None


def _show_and_record(results: Path, c, value, comment: str | None, who: str, cfg) -> None:
    from clmer.serving import review as rv

    console.print("\n".join(rv.summary_lines(c)), markup=False, highlight=False)
    _record(results, c, value, comment, who, cfg)


def _record(results: Path, c, value, comment: str | None, who: str, cfg) -> None:
    import warnings

    from clmer.serving import review as rv

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rating, agg = rv.record(results, c, value, comment, who, cfg)
        except ValueError as exc:
            raise UserError(f"{c.file}: {exc}") from None
    for w in caught:
        console.print(f"warning: {w.message}", markup=False, highlight=False)
    where = f"on trace {rating.trace_id} and " if rating.trace_id else ""
    console.print(f"rated {c.file} {rating.rating}/5 by {rating.reviewer}: saved {where}in {results}", markup=False)
    if agg is not None:
        mean = "none" if agg["mean"] is None else f"{agg['mean']:.2f}"
        console.print(f"model v{c.model_version}: mean rating {mean} over {agg['count']}", markup=False)
