"""One error style for every command: one line that names the thing and says what to do, exit 1.
`clmer --debug ...` shows the traceback instead.

Commands check what a user typed (`need_path`, `need_corpus`) before any heavy work; everything else
that escapes a command is turned into that one line by `one_line`, which knows the errors a user can
cause (missing files, missing models, an empty registry) and names the rest by type.
"""

from __future__ import annotations

from pathlib import Path


# the library's own errors whose message already names the thing and what to do
_SELF_EXPLAINING = {"InvalidModelNameError", "AuthError", "ServiceError", "ModelMissingError", "CorpusError", "NothingExtractedError",
                    "ModelIntegrityError"}


class UserError(Exception):
    """Something the user can fix; the message is the whole story."""


def need_path(path: str | Path, what: str) -> Path:
    """A local path that must exist (s3:// URIs pass through unchecked here)."""
    if str(path).startswith("s3://"):
        return Path(str(path))
    p = Path(path)
    if not p.exists():
        raise UserError(f"{p}: no such file or folder; give {what}")
    return p


def need_corpus(path: str | Path) -> Path:
    p = need_path(path, "a corpus folder (label.csv + Raw/<video_id>/<clip_id>.<ext>)")
    if not (p / "label.csv").is_file():
        raise UserError(f"{p}: no label.csv, so not a corpus; a corpus is label.csv + Raw/<video_id>/<clip_id>.<ext> "
                        "in the MMSA layout (README, Corpora), e.g. `clmer demo-data DIR` writes one")
    return p


def one_line(exc: BaseException) -> str:
    """The message a user sees for an exception a command did not handle itself."""
    if isinstance(exc, UserError):
        return str(exc)
    name = type(exc).__name__
    text = " ".join(str(exc).split()) or name
    if name in _SELF_EXPLAINING:
        return str(exc).strip()
    code = _mlflow_error_code(exc)
    lowered = text.lower()
    if code is not None and ("model" in lowered or "alias" in lowered) and (
            code == "RESOURCE_DOES_NOT_EXIST" or "not found" in lowered or "does not exist" in lowered):
        return (f"no registered model to use ({text[:200]}): run the nightly retrain first (`python -m flows.nightly "
                "CORPUS`, or `clmer train` then `clmer register`), or pass --model with a model folder")
    if code == "PERMISSION_DENIED":
        return (f"MLflow refused the request ({text[:160]}): check MLFLOW_TRACKING_USERNAME/_PASSWORD; with logins on, "
                "MLflow also answers this for a registered model that does not exist yet (run the nightly retrain "
                "first, or pass --model with a model folder)")
    if isinstance(exc, FileNotFoundError):
        return f"{exc.filename or text}: no such file or folder"
    if isinstance(exc, PermissionError):
        return f"{exc.filename or text}: permission denied"
    if isinstance(exc, ConnectionError) or name in ("URLError", "ConnectionRefusedError"):
        return f"cannot reach a server ({text[:200]}): is `clmer serve` running, and are the URLs in your settings right?"
    return f"{name}: {text[:300]} (run with --debug for the traceback)"


def _mlflow_error_code(exc: BaseException) -> str | None:
    """MLflow's error code (RestException from a server included), or None for other errors; MLflow is
    only looked at when the failing command already imported it."""
    import sys

    module = sys.modules.get("mlflow.exceptions")
    if module is None or not isinstance(exc, module.MlflowException):
        return None
    return str(exc.error_code)
