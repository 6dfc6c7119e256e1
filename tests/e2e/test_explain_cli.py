"""`clmer explain CLIP --model DIR`: JSON valid against its schema, an HTML page that opens in real
headless Chromium with plots drawn and no console errors, thumbnails blurred."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from clmer.cli import app
from clmer.explain.clip import validate_explanation
from tests.e2e.browser import ElementIndex, console_messages, dump_dom, require_chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_explain_writes_valid_json_and_a_page_chromium_renders(trained_demo, tmp_path, monkeypatch):
    s = trained_demo["settings"]
    for key, value in {"CLMER_HOME": str(s.paths.home), "CLMER_MODEL_STORE": str(s.paths.model_store),
                       "CLMER_FEATURE_STORE": str(s.paths.feature_store)}.items():
        monkeypatch.setenv(key, value)
    clip = next((trained_demo["corpus"] / "Raw").rglob("*.mp4"))
    out = tmp_path / "results"
    result = CliRunner().invoke(app, ["explain", str(clip), "--model", str(trained_demo["model_dir"]), "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads((out / f"{clip.stem}.json").read_text(encoding="utf-8"))
    validate_explanation(doc)
    assert doc["prediction"]["polarity"] in ("negative", "neutral", "positive")
    assert abs(sum(doc["modality_shares"].values()) - 1) < 1e-4
    assert doc["key_frames"] and all("thumbnail" in k for k in doc["key_frames"])
    assert doc["audio_spans"] and doc["decision_path"]["modality_verdicts"]
    # Thumbnails are blurred: nothing sharp is left (a drawn face has crisp edges before blurring).
    thumb = np.asarray(Image.open(out / doc["key_frames"][0]["thumbnail"]).convert("L"), dtype=float)
    edges = np.abs(np.diff(thumb, axis=1)).max()
    assert edges < 60, edges

    chromium = require_chromium()
    run = dump_dom(chromium, out / f"{clip.stem}.html")
    assert run.returncode == 0
    assert console_messages(run.stderr) == []
    dom = ElementIndex(run.stdout)
    assert 'data-rendered="ok"' in run.stdout
    drawn = {"rect", "path", "line", "img", "text"}
    for plot in ("plot-shares", "plot-audio", "plot-frames"):
        assert drawn & set(dom.descendants.get(plot, [])), plot
