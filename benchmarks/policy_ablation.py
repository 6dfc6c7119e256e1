"""The policy-stage ablation alone (section 1 of `clmer benchmark --ablations`), for a chosen few variants.

`clmer benchmark --ablations` also trains the default pipeline, the cross-lingual protocols and the
explanation study on every seed; when only the modality policy is in question, this runs the same
`clmer.model.ablation.run_seed` on the same splits for the variants named, and prints mean ± std over seeds.
`--split valid` scores on the validation split instead, which is where a default is chosen.

    CLMER_PROFILE=small python benchmarks/policy_ablation.py --root CORPUS --seeds 3 --out DIR \\
        --variants "warm-up only" "supervised gate" "RLVR" "RLVR + faithful-weight reward"
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    from clmer import pipeline
    from clmer.benchmark import mean_std
    from clmer.config import load_settings
    from clmer.model import ablation

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, required=True, help="corpus folder (label.csv, Raw/)")
    ap.add_argument("--flavour", default="chsims2", help="corpus flavour")
    ap.add_argument("--seeds", type=int, default=3, help="model seeds 0..n-1")
    ap.add_argument("--out", type=Path, required=True, help="folder for models and the raw rows (ablation.csv)")
    ap.add_argument("--variants", nargs="+", default=None, help=f"variants to run (default all: {list(ablation.VARIANTS)})")
    ap.add_argument("--split", choices=("valid", "test"), default="test",
                    help="split the variants are scored on: 'valid' to choose a default, 'test' to report it")
    args = ap.parse_args()

    settings = load_settings()
    features = pipeline.extract(args.root, settings, args.out / "extract")
    splits = pipeline.load_splits(args.root, features, settings, flavour=args.flavour)
    splits = splits | {"test": splits[args.split]}  # run_seed scores on "test"
    rows = []
    for seed in range(args.seeds):
        started = time.time()
        rows += ablation.run_seed(splits, settings, seed, args.out / "ablation", names=args.variants)
        print(f"seed {seed}: {time.time() - started:.0f} s", flush=True)
        pd.DataFrame(rows).to_csv(args.out / "ablation.csv", index=False)
    table = mean_std(pd.DataFrame(rows), ["variant"])
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
