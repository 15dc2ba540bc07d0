"""The jobs pages follow a job live: the pipeline's event publisher writes, the page changes.

The events are published the way the pipeline publishes them (the job
repository functions on the products DB); the page learns of them over the
API's WebSocket only, never by reloading.
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import LiveServer, make_settings
from dashboard_support import TIMEOUT_MS, Site, Tab
from playwright.sync_api import expect

from dsa110_contimg.api import create_app
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo


@pytest.fixture
def live(site: Site, browser: Any, tmp_path: Path) -> Iterator[tuple[Tab, Any]]:
    """A tab on a private copy of the seeded DB, and a session factory that writes to it."""
    root = tmp_path / "data"
    shutil.copytree(site.seed.root, root)
    url = f"sqlite:///{root / 'state' / 'products.sqlite3'}"
    engine = make_engine(url)
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    try:
        with LiveServer(create_app(make_settings(root, url))) as server:
            own = Site(url=server.url, seed=dataclasses.replace(site.seed, root=root, url=url))
            yield Tab(context.new_page(), own), make_session_factory(engine)
    finally:
        context.close()
        engine.dispose()


def _wait_live(tab: Tab) -> None:
    expect(tab.page.locator(".live-state")).to_have_attribute("data-state", "live")


def test_jobs_list_follows_a_job_live(live: tuple[Tab, Any]) -> None:
    tab, sessions = live
    tab.open("/jobs")
    _wait_live(tab)
    run_id = "image-live-list"
    with session_scope(sessions) as s:
        repo.create_job(s, job_type="image", run_id=run_id)
    row = tab.page.locator(f"tr[data-key='{run_id}']")
    expect(row.locator("td.status")).to_have_text("pending")  # a new job: the list reloaded
    with session_scope(sessions) as s:
        repo.start_job(s, run_id, host="worker-1")
    expect(row.locator("td.status")).to_have_text("running")
    with session_scope(sessions) as s:
        repo.update_job_progress(s, run_id, 0.5, message="half way")
    expect(row.locator(".progress")).to_have_attribute("aria-valuenow", "50")
    expect(row.locator("td.message")).to_have_text("half way")
    with session_scope(sessions) as s:
        repo.finish_job(s, run_id, outputs={"image": "/data/images/x.fits"})
    expect(row.locator("td.status")).to_have_text("succeeded")
    expect(row.locator(".progress")).to_have_attribute("aria-valuenow", "100")
    tab.assert_clean()


def test_job_page_shows_progress_and_a_growing_log(live: tuple[Tab, Any]) -> None:
    tab, sessions = live
    run_id = "image-live-detail"
    log = tab.site.seed.root / "logs" / f"{run_id}.log"
    log.write_text("starting\n")
    with session_scope(sessions) as s:
        repo.create_job(s, job_type="image", run_id=run_id, log_path=str(log), params={"niter": 10})
        repo.start_job(s, run_id, host="worker-2")
    tab.open(f"/jobs/{run_id}")
    _wait_live(tab)
    summary = tab.page.locator("#job-summary")
    expect(summary.locator(".status")).to_have_text("running")
    expect(tab.page.locator("pre.log")).to_have_text("starting")
    with log.open("a") as handle:
        handle.write("chunk 1 of 2 imaged\n")
    with session_scope(sessions) as s:
        repo.update_job_progress(s, run_id, 0.5, message="chunk 1")
    expect(summary.locator(".progress")).to_have_attribute("aria-valuenow", "50")
    expect(summary.locator(".message")).to_have_text("chunk 1")
    expect(tab.page.locator("pre.log")).to_contain_text("chunk 1 of 2 imaged")
    with session_scope(sessions) as s:
        repo.finish_job(s, run_id, status="failed", error="WSClean exited with status 1")
    expect(summary.locator(".status")).to_have_text("failed")
    expect(summary).to_contain_text("WSClean exited with status 1")
    assert "niter" in summary.inner_text()
    tab.assert_clean()


def test_overview_counts_follow_the_pipeline(live: tuple[Tab, Any]) -> None:
    tab, sessions = live
    tab.open("/")
    _wait_live(tab)
    jobs = tab.page.locator("#counts .card[data-stat='jobs'] .value")
    before = int(jobs.inner_text())
    with session_scope(sessions) as s:
        repo.create_job(s, job_type="convert", run_id="convert-live-overview")
    expect(jobs).to_have_text(str(before + 1))
    tab.assert_clean()
