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
         "--enable-logging=stderr", "--v=0"]
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


def run_chromium(binary: str, url: str, extra: list[str], timeout: float = 60.0, budget_ms: int = 5000,
                 env: dict | None = None) -> BrowserRun:
    """One headless Chromium run on `url` with a throw-away profile. `budget_ms` of virtual time lets
    the page's scripts and fetches settle (a single-page app like MLflow's UI needs more than a report);
    `env` adds variables, e.g. FONTCONFIG_FILE to choose which system fonts exist."""
    with tempfile.TemporaryDirectory(prefix="clmer-chromium-") as profile:
        env = {**os.environ, "HOME": profile, **(env or {})}  # nothing of the user's profile, cache or crash dumps
        cmd = [binary, *FLAGS, f"--virtual-time-budget={budget_ms}", f"--user-data-dir={profile}", *extra, url]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL, cwd=profile)
    return BrowserRun(proc.returncode, proc.stdout, proc.stderr)


def _url(page: Path | str) -> str:
    return page if isinstance(page, str) else page.resolve().as_uri()


def dump_dom(binary: str, page: Path | str, **kwargs) -> BrowserRun:
    """The DOM after load and scripts (stdout), with the console log (stderr). `page`: a file or a URL."""
    return run_chromium(binary, _url(page), ["--dump-dom"], **kwargs)


def screenshot(binary: str, page: Path | str, png: Path, size: tuple[int, int] = (1200, 1600), **kwargs) -> BrowserRun:
    return run_chromium(binary, _url(page), [f"--screenshot={png.resolve()}", f"--window-size={size[0]},{size[1]}"],
                        **kwargs)


def latin_only_fontconfig(folder: Path) -> dict:
    """Environment for a Chromium that sees no system font but matplotlib's DejaVu (Latin, Greek,
    Cyrillic; no CJK): what a machine without CJK fonts shows. Returns {"FONTCONFIG_FILE": path}."""
    import matplotlib

    fonts = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    folder.mkdir(parents=True, exist_ok=True)
    conf = folder / "fonts.conf"
    conf.write_text('<?xml version="1.0"?>\n<!DOCTYPE fontconfig SYSTEM "fonts.dtd">\n<fontconfig>'
                    f"<dir>{fonts}</dir><cachedir>{folder / 'cache'}</cachedir></fontconfig>\n", encoding="utf-8")
    return {"FONTCONFIG_FILE": str(conf)}


def keep_screenshot(png: Path) -> None:
    """Copy a screenshot to $CLMER_SCREENSHOT_DIR when set, for a person to look at after the run."""
    target = os.environ.get("CLMER_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(png, Path(target) / png.name)


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


# -- a page driven over the DevTools protocol -----------------------------------------------------

class DevToolsPage:
    """One headless Chromium tab driven over the DevTools protocol, for pages a person reaches by a
    click rather than a URL (Prefect's flow-run tabs: the UI rewrites `?tab=` to its default on load).

    Uncaught page exceptions are collected in `exceptions`. Use as a context manager; the throw-away
    profile goes with it."""

    def __init__(self, binary: str, size: tuple[int, int] = (1400, 900), timeout: float = 60.0) -> None:
        import json
        import time
        import urllib.request

        from websockets.sync.client import connect

        self._json, self.timeout, self.exceptions = json, timeout, []
        self._profile = tempfile.TemporaryDirectory(prefix="clmer-chromium-")
        profile = Path(self._profile.name)
        self._ws = None
        self._proc = subprocess.Popen(
            [binary, *FLAGS, "--disable-crash-reporter", "--disable-breakpad", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", "about:blank"],
            env={**os.environ, "HOME": str(profile)}, cwd=profile, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            active = profile / "DevToolsActivePort"  # Chromium writes the port it chose here
            deadline = time.monotonic() + timeout
            while True:
                text = active.read_text() if active.exists() else ""
                if text.count("\n") >= 1:
                    break
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    raise RuntimeError(f"Chromium did not open its DevTools port within {timeout:.0f} s")
                time.sleep(0.1)
            page = None
            while page is None:  # the first tab may be listed a moment after the port opens
                with urllib.request.urlopen(f"http://127.0.0.1:{int(text.split()[0])}/json/list", timeout=timeout) as r:
                    page = next((t for t in json.load(r) if t["type"] == "page"), None)
                if page is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError("Chromium listed no page to drive")
                    time.sleep(0.1)
            self._ws = connect(page["webSocketDebuggerUrl"], max_size=64 * 2**20, open_timeout=timeout)
            self._next = 0
            self.call("Runtime.enable")
            self.call("Page.enable")
        except BaseException:
            self.close()  # no browser or profile outlives a failed start
            raise

    def __enter__(self) -> DevToolsPage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Close the browser, end every process it started (renderers keep writing to the profile for a
        moment after the browser process exits), then remove the profile."""
        import signal
        import time

        if getattr(self, "_ws", None) is not None:
            try:
                self.call("Browser.close")
            except Exception:  # noqa: BLE001 - already gone; the signals below make sure
                pass
            self._ws.close()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        if self._proc.poll() is None:
            self._proc.wait()
        for _ in range(20):
            try:
                self._profile.cleanup()
                return
            except OSError:
                time.sleep(0.25)
        self._profile.cleanup()

    def call(self, method: str, **params) -> dict:
        import time

        self._next += 1
        self._ws.send(self._json.dumps({"id": self._next, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout  # events keep arriving; the answer must come in time
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{method}: no answer from Chromium within {self.timeout:.0f} s")
            message = self._json.loads(self._ws.recv(timeout=left))
            if message.get("method") == "Runtime.exceptionThrown":
                details = message["params"]["exceptionDetails"]
                self.exceptions.append(details.get("exception", {}).get("description") or details.get("text", ""))
            if message.get("id") == self._next:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]

    def goto(self, url: str) -> None:
        """Navigate and wait until the new document is the one answering (Page.navigate can return
        while the old page still shows, and a wait could then pass on it)."""
        before = self.evaluate("performance.timeOrigin")
        self.call("Page.navigate", url=url)
        self.wait_for(f"performance.timeOrigin !== {before!r} && document.readyState !== 'loading'",
                      what=f"the new document at {url}")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression!r} threw: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def wait_for(self, expression: str, seconds: float = 60.0, what: str = ""):
        """Poll `expression` until it is truthy; its value. Fails naming `what` and the page's text."""
        import time

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except RuntimeError:
                value = None  # the page is between documents
            if value:
                return value
            time.sleep(0.25)
        text = self.evaluate("document.body ? document.body.innerText : ''") or ""
        raise AssertionError(f"waited {seconds:.0f} s for {what or expression}; the page shows:\n{text[:2000]}")

    def text(self) -> str:
        return self.evaluate("document.body.innerText")

    def screenshot(self, png: Path) -> None:
        import base64

        png.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
