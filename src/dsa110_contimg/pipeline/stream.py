"""`dsa110 stream`: the daemon that watches the incoming folder and processes groups.

Each cycle indexes new stable files (the ingest watcher), then processes the
runnable groups, calibrator transits first, then in time order. When a
calibrator group is done, earlier groups of its strip that waited for
calibration are queued again (by policy, on by default). The daemon also
executes the API's queued batches (reprocess, rerun, re-image;
:mod:`dsa110_contimg.pipeline.operations`) and settles cancels each cycle;
``settings.batch_priority`` says who goes first when groups and batches both
wait (``realtime``, the default: the stream's groups, then one batch before
the next poll). SIGTERM or
SIGINT stop it cleanly: the running stage finishes, the group goes back to the
queue if stages remain, and the daemon exits. After any stop, clean or not,
the next start recovers (interrupted jobs failed, their groups requeued,
partial files removed) and carries on; stages skip what is registered.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings
from dsa110_contimg.ingest import IngestPolicy, Watcher
from dsa110_contimg.pipeline.batch import select_groups
from dsa110_contimg.pipeline.calibrators import split_calibrator_groups
from dsa110_contimg.pipeline.context import RunOptions
from dsa110_contimg.pipeline.operations import BatchExecutor
from dsa110_contimg.pipeline.reapply import requeue_waiting
from dsa110_contimg.pipeline.runner import process_group, recover
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products import session_scope
from dsa110_contimg.products.models import JobStatus
from dsa110_contimg.retention import storage_allows_new_groups

log = logging.getLogger(__name__)


def run_stream(
    settings: Settings,
    factory: sessionmaker[Session],
    stop: threading.Event,
    *,
    interval: float = 5.0,
    once: bool = False,
    policy: IngestPolicy | None = None,
    on_group: Callable[[str, bool], None] | None = None,
    options: RunOptions | Mapping[str, Any] | None = None,
    reapply_waiting: bool | None = None,
    on_batch_item: Callable[[str, str, JobStatus], None] | None = None,
) -> int:
    """Watch and process until ``stop`` is set (or, with ``once``, until idle).

    ``reapply_waiting`` (default: ``settings.reapply_waiting``) is the
    re-calibration policy: after a calibrator
    transit group is done, earlier groups of its strip that were left
    uncalibrated and that the new tables cover are queued again (see
    :func:`~dsa110_contimg.pipeline.reapply.requeue_waiting`); the next cycle
    takes them through calibrate -> image -> photometry.

    Returns the number of groups that ended done.
    """
    if reapply_waiting is None:
        reapply_waiting = settings.reapply_waiting
    recover(settings, factory)
    watcher = Watcher(settings, factory, policy=policy)
    heartbeat = Heartbeat(factory)
    batches = BatchExecutor(settings, factory, stop=stop, options=options, on_item=on_batch_item)
    realtime = settings.batch_priority == "realtime"
    done = 0
    while not stop.is_set():
        heartbeat.beat(groups_done=done)
        try:
            report = watcher.poll_once()
            if report.changed:
                log.info("indexed: %s", report.summary())
        except Exception as exc:  # the folder or DB may be briefly away: try again
            log.error("indexing failed, retrying in %g s: %s", interval, exc)
        # retention on schedule; below a disk's stop threshold no new group (files
        # wait) and no queued batch (they write products too); cancels still settle
        room = storage_allows_new_groups(settings, factory)
        ran = _run_batches(batches, limit=None if room and not realtime else 0)
        groups = select_groups(settings) if room else []
        first, rest = split_calibrator_groups(settings, groups)
        for group_id in [*first, *rest]:
            if stop.is_set():
                break
            ok = process_group(settings, factory, group_id, stop=stop.is_set, options=options)
            done += ok
            heartbeat.beat(groups_done=done)
            if on_group:
                on_group(group_id, ok)
            if ok and reapply_waiting and group_id in first:
                requeue_waiting(factory)
        if realtime and room and not stop.is_set():
            ran += _run_batches(batches, limit=1)  # one batch, then the stream again
        if once and not groups and not ran and (not room or not batches.pending()):
            break
        if not ran:
            stop.wait(interval)
    log.info("stream stopped after %d groups", done)
    return done


def _run_batches(batches: BatchExecutor, limit: int | None) -> int:
    """Settle cancels, then execute up to ``limit`` queued batches (None: all; 0: none)."""
    try:
        batches.settle_cancels()
        return len(batches.run_all(limit=limit)) if limit != 0 else 0
    except Exception as exc:  # the DB may be briefly away: the batch stays queued
        log.error("batch execution failed: %s", exc)
        return 0


def install_signal_handlers(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (the current stage finishes first)."""

    def handler(signum, frame):  # type: ignore[no-untyped-def]
        log.warning("signal %d: stopping after the current stage", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


class Heartbeat:
    """The daemon's sign of life: a ``worker`` event at most every ``every_s`` seconds.

    Written at the top of each cycle and after each group (a stage may run
    for many minutes, so the monitoring allows a long silence: the
    ``DSA110DaemonDown`` alert waits 30 min). /api/health and the
    ``dsa110_worker_heartbeat_age_seconds`` gauge read the newest one. A DB
    hiccup costs a beat, never the daemon.
    """

    def __init__(self, factory: sessionmaker[Session], every_s: float = 60.0) -> None:
        self._factory = factory
        self._every_s = every_s
        self._last = -float("inf")
        self._host = socket.gethostname()

    def beat(self, **info: object) -> None:
        now = time.monotonic()
        if now - self._last < self._every_s:
            return
        try:
            with session_scope(self._factory) as session:
                repo.publish_heartbeat(session, self._host, pid=os.getpid(), **info)
            self._last = now
        except Exception as exc:  # the DB may be briefly away: beat again next time
            log.warning("heartbeat not recorded: %s", exc)
