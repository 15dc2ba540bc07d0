"""The jobs pages follow a job live: the pipeline's event publisher writes, the page changes.

The events are published the way the pipeline publishes them (the job
repository functions on the products DB); the page learns of them over the
API's WebSocket only, never by reloading.
"""

from __future__ import annotations

import contextlib
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


@contextlib.contextmanager
def _serve(
    site: Site, browser: Any, tmp_path: Path, **overrides: Any
) -> Iterator[tuple[Tab, Any, Any]]:
    """A tab on a private copy of the seeded DB, a session factory writing to it, the app."""
    root = tmp_path / "data"
    shutil.copytree(site.seed.root, root)
    url = f"sqlite:///{root / 'state' / 'products.sqlite3'}"
    engine = make_engine(url)
    context = browser.new_context()
    context.set_default_timeout(TIMEOUT_MS)
    app = create_app(make_settings(root, url, **overrides))
    try:
        with LiveServer(app) as server:
            own = Site(url=server.url, seed=dataclasses.replace(site.seed, root=root, url=url))
            yield Tab(context.new_page(), own), make_session_factory(engine), app
    finally:
        context.close()
        engine.dispose()


@pytest.fixture
def live(site: Site, browser: Any, tmp_path: Path) -> Iterator[tuple[Tab, Any]]:
    """A tab on a private copy of the seeded DB, and a session factory that writes to it."""
    with _serve(site, browser, tmp_path) as (tab, sessions, _):
        yield tab, sessions


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


def _drop_live_sockets(app: Any) -> None:
    """Close every live-event WebSocket from the server's side (as a restart would)."""
    hub = app.state.api.hub
    loop = hub._task.get_loop()

    def close() -> None:
        for sub in list(hub.subscriptions):
            sub.queue.put_nowait(None)

    loop.call_soon_threadsafe(close)


def _since(url: str) -> int | None:
    from urllib.parse import parse_qs, urlsplit

    values = parse_qs(urlsplit(url).query).get("since")
    return int(values[0]) if values else None


def test_a_page_that_missed_too_much_reloads_on_resync(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    import time

    import websockets.sync.client

    settings = {"api_ws_replay_max": 2, "api_ws_max_connections": 1}
    with _serve(site, browser, tmp_path, **settings) as (tab, sessions, app):
        urls: list[str] = []
        tab.page.on("websocket", lambda ws: urls.append(ws.url))
        tab.open("/jobs")
        _wait_live(tab)
        # The page is cut off (its one slot taken by another client) while jobs are created.
        _drop_live_sockets(app)
        deadline = time.monotonic() + 5
        while app.state.api.hub.subscriptions:  # the page's socket is gone
            assert time.monotonic() < deadline
            time.sleep(0.01)
        ws_url = tab.site.url.replace("http", "ws") + "/api/ws?topics=*"
        with websockets.sync.client.connect(ws_url) as other:
            other.recv(timeout=5)
            run_ids = [f"image-missed-{i}" for i in range(4)]
            for run_id in run_ids:
                with session_scope(sessions) as s:
                    repo.create_job(s, job_type="image", run_id=run_id)
            time.sleep(0.5)  # the hub has seen them; the page is still refused
        with sessions() as s:
            newest = repo.latest_event_id(s)
        # 4 events missed, 2 replayed at most: the server says resync and the page reloads.
        for run_id in run_ids:
            expect(tab.page.locator(f"tr[data-key='{run_id}']")).to_be_visible()
        _wait_live(tab)
        seen = len(urls)
        _drop_live_sockets(app)  # the next connection goes on from the resync's newest id
        deadline = time.monotonic() + 10
        while len(urls) == seen or (_since(urls[-1]) or 0) < newest:
            assert time.monotonic() < deadline, urls[seen:]
            tab.page.wait_for_timeout(100)
        tab.assert_clean()


def test_reconnects_back_off_when_connections_keep_dropping(
    site: Site, browser: Any, tmp_path: Path
) -> None:
    import threading

    with _serve(site, browser, tmp_path) as (tab, _, app):
        urls: list[str] = []
        tab.page.on("websocket", lambda ws: urls.append(ws.url))
        tab.open("/jobs")
        _wait_live(tab)
        start = len(urls)
        stop = threading.Event()

        def keep_dropping() -> None:
            while not stop.wait(0.1):
                _drop_live_sockets(app)

        dropper = threading.Thread(target=keep_dropping, daemon=True)
        dropper.start()
        try:
            tab.page.wait_for_timeout(8000)
        finally:
            stop.set()
            dropper.join()
        attempts = len(urls) - start
        # Backing off 0.25-0.5, 0.5-1, 1-2, 2-4, 4-8 s: at most 5 attempts in 8 s
        # (reconnecting every 0.5 s would make about 14).
        assert 2 <= attempts <= 6, attempts
        _wait_live(tab)  # it comes back once the drops stop
