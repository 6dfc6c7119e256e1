"""The drop's summary page (Test_Supplements/drop_summary.html) in a real headless Chromium: nothing logged to the
console, a plot drawn for every statistic that was tested, the drift verdict painted in its colour."""

from __future__ import annotations

import numpy as np
import pytest

from clmer.monitor.drift_html import LEVEL_COLOURS, page
from tests.code.test_drift_report import MODEL, clip
from tests.e2e.browser import ElementIndex, console_messages, dump_dom, keep_screenshot, require_chromium, screenshot

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _report():
    from clmer.config import DriftConfig
    from clmer.monitor.drift import drift_report
    from clmer.monitor.profile import build_profile

    rng = np.random.default_rng(0)
    profile = build_profile([clip(rng, "zh" if i % 2 else "en") for i in range(80)], ["valid"] * 30 + ["train"] * 50,
                            {"corpus": "hand-made"})
    rows = [clip(rng, "zh", brightness=0.08, loudness=3.0, audio_shift=3.0) for _ in range(8)]
    return drift_report(profile, rows, DriftConfig(), "/drops/夜间/day1", MODEL)


def test_drop_summary_renders_clean_with_a_plot_per_statistic(tmp_path):
    from PIL import Image

    chromium = require_chromium()
    report = _report()
    clips = [{"file": f"交通_{i}.mp4", "video_id": f"c{i}", "status": "ok", "polarity": "negative", "confidence": 0.6,
              "language": "zh"} for i in range(8)]
    html = tmp_path / "drop_summary.html"
    html.write_text(page(report, clips), encoding="utf-8")
    run = dump_dom(chromium, html)
    assert run.returncode == 0 and console_messages(run.stderr) == [], console_messages(run.stderr)
    dom = ElementIndex(run.stdout)
    assert [t for t, _ in dom.tags].count("svg") == sum(1 for a in report["analyses"] for s in a["statistics"]
                                                        if "plot" in s)
    png = tmp_path / "drop_summary.png"
    shot = screenshot(chromium, html, png, size=(1200, 1400))
    assert shot.returncode == 0 and console_messages(shot.stderr) == []
    pixels = {tuple(c) for c in np.unique(np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3), axis=0)}
    drift_rgb = tuple(int(LEVEL_COLOURS["drift"][i: i + 2], 16) for i in (1, 3, 5))
    assert drift_rgb in pixels  # the 'drift' badges made it to the screen
    keep_screenshot(png)
