"""What every settings section shares: unknown keys are refused, assignments are checked."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _default_home() -> Path:
    """The user's cache (XDG), so models pulled once serve every project on the machine."""
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "clmer"
