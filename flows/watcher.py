"""Watch a folder and/or S3 prefixes for drops; emit `clmer.drop.ready` once per settled drop.

    python -m flows.watcher [--folder Test_Data] [--s3 s3://bucket/prefix ...] [--settle 5] [--interval 2]

A drop is ready when its listing (names, sizes, mtimes/ETags) stayed the same for `--settle`
seconds. Each ready listing is emitted once (remembered in a state file across restarts); the
scoring flow itself skips content it scored before, so a repeated event is harmless.
Webhooks are Prefect Cloud only, hence a watcher process.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import signal
import time
from pathlib import Path

from clmer import atomic
from clmer.serving.drops import Settler, drop_source, listing_digest


def resource_id(uri: str) -> str:
    return "clmer.drop." + hashlib.sha256(uri.encode()).hexdigest()[:16]


def emit_ready(uri: str, digest: str, n_files: int) -> None:
    from prefect.events import emit_event

    emit_event(event="clmer.drop.ready", resource={"prefect.resource.id": resource_id(uri), "clmer.drop.uri": uri},
               payload={"drop": uri, "listing": digest, "files": n_files})


class Watcher:
    def __init__(self, locations: list[str], settle: float, state_file: Path, emit=emit_ready,
                 exclude: list[str] = ()):
        # `exclude`: the scoring output folder, when it sits inside a watched folder: its files
        # change on every run and must not make the drop look new again.
        self.sources = {loc: drop_source(loc, exclude=exclude) for loc in locations}
        self.settlers = {loc: Settler(settle) for loc in locations}
        self.state_file = state_file
        self.emitted: dict[str, str] = json.loads(state_file.read_text()) if state_file.exists() else {}
        self.emit = emit

    def poll(self) -> list[str]:
        """One look at every location; returns the drops emitted now."""
        fired = []
        for loc, source in self.sources.items():
            try:
                files = source.list()
            except Exception as exc:  # S3 hiccup or a folder being moved: look again next time
                print(f"watcher: cannot list {loc}: {exc}", flush=True)
                continue
            if self.settlers[loc].observe(files) and self.emitted.get(loc) != listing_digest(files):
                self.emit(source.uri, listing_digest(files), len(files))
                self.emitted[loc] = listing_digest(files)
                atomic.write_text(self.state_file, json.dumps(self.emitted, indent=1))
                fired.append(loc)
        return fired


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folder", action="append", default=[])
    ap.add_argument("--s3", action="append", default=[])
    ap.add_argument("--settle", type=float, default=5.0)
    ap.add_argument("--interval", type=float, default=2.0)
    ap.add_argument("--state", default=".run/watcher_state.json")
    ap.add_argument("--exclude", action="append", default=[], help="A folder inside a drop that is not part of it.")
    args = ap.parse_args()
    locations = args.folder + args.s3 or ["Test_Data"]
    for folder in args.folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
    Path(args.state).parent.mkdir(parents=True, exist_ok=True)
    watcher = Watcher(locations, args.settle, Path(args.state), exclude=args.exclude)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    print(f"watching {', '.join(locations)} (settle {args.settle} s)", flush=True)
    while not stop:
        for loc in watcher.poll():
            print(f"drop ready: {loc}", flush=True)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
