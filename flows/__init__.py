"""Prefect flows: thin orchestration around `clmer`. Tasks pass paths, never data or models."""

import os
from pathlib import Path

# Prefect keeps its database, profiles and logs in PREFECT_HOME (default ~/.prefect): run directly
# (`python -m flows.demo`), the flows keep them in the project, as `make` and `clmer serve` do.
# Set before any flow module imports Prefect, which reads its settings once.
os.environ.setdefault("PREFECT_HOME", str(Path(__file__).resolve().parents[1] / ".prefect"))
