"""Headless Chromium for the browser tests: Debian's `chromium` package, driven by Playwright.

Playwright's own browser download does not work on these machines, so `make browser` installs
Debian's package (as root) and the tests point Playwright at it. Without it a browser test is
skipped with the reason, except in CI (`CI=true`), where a missing browser is a failure.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
from collections.abc import Iterator

import pytest

CHROMIUM = pathlib.Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
# No sandbox (these machines run as root), no GPU, and nothing that reaches the network by itself.
LAUNCH_ARGUMENTS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def require_chromium() -> None:
    """Skips the calling test when Chromium is missing, or fails it in CI.

    Raises:
        pytest.skip.Exception or pytest.fail.Exception: when `CHROMIUM` is not an executable.
    """
    if CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK):
        return
    reason = (
        f"no headless Chromium at {CHROMIUM}: run `make browser` as root (apt-get install chromium)"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@contextlib.contextmanager
def launched_browser() -> Iterator:
    """Yields a headless Chromium `playwright.sync_api.Browser`, closed afterwards."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=LAUNCH_ARGUMENTS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()
