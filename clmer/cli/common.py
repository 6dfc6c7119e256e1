"""What every `clmer` sub-command shares: the Typer app, the console, the settings from --config, and
`main`, which turns any error into one line (exit 1) unless --debug asks for the traceback."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

app = typer.Typer(
    help="CLMER: cross-lingual multimodal explainable emotion recognition on video.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: flags without a '<bool>' type column
)
console = Console(soft_wrap=True)


def plain(text: object) -> str:
    """A name or an error from outside (a file name, a transcript) as inert text for `console.print`:
    control characters escaped (no terminal escape sequence runs) and rich markup escaped (`[/]x.mp4`
    once crashed `clmer extract`)."""
    from rich.markup import escape

    from clmer.data.safe_csv import escape_field

    return escape(escape_field(text))


def one_line(text: object) -> str:
    """`plain` for a print with markup off: control characters escaped, brackets kept as typed."""
    from clmer.data.safe_csv import escape_field

    return escape_field(text)

err_console = Console(stderr=True, soft_wrap=True)
_state: dict = {"config": None, "debug": False}


def _version(value: bool) -> None:
    if value:
        from clmer import __version__

        console.print(f"clmer {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    config: Optional[Path] = typer.Option(None, "--config", "-c", help="YAML settings file (see clmer/config/)."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback when a command fails."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Global options."""
    from clmer.scratch import use_private_tmp

    use_private_tmp()  # this command's temp files (and its libraries') go when it ends
    _state["config"] = config
    _state["debug"] = debug


def config_path() -> Path | None:
    """The --config file, absolute (for processes started elsewhere), or None."""
    return Path(_state["config"]).resolve() if _state["config"] else None


def settings(overrides: dict | None = None):
    from clmer.config import load_settings

    return load_settings(_state["config"], overrides)


def run_folder(kind: str, out: Path | None) -> Path:
    """The command's run folder: --out, else a new one under paths.runs (`clmer.pipeline.run_folder`)."""
    from clmer.pipeline import run_folder as make

    return make(settings(), kind, out)


def command_overrides(profile: str | None = None) -> dict:
    from clmer.pipeline import command_overrides as overrides

    return overrides(profile)


def profile_option():
    from clmer.config import PROFILE_CHOICES

    return typer.Option(None, help=f"Model profile: {' | '.join(PROFILE_CHOICES)} (default: models.profile).")


def main(argv: list[str] | None = None) -> int:
    """The `clmer` console script: one line and exit 1 on any error; `--debug` re-raises it."""
    from clmer.cli.errors import one_line

    try:
        app(args=argv)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        return 130
    except Exception as exc:
        if _state["debug"] or "--debug" in (argv if argv is not None else sys.argv):
            raise
        err_console.print(f"error: {one_line(exc)}", markup=False, highlight=False)
        return 1
    return 0
