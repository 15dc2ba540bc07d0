"""The polling watcher: what each poll reports, and a run loop that stops when told."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import sqlalchemy as sa

from dsa110_contimg.ingest import IndexReport, Watcher
from dsa110_contimg.products.models import GroupState

from .conftest import IngestEnv


def test_poll_once_reports_changes(lite: IngestEnv, sim_stream: tuple[Path, dict]) -> None:
    source, truth = sim_stream
    group = truth["groups"][1]
    watcher = Watcher(lite.settings, lite.factory, clock=lite.clock)
    assert not watcher.poll_once().changed

    lite.copy_in(source, group["files"][:8])
    first = watcher.poll_once()
    assert len(first.indexed) == 8 and first.completed == []
    assert lite.groups()[group["group_id"]].state == GroupState.COLLECTING

    lite.copy_in(source, group["files"][8:])
    second = watcher.poll_once()
    assert len(second.indexed) == 8 and second.completed == [group["group_id"]]
    assert not watcher.poll_once().changed


def test_run_until_stopped(lite: IngestEnv, sim_stream: tuple[Path, dict]) -> None:
    source, truth = sim_stream
    group = truth["groups"][0]
    watcher = Watcher(lite.settings, lite.factory)  # the real clock
    reports: list[IndexReport] = []
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, args=(stop, 0.05, reports.append))
    thread.start()
    try:
        lite.copy_in(source, group["files"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any(r.completed for r in reports):
                break
            time.sleep(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    assert [gid for r in reports for gid in r.completed] == [group["group_id"]]
    assert sum(len(r.indexed) for r in reports) == 16


def test_run_survives_a_database_outage(
    lite: IngestEnv, monkeypatch, sim_stream: tuple[Path, dict]
) -> None:
    watcher = Watcher(lite.settings, lite.factory, clock=lite.clock)
    calls = []
    stop = threading.Event()
    real = watcher.poll_once

    def flaky() -> IndexReport:
        calls.append(1)
        if len(calls) == 1:
            raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))
        if len(calls) >= 3:
            stop.set()
        return real()

    monkeypatch.setattr(watcher, "poll_once", flaky)
    watcher.run(stop, interval=0.01)
    assert len(calls) == 3
