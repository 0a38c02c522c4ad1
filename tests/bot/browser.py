"""A headless Chromium page for tests that look at rendered HTML, driven by Playwright.

Import the fixture into a test module to use it::

    from tests.bot.browser import BrowserPage, chromium_page  # noqa: F401  (fixture)

    @pytest.mark.chromium
    def test_page_loads(chromium_page: BrowserPage, tmp_path):
        chromium_page.open(tmp_path / "index.html")
        assert chromium_page.errors == []

Playwright drives the system's Chromium (Debian's ``chromium`` package) rather than a browser it
downloads itself: it speaks the DevTools protocol, which Chromium keeps stable across versions,
so no ``playwright install`` is needed. Without a Chromium the tests skip, except under
``CI=true``, where a skipped browser test would let a broken page pass unseen.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # containers and CI runners usually lack the user namespaces the sandbox needs
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Keep the browser off the network: the pages under test must load from disk alone.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 10_000


def find_chromium() -> str | None:
    """Path of a Chromium binary, or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


def browser_unavailable(reason: str) -> NoReturn:
    """Skip the test, or fail it under CI, which must run every browser test."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must run the browser tests")
    pytest.skip(reason)


@dataclass
class BrowserPage:
    """A Playwright page plus what it reported: console errors, page errors, failed loads."""

    page: Any
    errors: list[str] = field(default_factory=list)
    requested_urls: list[str] = field(default_factory=list)

    def open(self, path: Path) -> None:
        """Load a local file and wait until its images have loaded too."""
        self.page.goto(Path(path).resolve().as_uri(), wait_until="load")


@pytest.fixture
def chromium_page() -> Iterator[BrowserPage]:
    executable = find_chromium()
    if executable is None:
        browser_unavailable("no Chromium found (install Debian's `chromium` package or put `chromium` on PATH)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        browser_unavailable("the playwright package is missing (pip install -e '.[test]')")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS, timeout=TIMEOUT_MS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(TIMEOUT_MS)
            watched = BrowserPage(page=page)
            page.on("console", lambda message: message.type == "error" and watched.errors.append(message.text))
            page.on("pageerror", lambda error: watched.errors.append(f"page error: {error}"))
            page.on("requestfailed", lambda request: watched.errors.append(f"failed to load {request.url}: {request.failure}"))
            page.on("request", lambda request: watched.requested_urls.append(request.url))
            yield watched
        finally:
            browser.close()
