"""Playwright (sync API) driving Debian's Chromium against pytest-django's live_server.

Chromium missing: the browser tests skip on a laptop, and fail with CI=true.
Screenshots and the exported CSV go to test-artifacts/browser/ (BROWSER_ARTIFACTS overrides).
"""

import os
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
ARTIFACTS = Path(
    os.environ.get(
        "BROWSER_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"
    )
)


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def chromium(monkeypatch):
    """A headless Chromium. Playwright's sync API runs an event loop in this thread, so the
    ORM calls a test makes meanwhile need Django's async-safety check turned off."""
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{message}; CI=true needs it (apt-get install chromium).")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
