"""Prefect flows: thin orchestration around `clmer`. Tasks pass paths, never data or models."""
