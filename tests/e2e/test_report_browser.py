"""The written HTML report in a real headless Chromium: scripts run clean, plots drawn, pixels painted.

Needs Debian's `chromium` (the Makefile installs it for CI). Without it the tests skip, or fail
when CLMER_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clmer.explain.report_html import write_report
from tests.code.test_report_html import _words, empty_doc, hostile_doc, sample_doc, sample_frames
from tests.e2e.browser import (ElementIndex, console_messages, dump_dom, keep_screenshot, latin_only_fontconfig,
                               require_chromium, screenshot)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DRAWN = {"rect", "path", "line", "img", "text"}


@pytest.fixture(scope="module")
def chromium() -> str:
    return require_chromium()


def _loaded(chromium: str, page: Path) -> ElementIndex:
    run = dump_dom(chromium, page)
    assert run.returncode == 0, run.stderr[-2000:]
    assert console_messages(run.stderr) == [], console_messages(run.stderr)
    assert "<body" in run.stdout, "no DOM dumped"
    return ElementIndex(run.stdout)


def test_detector_catches_a_broken_page(chromium, tmp_path):
    """The console check must be able to fail: a page that throws, logs an error or breaks its CSP."""
    page = tmp_path / "broken.html"
    page.write_text("<!DOCTYPE html><html><body><p>x</p><script>throw new Error('boom');</script></body></html>")
    found = console_messages(dump_dom(chromium, page).stderr)
    assert any("Uncaught Error: boom" in m for m in found), found

    page.write_text("<!DOCTYPE html><html><body><script>console.error('bad thing');</script></body></html>")
    assert any("bad thing" in m for m in console_messages(dump_dom(chromium, page).stderr))

    # Our own page with its script altered: the CSP hash no longer matches, the browser refuses it.
    _, html_path = write_report(sample_doc(), tmp_path, "tampered")
    text = html_path.read_text(encoding="utf-8")
    html_path.write_text(text.replace('?"ok":"incomplete"', '?"OK":"incomplete"'), encoding="utf-8")
    run = dump_dom(chromium, html_path)
    assert any("Content Security Policy" in m for m in console_messages(run.stderr))
    assert ElementIndex(run.stdout).body_attrs().get("data-rendered") is None


@pytest.mark.parametrize("make", [sample_doc, hostile_doc, empty_doc])
def test_report_renders_without_console_errors(chromium, tmp_path, make):
    frames = sample_frames() if make is not empty_doc else None
    _, html_path = write_report(make(), tmp_path, "clip", frames)
    dom = _loaded(chromium, html_path)
    assert dom.body_attrs().get("data-rendered") == "ok"
    for plot in ("plot-shares", "plot-audio", "plot-frames"):
        assert plot in dom.descendants, plot
        drawn = DRAWN & set(dom.descendants[plot])
        assert drawn or "p" in dom.descendants[plot], (plot, dom.descendants[plot])
    assert "rect" in dom.descendants["plot-shares"]
    if make is not empty_doc:
        assert "rect" in dom.descendants["plot-audio"]
        assert dom.descendants["plot-frames"].count("img") == 2
    # Injected markup stayed text: the only script in the live DOM is the page's own.
    assert [t for t, _ in dom.tags].count("script") == 1


def test_screenshot_is_painted(chromium, tmp_path):
    from PIL import Image

    _, html_path = write_report(sample_doc(), tmp_path, "clip", sample_frames())
    png = tmp_path / "shot.png"
    run = screenshot(chromium, html_path, png)
    assert run.returncode == 0 and png.exists(), run.stderr[-2000:]
    assert console_messages(run.stderr) == []
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape == (1600, 1200, 3)
    colours = np.unique(image.reshape(-1, 3)[::7], axis=0)
    assert len(colours) > 50, "screenshot is (nearly) a single colour"
    # The bars' colours made it to the screen (text blue, vision purple from the shares plot).
    pixels = {tuple(c) for c in colours}
    assert (0x00, 0x72, 0xB2) in pixels and (0xCC, 0x79, 0xA7) in pixels


# -- Chinese: glyphs from the page itself, on a machine with no CJK font -------------------------

ZH = "今天我非常开心，天气很好，但是路上的交通太糟糕了。"
PROBE = "开心好糟\ue000"  # four characters of the transcript, then one no font has (a box everywhere)


def zh_doc() -> dict:
    doc = sample_doc(ZH)
    doc["language"], doc["clip"] = "zh", "旅行/0003"
    doc["top_words"] = _words(ZH, {"开心": 0.3, "很好": 0.12, "糟糕": -0.1})
    doc["reasoning"]["text"] = "说话人说自己非常开心，并且在微笑。"
    return doc


def _probe_page(report: str, with_font: bool) -> str:
    """The report's own head (its CSP and embedded font) over one 64 px cell per PROBE character."""
    head = report[:report.index("<body>")]
    if not with_font:
        head = head[:head.index("@font-face")] + head[head.index("}", head.index("@font-face")) + 1:]
    cells = "".join(f'<div style="position:absolute;left:{10 + 90 * i}px;top:10px;width:80px;height:80px;'
                    f'font-size:64px;line-height:80px">{c}</div>' for i, c in enumerate(PROBE))
    return f'{head}<body style="margin:0;background:#fff">{cells}</body></html>'


def _cells(chromium: str, page: Path, env: dict) -> list[np.ndarray]:
    from PIL import Image

    png = page.with_suffix(".png")
    run = screenshot(chromium, page, png, (800, 300), env=env)  # small windows come out blank in headless mode
    assert run.returncode == 0 and console_messages(run.stderr) == [], run.stderr[-2000:]
    image = np.asarray(Image.open(png).convert("L"), dtype=float)
    return [image[10:90, 10 + 90 * i: 90 + 90 * i] for i in range(len(PROBE))]


def _differ(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.abs(a - b).mean()) > 2.0


def test_chinese_renders_from_the_embedded_font_without_system_fonts(chromium, tmp_path):
    from clmer.explain.fonts import find_cjk_font

    if find_cjk_font() is None:
        pytest.skip("no CJK font to embed (the noto-cjk-sans-otc dependency is missing)")
    env = latin_only_fontconfig(tmp_path / "fontconfig")
    _, html_path = write_report(zh_doc(), tmp_path, "report_zh", sample_frames())
    report = html_path.read_text(encoding="utf-8")

    control = tmp_path / "probe_without_font.html"
    control.write_text(_probe_page(report, with_font=False), encoding="utf-8")
    *hanzi, box = _cells(chromium, control, env)
    assert not any(_differ(h, box) for h in hanzi), "this Chromium found a CJK font of its own: the test proves nothing"

    probe = tmp_path / "probe.html"
    probe.write_text(_probe_page(report, with_font=True), encoding="utf-8")
    *hanzi, box = _cells(chromium, probe, env)
    assert all(_differ(h, box) for h in hanzi)  # glyphs, not boxes
    assert all(_differ(a, b) for i, a in enumerate(hanzi) for b in hanzi[i + 1:])  # and each its own

    dom = _loaded_with(chromium, html_path, env)
    assert dom.body_attrs().get("data-rendered") == "ok"
    png = tmp_path / "report_zh.png"
    run = screenshot(chromium, html_path, png, (1200, 2800), env=env)
    assert run.returncode == 0 and png.stat().st_size > 50_000
    keep_screenshot(png)


def _loaded_with(chromium: str, page: Path, env: dict) -> ElementIndex:
    run = dump_dom(chromium, page, env=env)
    assert run.returncode == 0 and console_messages(run.stderr) == [], console_messages(run.stderr)  # CSP let the font in
    return ElementIndex(run.stdout)
