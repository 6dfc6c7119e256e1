"""The `clmer` command: one sub-command per stage (`commands`), the model store (`models`), the reasoning LM (`explainer`), the
services (`ops`)."""

from clmer.cli import commands, explainer, models, ops  # noqa: F401  (importing registers the sub-commands)
from clmer.cli.common import app, main

__all__ = ["app", "main"]
