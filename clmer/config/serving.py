"""Scoring drops, MLflow tracking and the registry, and the local services `clmer serve` starts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field

from clmer.config.base import _Section


class ScoringConfig(_Section):
    out_dir: Path = Field(Path("."), description="Scoring writes Test_Results/ and Test_Supplements/ under this.")
    video_extensions: list[str] = Field(
        default_factory=lambda: [".mp4", ".mkv", ".webm", ".mov", ".avi", ".m4v", ".flv", ".mpg", ".mpeg", ".ts", ".wmv"],
        description="File endings treated as videos in a drop; other files are listed as skipped.",
    )
    blur_faces: bool = Field(True, description="Blur faces in saved frames and HTML thumbnails (privacy first).")
    settle_seconds: float = Field(
        5.0, ge=0, description="A drop is ready when none of its files changed size or mtime for this long."
    )
    html: bool = Field(True, description="Write an HTML page per clip beside its JSON.")


class MlflowConfig(_Section):
    tracking_uri: str = Field(
        default_factory=lambda: os.environ.get("MLFLOW_TRACKING_URI", "sqlite:///mlflow/mlflow.db"),
        description="MLflow tracking URI; default a SQLite file under mlflow/. Env: MLFLOW_TRACKING_URI.",
    )
    registry_uri: str | None = Field(
        default_factory=lambda: os.environ.get("MLFLOW_REGISTRY_URI"),
        description="Model registry URI if different from tracking. Env: MLFLOW_REGISTRY_URI.",
    )
    artifact_location: str = Field(
        default_factory=lambda: os.environ.get("CLMER_MLFLOW_ARTIFACTS", "mlflow/artifacts"),
        description="Artifact root for new experiments with a local store (dir or s3://). Env: CLMER_MLFLOW_ARTIFACTS.",
    )
    experiment: str = Field("clmer", description="MLflow experiment name.")
    model_name: str = Field("clmer", description="Registered model name.")
    traces: Literal["auto", "on", "off"] = Field(
        "auto", description="One MLflow trace per scored clip (its explanation as the outputs, a span per stage) in "
        "the drops' experiment (drift.experiment), where reviewers read and rate it. 'auto': when the scoring model "
        "comes from MLflow (a models:/ or runs:/ URI); 'on': also for a local model folder; 'off': never. A tracing "
        "error is a warning, never a failed drop.")
    gate_min_rating: float | None = Field(
        None, ge=1, le=5, description="The champion gate also asks that the challenger's explanations be rated at "
        "least this on average (1-5, reviewers' `explanation_rating` on its clips' traces; `clmer review`). "
        "None: ratings are shown on the version but do not gate.")
    gate_min_ratings: int = Field(
        3, ge=1, description="Fewest ratings of the challenger's explanations for gate_min_rating to judge; fewer "
        "and the gate keeps the champion (not enough review yet). Only with gate_min_rating.")

    @property
    def champion_uri(self) -> str:
        """What scoring serves unless told otherwise: this model name's `champion` alias."""
        return f"models:/{self.model_name}@champion"


