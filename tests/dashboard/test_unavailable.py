"""With the products DB unavailable the pages say so (the API's 503), never go blank."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import LiveServer, make_settings
from dashboard_support import TIMEOUT_MS, Site, Tab

from dsa110_contimg.api import create_app

UNAVAILABLE = "the products database is unavailable"


@pytest.fixture(scope="module")
def broken_tab(site: Site, browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tab]:
    """A tab on an app whose DB has no tables (never migrated)."""
    root = tmp_path_factory.mktemp("unavailable") / "data"
    root.mkdir()
    url = f"sqlite:///{Path(root) / 'empty.sqlite3'}"
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        with LiveServer(create_app(make_settings(root, url))) as server:
            yield Tab(context.new_page(), Site(url=server.url, seed=site.seed))
    finally:
        context.close()


def test_overview_shows_health_and_the_error(broken_tab: Tab) -> None:
    page = broken_tab.open("/")
    assert page.locator("#pipeline-status").inner_text().startswith("degraded")
    assert (
        "the code expects" in page.locator("section.panel", has_text="Pipeline status").inner_text()
    )
    assert UNAVAILABLE in page.locator("#counts .error-box").inner_text()
    broken_tab.assert_clean("status of 503")


@pytest.mark.parametrize("route", ["/sources", "/sources/1", "/jobs", "/images/1"])
def test_pages_show_the_api_error(broken_tab: Tab, route: str) -> None:
    page = broken_tab.open(route)
    assert "Error 503" in page.locator(".error-box").inner_text()
    assert UNAVAILABLE in page.locator(".error-box").inner_text()
    broken_tab.assert_clean("status of 503")
