"""The `clmer` command: one sub-command per stage (`commands`), the model store (`models`), the reasoning LM
(`explainer`), rating explanations (`review`), the services (`ops`)."""

from clmer.cli import commands, explainer, models, ops, review  # noqa: F401  (importing registers the sub-commands)
from clmer.cli.common import app, main

__all__ = ["app", "main"]
