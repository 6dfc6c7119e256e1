"""How many times over `clmer score` reads a clip's bytes, measured from the system calls (strace).

    python benchmarks/media_reads.py --model RUN_OR_MODEL_DIR [--clip FILE]

Scores one clip twice with `clmer score` under `strace -f -y` (every process, every descriptor named
by its path, so the decoding child and descriptors passed over a socket are counted too): first with
an empty feature store, then with the store that run filled. Prints the bytes read from the clip's
file over its size for each. Needs strace (Debian: `apt-get install strace`). Without --clip, a clip
of the demo corpus generator is written and used.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

_READ = re.compile(r"^\d+\s+(?:read|pread64|readv|preadv|preadv2)\((\d+)<(?P<path>[^>]*)>.*\)\s+=\s+(?P<n>\d+)")


def bytes_read(trace: Path, media: Path) -> int:
    """Sum of what every read-like call on a descriptor of `media` returned."""
    target = os.path.realpath(media)
    total = 0
    for line in trace.read_text(errors="replace").splitlines():
        m = _READ.match(line)
        if m and m.group("path") == target:
            total += int(m.group("n"))
    return total


def score_traced(clip: Path, model: str, out: Path, store: Path, trace: Path) -> None:
    env = dict(os.environ, CLMER_FEATURE_STORE=str(store))
    cmd = ["strace", "-f", "--seccomp-bpf", "-y", "-qq", "-s", "0", "-o", str(trace),
           "-e", "trace=read,pread64,readv,preadv,preadv2", sys.executable, "-m", "clmer.cli", "score", str(clip),
           "--model", model, "--out", str(out)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"clmer score failed:\n{proc.stdout}\n{proc.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="a train run folder or a model folder")
    ap.add_argument("--clip", type=Path, help="the clip to score (default: one written by the demo generator)")
    args = ap.parse_args()
    if shutil.which("strace") is None:
        raise SystemExit("strace is not installed")
    with tempfile.TemporaryDirectory(prefix="media-reads-") as tmp:
        tmp = Path(tmp)
        drop = tmp / "drop"
        drop.mkdir()
        if args.clip:
            clip = drop / args.clip.name
            shutil.copyfile(args.clip, clip)
        else:
            from clmer.synthetic.demo_corpus import make_demo_corpus

            make_demo_corpus(tmp / "src", n=3, seed=77, variant_fraction=0.0)
            clip = drop / "clip.mp4"
            shutil.copyfile(next(iter(sorted((tmp / "src" / "Raw").rglob("*.mp4")))), clip)
        size = clip.stat().st_size
        for case in ("fresh feature store", "warm feature store"):
            trace = tmp / f"trace-{case.split()[0]}.txt"
            score_traced(clip, args.model, tmp / f"out-{case.split()[0]}", tmp / "features", trace)
            n = bytes_read(trace, clip)
            print(f"{case}: read {n} bytes of a {size}-byte clip = {n / size:.2f} x its size")


if __name__ == "__main__":
    main()
