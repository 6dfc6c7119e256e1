"""Prefect flows: thin orchestration around `clmer`. Tasks pass paths, never data or models."""

import os
from pathlib import Path

# Prefect keeps its database, profiles and logs in PREFECT_HOME (default ~/.prefect): run directly
# (`python -m flows.demo`), the flows keep them in the project, as `make` and `clmer serve` do, unless
# the user has a Prefect profile of their own there (it may point at their server). Set before any
# flow module imports Prefect, which reads its settings once.
if "PREFECT_HOME" not in os.environ and not (Path.home() / ".prefect" / "profiles.toml").exists():
    os.environ["PREFECT_HOME"] = str(Path(__file__).resolve().parents[1] / ".prefect")
