"""eGeMAPS v02 through openSMILE: the standard affective-computing acoustic feature set (no weights).

eGeMAPS (Eyben et al., 2016) is the Interspeech/AVEC baseline for paralinguistics: 25 low-level
descriptors every 10 ms (pitch, loudness, jitter, shimmer, formants, spectral shape) and 88
utterance functionals over them. The store entry records which feature set and which openSMILE
build computed it, so a model trained on these features names exactly what it needs.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

NAME = "egemaps-v02"
PACKAGES = ("opensmile",)
LICENCE_SHORT = "audEERING research licence (non-commercial)"
LICENCE = ("opensmile Python package: MIT; the bundled openSMILE library: audEERING Research License "
           "(non-commercial research and teaching; commercial use needs a licence from audEERING)")
EXTRA_META = {"kind": "egemaps", "feature_set": "eGeMAPSv02"}


def _config_dir() -> Path:
    return Path(str(resources.files("opensmile") / "core" / "config" / "egemaps" / "v02"))


def sources() -> list[Path]:
    """The feature-set definition files: a different eGeMAPS definition is a different model."""
    return sorted(p for p in _config_dir().rglob("*") if p.is_file())


def build(out_dir: Path) -> dict[str, Any]:
    import opensmile

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    spec = {"feature_set": "eGeMAPSv02", "functionals": list(smile.feature_names),
            "low_level_descriptors": list(opensmile.Smile(
                feature_set=opensmile.FeatureSet.eGeMAPSv02,
                feature_level=opensmile.FeatureLevel.LowLevelDescriptors).feature_names),
            "opensmile_version": opensmile.__version__}
    (out_dir / "egemaps.json").write_text(json.dumps(spec, indent=2), encoding="utf-8")
    return EXTRA_META | {"n_functionals": len(spec["functionals"]), "n_lld": len(spec["low_level_descriptors"])}
