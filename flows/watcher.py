"""Watch a folder and/or S3 prefixes for drops; emit `clmer.drop.ready` once per settled drop, and
follow it until a scoring run for it completed.

    python -m flows.watcher [--config FILE] [--folder DIR ...] [--s3 s3://bucket/prefix ...] [--settle S]

Every default comes from the settings (--config or CLMER_CONFIG): serve.watch_folders / watch_s3,
scoring.settle_seconds, serve.watch_interval_s, serve.drop_attempts, serve.drop_run_grace_s.

A drop is ready when its listing (names, sizes, mtimes/ETags) stayed the same for `--settle`
seconds. Each ready listing is sent once and remembered in a state file across restarts, first as
"sent", and as "done" only once a score-drop run for it completed: a run that crashed (a stop in the
middle of scoring) or never appeared gets the drop sent again, up to `--attempts` times. The scoring
flow skips content it scored before, so a repeated event never scores a file twice.
Webhooks are Prefect Cloud only, hence a watcher process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import time
from pathlib import Path
from typing import Callable

from clmer import atomic
from clmer.serving.drops import Settler, drop_source, listing_digest
from flows.common import settings_from


def resource_id(uri: str) -> str:
    return "clmer.drop." + hashlib.sha256(uri.encode()).hexdigest()[:16]


def emit_ready(uri: str, digest: str, n_files: int) -> None:
    from prefect.events import emit_event

    emit_event(event="clmer.drop.ready", resource={"prefect.resource.id": resource_id(uri), "clmer.drop.uri": uri},
               payload={"drop": uri, "listing": digest, "files": n_files})


RunsFor = Callable[[str, float], list[dict]]  # (drop uri, sent at epoch s) -> score-drop runs since then
WAITING = {"SCHEDULED", "PENDING", "RUNNING", "CANCELLING", "PAUSED"}


def prefect_runs(deployment: str = "score-drop") -> RunsFor:
    """Score-drop runs of one drop created since it was sent, read from the Prefect API (PREFECT_API_URL,
    with PREFECT_API_AUTH_STRING when logins are on)."""
    from clmer.ops.prefect_api import PrefectAPI, parse_time

    api = PrefectAPI()

    def runs(uri: str, since: float) -> list[dict]:
        dep = api.deployments([deployment]).get(deployment)
        if dep is None:
            return []
        return [r for r in api.flow_runs([dep["id"]], limit=100)
                if r["parameters"].get("drop") == uri and parse_time(r["created"]).timestamp() >= since - 5]

    return runs


class Watcher:
    def __init__(self, locations: list[str], settle: float, state_file: Path, emit=emit_ready,
                 runs: RunsFor | None = None, attempts: int = 3, grace: float = 120.0, clock=time.time,
                 exclude: list[str] = ()):
        # `exclude`: the scoring output folder, when it sits inside a watched folder: its files
        # change on every run and must not make the drop look new again.
        self.sources = {loc: drop_source(loc, exclude=exclude) for loc in locations}
        self.settlers = {loc: Settler(settle) for loc in locations}
        self.state_file = state_file
        loaded = json.loads(state_file.read_text()) if state_file.exists() else {}
        # an older state file held only the digest: those drops were sent and are taken as done
        self.state: dict[str, dict] = {k: v if isinstance(v, dict) else {"digest": v, "status": "done", "attempts": 1,
                                                                          "sent_at": 0.0} for k, v in loaded.items()}
        self.emit, self.runs, self.attempts, self.grace, self.clock = emit, runs, attempts, grace, clock

    def poll(self) -> list[str]:
        """One look at every location; returns the drops sent (or sent again) now."""
        fired = []
        for loc, source in self.sources.items():
            try:
                files = source.list()
            except Exception as exc:  # S3 hiccup or a folder being moved: look again next time
                print(f"watcher: cannot list {loc}: {exc}", flush=True)
                continue
            entry = self.state.get(loc)
            if self.settlers[loc].observe(files) and (entry is None or entry["digest"] != listing_digest(files)):
                self._send(loc, source.uri, listing_digest(files), len(files), 1)
                fired.append(loc)
            elif entry is not None and entry["status"] == "sent" and self._follow(loc, source.uri, entry):
                fired.append(loc)
        return fired

    def _send(self, loc: str, uri: str, digest: str, n_files: int, attempt: int) -> None:
        self.emit(uri, digest, n_files)
        self.state[loc] = {"digest": digest, "files": n_files, "status": "sent", "attempts": attempt,
                           "sent_at": self.clock()}
        self._save()

    def _follow(self, loc: str, uri: str, entry: dict) -> bool:
        """Done once a run for the drop completed; sent again if its runs all ended otherwise, or none
        appeared within the grace time. Returns True when it sent the drop again."""
        if self.runs is None:  # nobody to ask: sending is all we can do
            entry["status"] = "done"
            self._save()
            return False
        try:
            states = {r["state_type"] for r in self.runs(uri, entry["sent_at"])}
        except Exception as exc:  # the server is restarting: ask again next time
            print(f"watcher: cannot read the runs of {uri}: {type(exc).__name__}", flush=True)
            return False
        if "COMPLETED" in states:
            entry["status"] = "done"
            self._save()
            print(f"drop scored: {uri}", flush=True)
            return False
        if states & WAITING or (not states and self.clock() - entry["sent_at"] < self.grace):
            return False
        if entry["attempts"] >= self.attempts:
            entry["status"] = "gave_up"
            self._save()
            print(f"watcher: giving up on {uri} after {entry['attempts']} attempts (runs: {sorted(states)})", flush=True)
            return False
        print(f"watcher: sending {uri} again (runs so far: {sorted(states) or 'none'})", flush=True)
        self._send(loc, uri, entry["digest"], entry.get("files", 0), entry["attempts"] + 1)
        return True

    def _save(self) -> None:
        atomic.write_json(self.state_file, self.state, indent=1)


def options(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line, every value not given taken from the settings (one place holds defaults)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--config", help="settings file (default: $CLMER_CONFIG); every default below comes from it")
    ap.add_argument("--folder", action="append", help="a folder to watch (default: serve.watch_folders)")
    ap.add_argument("--s3", action="append", help="an s3://bucket/prefix to watch (default: serve.watch_s3)")
    ap.add_argument("--settle", type=float, help="seconds a drop must stay unchanged (scoring.settle_seconds)")
    ap.add_argument("--interval", type=float, help="seconds between polls (serve.watch_interval_s)")
    ap.add_argument("--state", type=Path, help="the watcher's state file (default: <serve.run_dir>/watcher_state.json)")
    ap.add_argument("--attempts", type=int, help="send a drop at most this often (serve.drop_attempts)")
    ap.add_argument("--grace", type=float, help="seconds to wait for a run to appear (serve.drop_run_grace_s)")
    ap.add_argument("--exclude", action="append", help="a folder inside a drop that is not part of it "
                                                       "(default: scoring.out_dir)")
    args = ap.parse_args(argv)
    from clmer.ops.services import run_dir_of

    settings = settings_from(args.config)
    s = settings.serve
    given = lambda name, default: default if getattr(args, name) is None else getattr(args, name)  # noqa: E731
    args.folder = given("folder", [] if args.s3 else s.watch_folders)  # --s3 alone watches only S3
    args.s3 = given("s3", s.watch_s3)
    args.settle, args.interval = given("settle", settings.scoring.settle_seconds), given("interval", s.watch_interval_s)
    args.attempts, args.grace = given("attempts", s.drop_attempts), given("grace", s.drop_run_grace_s)
    args.state = given("state", run_dir_of(settings) / "watcher_state.json")
    args.exclude = given("exclude", [str(settings.scoring.out_dir)])
    if not args.folder + args.s3:
        ap.error("nothing to watch: give --folder or --s3, or set serve.watch_folders / serve.watch_s3")
    return args


def main() -> None:
    args = options()
    for folder in args.folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    args.state.parent.mkdir(parents=True, exist_ok=True)
    locations = args.folder + args.s3
    watcher = Watcher(locations, args.settle, args.state, runs=prefect_runs(), attempts=args.attempts,
                      grace=args.grace, exclude=args.exclude)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print(f"watching {', '.join(locations)} (settle {args.settle} s)", flush=True)
    while not stop:
        for loc in watcher.poll():
            print(f"drop ready: {loc}", flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
