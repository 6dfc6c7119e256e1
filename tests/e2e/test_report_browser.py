"""The written HTML report in a real headless Chromium: scripts run clean, plots drawn, pixels painted.

Needs Debian's `chromium` (the Makefile installs it for CI). Without it the tests skip, or fail
when CLMER_REQUIRE_BROWSER=1.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clmer.explain.report_html import write_report
from tests.code.test_report_html import empty_doc, hostile_doc, sample_doc, sample_frames
from tests.e2e.browser import ElementIndex, console_messages, dump_dom, require_chromium, screenshot

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
    # The bars' colours made it to the screen (text blue, audio orange from the shares plot).
    pixels = {tuple(c) for c in colours}
    assert (0x2E, 0x86, 0xDE) in pixels and (0xE6, 0x7E, 0x22) in pixels
