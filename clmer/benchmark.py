"""`clmer benchmark`: the whole protocol on a real corpus (CH-SIMS v2 or CMU-MOSEI in the MMSA layout)
for users who have it, and the tables the original system reported (WAR, UAR, cross-lingual retention)
beside MMSA's metrics.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pandas as pd

from clmer import pipeline
from clmer.config import Settings
from clmer.data.corpus import read_corpus
from clmer.model.evaluate import table
from clmer.data.validate import validate_corpus


@dataclass
class BenchmarkResult:
    in_language: pd.DataFrame
    cross_lingual: pd.DataFrame | None
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        parts = ["== in-language (test split): model vs. baselines and single modalities ==",
                 self.in_language.round(4).to_string(index=False)]
        if self.cross_lingual is not None:
            cols = ["train", "test", "in_language_WAR", "cross_WAR", "retention_WAR", "in_language_UAR", "cross_UAR",
                    "retention_UAR", "majority_WAR", "chance_WAR"]
            parts += ["== cross-lingual (original system's table: WAR, UAR, retention) ==",
                      self.cross_lingual[cols].round(4).to_string(index=False)]
        parts += [f"note: {n}" for n in self.notes]
        return "\n".join(parts)


def run(flavour: str, root: Path, settings: Settings, out_dir: Path, other_root: Path | None = None,
        other_flavour: str | None = None, log: Callable[[dict], None] | None = None) -> BenchmarkResult:
    out_dir = Path(out_dir)
    notes: list[str] = []
    roots = {"main": (Path(root), flavour)}
    if other_root:
        roots["other"] = (Path(other_root), other_flavour or ("mosei" if flavour == "chsims2" else "chsims2"))
    features = {}
    for name, (path, flav) in roots.items():
        report = validate_corpus(path, out_dir / f"validate_{name}", flavour=flav, max_reject_fraction=1.0,
                                 run_contracts=False)
        if report.n_accepted == 0:
            raise ValueError(f"{path}: no usable clips ({report.fatal or 'every row was rejected'})")
        if report.n_rejected:
            notes.append(f"{path}: {report.n_rejected} row(s) rejected, see {report.out_dir / 'quarantine.csv'}")
        features[name] = pipeline.extract(path, settings, out_dir / f"extract_{name}")

    model_dir = pipeline.train(root, features["main"], settings, out_dir / "train", log=log, flavour=flavour)
    ev = pipeline.evaluate(model_dir, root, features["main"], settings, out_dir / "evaluate", flavour=flavour)
    in_language = table(json.loads(ev.read_text()))

    corpora: pipeline.Corpora = {}
    for name, (path, flav) in roots.items():
        for lang in sorted(read_corpus(path, flavour=flav, strict=False).manifest["language"].unique()):
            corpora.setdefault(lang, (path, features[name], flav))
    cross = None
    if {"zh", "en"} <= set(corpora):
        cross = pd.read_csv(pipeline.cross_lingual(corpora, settings, out_dir / "cross_lingual", log=log))
    else:
        notes.append("only one language available: pass --other-root with a corpus of the other language "
                     "for the cross-lingual table")
    in_language.to_csv(out_dir / "in_language.csv", index=False)
    return BenchmarkResult(in_language, cross, notes)
