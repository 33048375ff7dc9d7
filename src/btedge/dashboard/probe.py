"""Measure how long a journal row takes to reach the dashboard in a real browser.

Used by the browser test and ``bench/bench_dashboard.py``: :func:`chromium` starts Debian's
chromium headless through chromedriver (selenium); :class:`LatencyProbe` polls the journal
(read-only) and the page's text, and pairs each new bar and fill with the moment the page first
shows it. A row's time is the writer's own stamp (``bars.updated``, ``executions.booked``), so the
latency is journal row to browser, whatever the polling.
"""
from __future__ import annotations

import calendar
import importlib.util
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from btedge.dashboard.journal_view import connect_ro

_BAR = re.compile(r"last bar (\S+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)")
_FILLS = re.compile(r"fills (\d+)")
_PAGE_TEXT = ("return Array.from(document.querySelectorAll('[data-testid=\"stMarkdownContainer\"],"
              "[data-testid=\"stAlert\"]')).map(e => e.innerText).join('\\n')")


class BrowserUnavailable(RuntimeError):
    """chromium or chromedriver is missing, or the browser would not start."""


def find_browser() -> tuple[str, str]:
    """The paths of chromium and chromedriver on PATH, selenium importable; else
    :class:`BrowserUnavailable` saying what to install."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        raise BrowserUnavailable(f"chromium={browser}, chromedriver={driver}: install Debian's chromium and "
                                 "chromium-driver (apt-get install chromium chromium-driver)")
    if importlib.util.find_spec("selenium") is None:
        raise BrowserUnavailable("selenium is not installed: pip install 'btedge[dashboard]'")
    return browser, driver


def chromium(width: int = 1280, height: int = 1500) -> Any:
    """A headless chromium driven by chromedriver (the system's binaries, found on PATH)."""
    browser, driver = find_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = browser
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    try:
        return webdriver.Chrome(service=Service(driver), options=options)
    except Exception as exc:  # selenium raises WebDriverException subclasses and OSErrors
        raise BrowserUnavailable(f"chromium did not start: {exc}") from None


@dataclass
class Seen:
    """Latencies in seconds, journal row to page, and what the page showed."""

    bars: list[float] = field(default_factory=list)
    fills: list[float] = field(default_factory=list)
    first_bar_at: float | None = None
    first_fill_at: float | None = None
    page: str = ""
    trace: list[tuple[float, str, str]] = field(default_factory=list)  # (time, 'journal'|'page', what)

    @staticmethod
    def summary(values: list[float]) -> str:
        if not values:
            return "none"
        return f"median {statistics.median(values):.2f} s, worst {max(values):.2f} s over {len(values)}"


class LatencyProbe:
    """Polls a journal and a page; :meth:`poll` once per loop, then read :attr:`seen`."""

    def __init__(self, driver: Any, journal: str | Path) -> None:
        self.driver, self.journal = driver, Path(journal)
        self.seen = Seen()
        self._bars: dict[tuple[str, float], float] = {}   # (symbol, bar_time) -> journal stamp, unresolved
        self._resolved_bars: set[tuple[str, float]] = set()
        self._fills: list[float] = []                      # booked stamps, oldest first
        self._fills_shown = 0

    def _read_journal(self) -> None:
        if not self.journal.exists():
            return
        try:
            db = connect_ro(self.journal)
            try:
                bars = db.execute("SELECT symbol, bar_time, updated FROM bars").fetchall()
                booked = [r[0] for r in db.execute("SELECT booked FROM executions ORDER BY booked")]
            finally:
                db.close()
        except sqlite3.Error:
            return
        for symbol, bar_time, updated in bars:
            key = (symbol, bar_time)
            if key not in self._resolved_bars and key not in self._bars:
                self._bars[key] = updated
                self.seen.trace.append((updated, "journal", f"bar {symbol} {bar_time:.0f}"))
        self._fills = booked

    def _shown(self) -> tuple[dict[str, float], int]:
        self.seen.page = text = self.driver.execute_script(_PAGE_TEXT) or ""
        shown = {m.group(1): calendar.timegm(time.strptime(m.group(2), "%Y-%m-%d %H:%M:%S"))
                 for m in _BAR.finditer(text)}
        fills = _FILLS.search(text)
        return shown, int(fills.group(1)) if fills else 0

    def poll(self) -> None:
        self._read_journal()
        shown, fills = self._shown()
        now = time.time()
        if not self.seen.trace or self.seen.trace[-1][2] != f"{shown} fills {fills}":
            self.seen.trace.append((now, "page", f"{shown} fills {fills}"))
        for key in [k for k in self._bars if k[0] in shown and shown[k[0]] >= k[1]]:
            self.seen.bars.append(now - self._bars.pop(key))
            self._resolved_bars.add(key)
            self.seen.first_bar_at = self.seen.first_bar_at or now
        for stamp in self._fills[self._fills_shown:min(fills, len(self._fills))]:
            self.seen.fills.append(now - stamp)
            self.seen.first_fill_at = self.seen.first_fill_at or now
        self._fills_shown = max(self._fills_shown, min(fills, len(self._fills)))

    def skip_backlog(self) -> None:
        """Forget the rows already in the journal (written before the page was open)."""
        self._read_journal()
        self._resolved_bars.update(self._bars)
        self._bars.clear()
        self._fills_shown = len(self._fills)

    def reset(self) -> Seen:
        """Start measuring afresh from now (after a warm-up): forget the rows already in the journal
        and what was seen; returns what was seen until now (the trace goes on)."""
        before = self.seen
        self.skip_backlog()
        self.seen = Seen(page=before.page, trace=before.trace)
        return before


def launch_dashboard(journal: str | Path, *extra: str, log: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``btedge-dashboard --journal JOURNAL --port 0 EXTRA...`` and return the process and the
    URL it printed, without waiting for it to serve (see :func:`wait_serving`)."""
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed with the process)
    process = subprocess.Popen([sys.executable, "-m", "btedge.dashboard.cli", "--journal", str(journal),
                                "--port", "0", *extra], stdout=subprocess.PIPE, stderr=out, text=True)
    line = process.stdout.readline()
    match = re.search(r"http://\S+", line)
    if not match:
        stop(process)
        raise RuntimeError(f"btedge-dashboard printed no URL (first line: {line!r}; exit {process.returncode})")
    return process, match.group(0)


def wait_serving(process: subprocess.Popen, url: str, timeout: float = 60.0) -> None:
    """Wait until ``url`` answers Streamlit's health check. Raises ``TimeoutError`` (the process
    stopped) if it does not within ``timeout`` seconds, or if the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    stop(process)
    raise TimeoutError(f"btedge-dashboard at {url} did not serve within {timeout:.0f} s "
                       f"(exit status {process.returncode})")


def start_dashboard(journal: str | Path, *extra: str, timeout: float = 60.0,
                    log: Path | None = None) -> tuple[subprocess.Popen, str]:
    """:func:`launch_dashboard`, then :func:`wait_serving`; returns the process and its URL."""
    process, url = launch_dashboard(journal, *extra, log=log)
    wait_serving(process, url, timeout)
    return process, url


def stop(*processes: subprocess.Popen, wait: float = 10.0) -> None:
    """Terminate processes we started: SIGTERM to each at once, then SIGKILL to any still running
    after ``wait`` seconds."""
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + wait
    for process in processes:
        try:
            process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(wait)
