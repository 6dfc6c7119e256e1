"""What every `clmer` sub-command shares: the Typer app, the console, the settings from --config."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(
    help="CLMER: cross-lingual multimodal explainable emotion recognition on video.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
_state: dict = {"config": None}


@app.callback()
def _main(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML settings file (see clmer/config.py)."),
) -> None:
    """Global options."""
    from clmer.scratch import use_private_tmp

    use_private_tmp()  # this command's temp files (and its libraries') go when it ends
    _state["config"] = config


def settings(overrides: dict | None = None):
    from clmer.config import load_settings

    return load_settings(_state["config"], overrides)


def run_dir(kind: str, out: Path | None) -> Path:
    if out:
        return out
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return settings().paths.runs / f"{kind}-{stamp}"
