"""Pipeline control from the dashboard: a reprocess started in the browser, executed by the
real batch executor, and followed live on its job page to the end."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from api_support import make_settings
from dashboard_support import TIMEOUT_MS, Site, Tab, add_user, sign_in

from dsa110_contimg.pipeline.operations import BatchExecutor
from dsa110_contimg.products import make_engine, make_session_factory

TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture(scope="module")
def operator_tab(browser: Any, writable_site: Site) -> Any:
    add_user(writable_site, "otto", "operator", "correct horse battery")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, writable_site.url, "otto", "correct horse battery")
    try:
        yield Tab(page, writable_site)
    finally:
        context.close()


def test_a_reprocess_started_in_the_dashboard_is_followed_to_the_end(operator_tab: Tab) -> None:
    tab, page, seed = operator_tab, operator_tab.page, operator_tab.site.seed
    group = seed.groups[0]
    tab.open(f"/groups/{group}")
    page.click("#reprocess-group")
    page.wait_for_url("**/#/jobs/*")
    root = tab.wait_rendered()
    run_id = page.url.rsplit("/", 1)[1]
    assert "pending" in root.locator("#job-summary").inner_text()
    assert root.locator("#cancel-job").count() == 1

    # The real executor (as the pipeline daemon runs it) claims and executes the batch.
    engine = make_engine(seed.url)
    executor = BatchExecutor(make_settings(seed.root, seed.url), make_session_factory(engine))
    worker = threading.Thread(target=executor.run_all, daemon=True)
    worker.start()
    worker.join(timeout=120)
    engine.dispose()
    assert not worker.is_alive()
    # The page learns the end from the WebSocket, without a reload.
    page.wait_for_function(
        "(states) => states.some((s) => document.querySelector('#job-summary')"
        "?.textContent.includes(s))",
        arg=list(TERMINAL),
        timeout=30_000,
    )
    summary = root.locator("#job-summary").inner_text()
    assert any(s in summary for s in TERMINAL), summary
    assert run_id in page.url
    assert group in root.inner_text()  # the batch's item: the group reprocessed


def test_a_mosaic_asked_for_in_the_dashboard_is_queued_as_a_batch(operator_tab: Tab) -> None:
    tab, page = operator_tab, operator_tab.page
    tab.open("/mosaics")
    page.fill("#mosaic-dec", "71.5")
    page.fill("#mosaic-from", "61000")
    page.fill("#mosaic-to", "61001")
    page.click("#mosaic-submit")
    page.wait_for_url("**/#/jobs/*")
    root = tab.wait_rendered()
    run_id = page.url.rsplit("/", 1)[1]
    assert "mosaic" in root.locator("#job-summary").inner_text()
    job = page.evaluate(
        "async (id) => (await fetch(`/api/jobs/${encodeURIComponent(id)}`)).json()", run_id
    )
    assert job["params"]["operation"] == "mosaic" and job["status"] == "pending", job
    assert job["params"]["dec_deg"] == 71.5 and job["params"]["mjd_end"] == 61001, job
    assert job["requested_by"] == "user:otto"  # the signed-in user, recorded with the write
