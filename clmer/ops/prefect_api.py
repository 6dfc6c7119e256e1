"""The few Prefect REST calls `serve`, `status` and the watcher make, over plain HTTP.

`clmer/` imports no Prefect (flows/ does): this speaks the server's documented REST API with the
same basic-auth string every Prefect client sends (PREFECT_API_AUTH_STRING), and keeps `clmer
status` fast (no 2 s Prefect import).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.error
import urllib.request
from datetime import datetime, timezone

ACTIVE = ("PENDING", "RUNNING", "CANCELLING")  # states that need a live worker process
FINISHED = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")


class PrefectAPI:
    def __init__(self, url: str | None = None, auth_string: str | None = None, timeout: float = 30.0):
        self.url = (url or os.environ.get("PREFECT_API_URL") or "").rstrip("/")
        if not self.url:
            raise RuntimeError("no Prefect API: set PREFECT_API_URL (clmer serve prints it)")
        auth = auth_string if auth_string is not None else os.environ.get("PREFECT_API_AUTH_STRING")
        self._headers = {"Content-Type": "application/json"}
        if auth:
            self._headers["Authorization"] = "Basic " + base64.b64encode(auth.encode()).decode()
        self.timeout = timeout

    def call(self, path: str, body: dict | None = None, method: str | None = None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method or ("POST" if data else "GET"),
                                     headers=self._headers)
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def deployments(self, names: list[str] | None = None) -> dict[str, dict]:
        """name -> deployment (all deployments, or those named)."""
        body = {"deployments": {"name": {"any_": names}}} if names else {}
        return {d["name"]: d for d in self.call("/deployments/filter", body)}

    def flow_runs(self, deployment_ids: list[str], states: tuple[str, ...] | None = None, limit: int = 200) -> list[dict]:
        """Newest first."""
        runs: dict = {"deployment_id": {"any_": deployment_ids}}
        if states:
            runs["state"] = {"type": {"any_": list(states)}}
        return self.call("/flow_runs/filter", {"flow_runs": runs, "sort": "EXPECTED_START_TIME_DESC", "limit": limit})

    def set_state(self, run_id: str, state_type: str, name: str, message: str) -> None:
        self.call(f"/flow_runs/{run_id}/set_state",
                  {"state": {"type": state_type, "name": name, "message": message}, "force": True})

    def create_run(self, deployment_id: str, parameters: dict, tags: list[str] | None = None) -> dict:
        return self.call(f"/deployments/{deployment_id}/create_flow_run",
                         {"parameters": parameters, "tags": tags or []})

    def healthy(self) -> bool:
        try:
            self.call("/health")
            return True
        except (OSError, urllib.error.URLError):
            return False


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def now() -> datetime:
    return datetime.now(timezone.utc)
