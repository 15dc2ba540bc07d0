"""Purged products in the dashboard (headless Chromium against a real server)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from api_support import LiveServer, make_settings
from retention_support import World

from dsa110_contimg.api import create_app
from dsa110_contimg.retention import apply_retention

sys.path.insert(0, str(Path(__file__).parents[1] / "dashboard"))

from dashboard_support import TIMEOUT_MS, Site, Tab  # noqa: E402


@pytest.fixture(params=["sqlite"])
def db_url(sqlite_url: str) -> str:  # the dashboard reads the DB like any client: SQLite is enough
    return sqlite_url


def test_purged_images_and_ms_show_a_badge(world: World, require_tool) -> None:
    from playwright.sync_api import sync_playwright

    require_tool("chromium")  # skipped on a workstation without it, failed under CI
    binary = shutil.which("chromium")
    apply_retention(world.settings, world.factory)
    settings = make_settings(world.settings.data_root, world.settings.db_url)
    with LiveServer(create_app(settings)) as server, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        page = browser.new_context().new_page()
        page.set_default_timeout(TIMEOUT_MS)
        tab = Tab(page, Site(url=server.url, seed=None))  # type: ignore[arg-type]
        # an intermediate: purged; its FITS link is replaced by the badge
        tab.open(f"/images/{world.ids['residual_old']}")
        assert page.locator(".badge-purged").count() >= 1
        assert page.locator("a", has_text="Download FITS").count() == 0
        assert "FITS removed" in page.locator("section.page").inner_text()
        # a kept product of the same MS: downloadable as before
        tab.open(f"/images/{world.ids['image-pb_old']}")
        assert page.locator("a", has_text="Download FITS").count() == 1
        assert page.locator(".badge-purged").count() == 0
        # the image list: one badge per purged image (8 intermediates), links for the rest
        tab.open("/images")
        assert page.locator("tbody .badge-purged").count() == 8
        # the MS list and the MS page
        tab.open("/ms")
        assert page.locator("tbody .badge-purged").count() == 1
        tab.open(f"/ms/{quote(str(world.paths['ms_old']), safe='')}")
        text = page.locator("section.page").inner_text()
        assert "removed from disk" in text and page.locator(".badge-purged").count() == 1
        tab.assert_clean("/thumbnail.png", "/preview.png")  # purged FITS: no rendered PNG
        browser.close()
