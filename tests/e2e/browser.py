"""Drive Debian's headless Chromium from its command line, and read what it prints and renders.

No playwright/selenium: ``chromium --headless --dump-dom`` gives the DOM after the page's scripts
ran, ``--screenshot`` a PNG, and ``--enable-logging=stderr`` every console message.

What Chromium (checked with 156) prints for console messages on stderr, one per line::

    [26369:26369:1125/094755.591509:INFO:CONSOLE:4] "Uncaught Error: boom", source: file:///tmp/x.html (4)

Older builds wrote ``INFO:CONSOLE(4)]`` instead of ``INFO:CONSOLE:4]``. The level is INFO for
console.log, console.warn, console.error, uncaught exceptions, rejected promises and Content
Security Policy violations alike, so a level cannot tell an error from chatter: every console
message counts as a problem (the report page logs nothing of its own). Loose "Uncaught ..." lines
in any other format are caught too.

Also a plain module with a tiny HTML element index, shared by the fast HTML tests.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--disable-default-apps", "--mute-audio", "--hide-scrollbars",
         "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
CONSOLE_RE = re.compile(r':(?P<level>[A-Z]+):CONSOLE(?:[:(](?P<line>\d+)\)?)?\]\s*(?P<message>.*)$')
UNCAUGHT_RE = re.compile(r"\bUncaught\b")


def find_chromium() -> str | None:
    """The Chromium binary: $CLMER_CHROMIUM if set, else the first of CANDIDATES on PATH."""
    override = os.environ.get("CLMER_CHROMIUM")
    if override:
        return override if shutil.which(override) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """Chromium's path; skip the test without it, or fail when CLMER_REQUIRE_BROWSER=1 (CI)."""
    import pytest

    path = find_chromium()
    if path:
        return path
    message = ("headless Chromium not found (looked for $CLMER_CHROMIUM, " + ", ".join(CANDIDATES)
               + "); install it with `apt-get install -y chromium`")
    if os.environ.get("CLMER_REQUIRE_BROWSER") == "1":
        pytest.fail(message + " -- CLMER_REQUIRE_BROWSER=1 requires it", pytrace=False)
    pytest.skip(message)


@dataclass
class BrowserRun:
    returncode: int
    stdout: str
    stderr: str


def run_chromium(binary: str, url: str, extra: list[str], timeout: float = 60.0) -> BrowserRun:
    """One headless Chromium run on `url` with a throw-away profile."""
    with tempfile.TemporaryDirectory(prefix="clmer-chromium-") as profile:
        env = {**os.environ, "HOME": profile}  # nothing of the user's profile, cache or crash dumps
        cmd = [binary, *FLAGS, f"--user-data-dir={profile}", *extra, url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL, cwd=profile)
    return BrowserRun(proc.returncode, proc.stdout, proc.stderr)


def dump_dom(binary: str, page: Path) -> BrowserRun:
    """The DOM after load and scripts (stdout), with the console log (stderr)."""
    return run_chromium(binary, page.resolve().as_uri(), ["--dump-dom"])


def screenshot(binary: str, page: Path, png: Path, size: tuple[int, int] = (1200, 1600)) -> BrowserRun:
    return run_chromium(binary, page.resolve().as_uri(),
                        [f"--screenshot={png.resolve()}", f"--window-size={size[0]},{size[1]}"])


def console_messages(stderr: str) -> list[str]:
    """Every console message (and loose 'Uncaught ...' line) in Chromium's stderr."""
    found = []
    for line in stderr.splitlines():
        match = CONSOLE_RE.search(line)
        if match:
            found.append(f"{match['level']}:CONSOLE {match['message']}")
        elif UNCAUGHT_RE.search(line):
            found.append(line.strip())
    return found


# -- a tiny element index over HTML text ----------------------------------------------------------

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class ElementIndex(HTMLParser):
    """Tags, attributes and, per element id, the tags of its descendants."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.descendants: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None]] = []
        self.feed(text)
        self.close()

    def _enter(self, tag: str, attrs: list, void: bool) -> None:
        attributes = {k: (v or "") for k, v in attrs}
        self.tags.append((tag, attributes))
        for _, owner in self._open:
            if owner is not None:
                self.descendants[owner].append(tag)
        if "id" in attributes:
            self.descendants.setdefault(attributes["id"], [])
        if not void:
            self._open.append((tag, attributes.get("id")))

    def handle_starttag(self, tag, attrs):
        self._enter(tag, attrs, tag in VOID)

    def handle_startendtag(self, tag, attrs):
        self._enter(tag, attrs, True)

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):  # tolerate unclosed inner tags
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def body_attrs(self) -> dict:
        return next((a for t, a in self.tags if t == "body"), {})
