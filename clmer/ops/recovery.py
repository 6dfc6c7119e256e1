"""Flow runs left behind by a stop: marked crashed, and their drops sent again.

A worker that ends (`clmer stop`, a reboot, a kill) leaves the runs it was executing "Running" on the
server forever, and their drops were never scored. Before `serve` starts a worker, no run of this
stack can really be executing, so every run still Pending/Running/Cancelling is an orphan: it is
marked Crashed with a message that says why, and each drop whose newest score-drop run crashed is
sent again (a new run with the same parameters). Scoring skips content already scored, so sending a
drop again never scores a file twice.
"""

from __future__ import annotations

from clmer.ops.prefect_api import ACTIVE, PrefectAPI

DROP_DEPLOYMENT = "score-drop"
ORPHAN_MESSAGE = "orphaned: its worker stopped before the run finished (clmer stop or a crash); marked by clmer"


def crash_orphans(api: PrefectAPI, pool: str) -> list[dict]:
    """Mark every active run of the pool's deployments Crashed; returns them."""
    ids = [d["id"] for d in api.deployments().values() if d.get("work_pool_name") in (pool, None)]
    orphans = api.flow_runs(ids, ACTIVE) if ids else []
    for run in orphans:
        api.set_state(run["id"], "CRASHED", "Crashed", ORPHAN_MESSAGE)
    return orphans


def resend_crashed_drops(api: PrefectAPI) -> list[str]:
    """A new score-drop run for each drop whose newest run crashed; returns the drops."""
    deployment = api.deployments([DROP_DEPLOYMENT]).get(DROP_DEPLOYMENT)
    if deployment is None:
        return []
    newest: dict[str, dict] = {}
    for run in api.flow_runs([deployment["id"]], limit=200):  # newest first
        newest.setdefault(str(run["parameters"].get("drop")), run)
    sent = []
    for drop, run in newest.items():
        if run["state_type"] == "CRASHED":
            api.create_run(deployment["id"], run["parameters"], tags=["clmer-resent"])
            sent.append(drop)
    return sent


def recover(api: PrefectAPI, pool: str) -> dict:
    """Crash the orphans, then resend their drops. Call only while no worker of the pool runs."""
    orphans = crash_orphans(api, pool)
    return {"crashed": [r["name"] for r in orphans], "resent": resend_crashed_drops(api)}
