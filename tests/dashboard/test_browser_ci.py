"""The browser test's contract with CI: without chromium it fails (never skips) under ``CI=true``,
saying what to install. (Elsewhere it skips with the same words.) Runs ``test_browser.py`` in a child pytest whose PATH holds
no chromium, so this check does not need a browser itself."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BROWSER_TEST = Path(__file__).with_name("test_browser.py")


def _run_without_chromium(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PATH"] = str(tmp_path)  # an empty folder: neither chromium nor chromedriver on it
    if ci is not None:
        env["CI"] = ci
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-p", "no:cacheprovider", "-q", "-rA",
                           str(BROWSER_TEST)], env=env, cwd=BROWSER_TEST.parents[2], capture_output=True, text=True,
                          timeout=120)


def test_browser_test_fails_under_ci_without_chromium(tmp_path):
    result = _run_without_chromium(tmp_path, "true")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out[-2000:]
    assert ("ERROR" in out or "FAILED" in out) and "SKIPPED" not in out, out[-2000:]  # setup error: a failure
    assert "browser test cannot start under CI: chromium=None, chromedriver=None" in out, out[-2000:]
    assert "apt-get install chromium chromium-driver" in out, out[-2000:]
