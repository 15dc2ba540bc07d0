"""Fixtures of the dashboard tests: the app over a pipeline-filled DB on a real
uvicorn server, and headless Chromium driven by Playwright.

The DB is filled by the API tests' ``seed`` (through the pipeline's repositories);
Chromium is Debian's (``scripts/setup.sh --test`` installs it): Playwright's own
browser download is not used.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

sys.path.insert(0, str(Path(__file__).parents[1] / "api"))
sys.path.insert(0, str(Path(__file__).parent))

from api_support import LiveServer, make_settings, seed  # noqa: E402
from dashboard_support import TIMEOUT_MS, Site, Tab  # noqa: E402

from dsa110_contimg.api import create_app  # noqa: E402

# Playwright's auto-waiting assertions wait as long as page loads may take.
expect.set_options(timeout=TIMEOUT_MS)


def _chromium(require_tool: Any) -> str:
    require_tool("chromium")  # skipped on a workstation without it, failed under CI
    return str(shutil.which("chromium"))


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The app over a seeded DB, served on a free port; tests using it must not write."""
    root = tmp_path_factory.mktemp("dashboard") / "data"
    filled = seed(root, f"sqlite:///{root / 'state' / 'products.sqlite3'}")
    with LiveServer(create_app(make_settings(filled.root, filled.url))) as server:
        yield Site(url=server.url, seed=filled)


@pytest.fixture(scope="module")
def writable_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Like ``site``, but a DB of the module's own: its tests may write (sign-ins, verdicts).

    Sign-in limits are high, so many sign-ins from 127.0.0.1 are not throttled.
    """
    root = tmp_path_factory.mktemp("dashboard-writable") / "data"
    filled = seed(root, f"sqlite:///{root / 'state' / 'products.sqlite3'}")
    settings = make_settings(
        filled.root,
        filled.url,
        auth_max_failures_per_address=1000,
        auth_max_failures_per_user=1000,
    )
    with LiveServer(create_app(settings)) as server:
        yield Site(url=server.url, seed=filled)


# Module scope, not session: between its calls Playwright's sync API leaves its event
# loop marked running in this thread, which would break asyncio.run() in later tests
# (tests/api) run by the same worker.
@pytest.fixture(scope="module")
def browser(require_tool: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = _chromium(require_tool)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def tab(browser: Any, site: Site) -> Iterator[Tab]:
    """A browser tab on the shared site, kept for a module (tests open their routes)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield Tab(context.new_page(), site)
    finally:
        context.close()
