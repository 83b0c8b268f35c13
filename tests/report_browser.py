"""Headless Chromium for the report's browser test: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download is never used (no network): the system browser is launched
by path. A missing browser or Playwright fails the test with the command that installs it,
rather than skipping, so a CI without them cannot pass quietly.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("INQUIRE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]


@contextmanager
def chromium_page(viewport: tuple[int, int] = (1280, 900)) -> Iterator:
    """A fresh page in headless Chromium, closed afterwards."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("Playwright is not installed: pip install playwright (part of the test extra).")
    if not CHROMIUM.is_file():
        pytest.fail(
            f"Chromium was not found at {CHROMIUM}: install it with "
            "`apt-get update && apt-get install -y chromium` (or set INQUIRE_CHROMIUM to its path)."
        )
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        finally:
            browser.close()