class ServeConfig(_Section):
    host: str = Field("127.0.0.1", description="Address every local service listens on.")
    prefect_port: int = Field(4200, description="Prefect server (API + UI) port.")
    mlflow_port: int = Field(5000, description="MLflow tracking server port.")
    prefect_public_url: str | None = Field(
        None, description="Where people open the Prefect UI (another machine's name, or a TLS proxy such as "
        "https://prefect.example.org). Links they click use it: the flow-run link on MLflow runs and the URL serve "
        "prints. Default http://<host>:<prefect_port> (127.0.0.1 when host is 0.0.0.0).")
    mlflow_public_url: str | None = Field(
        None, description="Where people open the MLflow UI, for the same links (the gate artifact's run and model "
        "version, `clmer register`'s output). Default: the tracking server's URL, or http://<host>:<mlflow_port> "
        "for the server serve starts.")
    mlflow_backend_store: str = Field(
        "sqlite:///mlflow/mlflow.db", description="The MLflow server's backend store (SQLite file, or "
        "postgresql://...); relative SQLite paths are relative to the project. Env MLFLOW_BACKEND_STORE_URI wins.")
    mlflow_artifacts: str = Field(
        "mlflow/artifacts", description="Where the MLflow server keeps artifacts (folder or s3://...). "
        "Env MLFLOW_ARTIFACTS_DESTINATION wins.")
    work_pool: str = Field("clmer-pool", description="Prefect process work pool the worker serves.")
    run_dir: Path = Field(Path(".run"), description="Pid files and service logs of `clmer serve` (git-ignored).")
    watch_folders: list[str] = Field(default_factory=lambda: ["Test_Data"], description="Folders the drop watcher watches.")
    watch_s3: list[str] = Field(default_factory=list, description="S3 prefixes (s3://bucket/prefix) the watcher watches.")
    watch_interval_s: float = Field(2.0, gt=0, description="Seconds between the watcher's looks at its folders and prefixes.")
    corpus: str = Field("clmer_data/demo/corpus", description="Corpus the nightly-retrain deployment trains on.")
    worker_poll_seconds: float = Field(2.0, description="How often the worker asks for scheduled runs.")
    startup_timeout_s: float = Field(120.0, gt=0, description="How long serve waits for each server to answer.")
    auth: bool = Field(
        False, description="Require logins: Prefect basic auth and MLflow's basic-auth app (admin, the pipeline's "
        "writer, an optional read-only analyst). Required whenever host is not loopback. The secrets themselves "
        "come from the environment or secrets_file, never from this file.")
    secrets_file: Path | None = Field(
        default_factory=lambda: Path(p) if (p := os.environ.get("CLMER_SECRETS_FILE")) else None,
        description="A KEY=VALUE file with the logins (PREFECT_API_AUTH_STRING, MLFLOW_TRACKING_USERNAME/_PASSWORD, "
        "MLFLOW_AUTH_ADMIN_PASSWORD, MLFLOW_FLASK_SERVER_SECRET_KEY, CLMER_MLFLOW_ANALYST_USERNAME/_PASSWORD); "
        "refused unless only its owner can read it (chmod 600). Environment variables win. Env: CLMER_SECRETS_FILE.")
    mlflow_auth_store: str = Field(
        "sqlite:///mlflow/basic_auth.db", description="Where MLflow's basic-auth app keeps users and permissions "
        "(SQLite file or postgresql://...); relative SQLite paths are relative to the project.")
    drop_attempts: int = Field(
        3, ge=1, description="The watcher sends a drop at most this often when its scoring run crashes or never "
        "starts; it records a drop as done only when a run for it completed.")
    drop_run_grace_s: float = Field(
        120.0, gt=0, description="Seconds the watcher waits for a run to appear after sending a drop before "
        "it sends the drop again.")


class DriftConfig(_Section):
    reference_max_clips: int = Field(200, ge=0, description="Corpus clips (validation split first) the reference profile "
                                     "is made of at registration, extracted as scoring does; 0: no drift monitoring.")
    min_clips: int = Field(5, ge=2, description="Fewest clips for a verdict (per language too); fewer: too few to tell.")
    alpha: float = Field(0.05, gt=0, lt=1, description="Family-wise error of a drop's report (Holm over its tests).")
    watch_effect: float = Field(0.5, gt=0, description="Effect (reference std units) of a significant change: 'watch'.")
    drift_effect: float = Field(1.0, gt=0, description="Effect (reference std units) of a significant change: 'drift'.")
    permutations: int = Field(1999, ge=99, description="Permutations per test (the smallest p-value is 1/(n+1)).")
    experiment: str = Field("clmer-drops", description="MLflow experiment of the runs, one per scored drop.")
    persist_drops: int = Field(3, ge=1, description="Drops in a row judged 'drift' (one model version): drift persists.")
    on_persist: Literal["off", "retrain", "hold"] = Field("off", description="When drift persists: 'retrain' starts the "
                                                          "nightly deployment early, 'hold' stops promoting; 'off' reports.")
