"""The `clmer` command: one sub-command per stage (`commands`), the model store (`models`)."""

from clmer.cli import commands, models  # noqa: F401  (importing registers the sub-commands)
from clmer.cli.common import app

__all__ = ["app"]
