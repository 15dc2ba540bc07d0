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

Two policies, both off by default: catching up (``settings.catchup``; see
:mod:`dsa110_contimg.pipeline.catchup`): a group further behind the clock
than ``catchup_lag_s`` is imaged at ``catchup_tier`` and its re-image at the
run's tier queued for when the daemon has caught up; and the mosaic stage
(``settings.mosaic_stage``; :mod:`dsa110_contimg.pipeline.steps.mosaic`):
after each cycle's groups, the strips and periods whose tiles are in are
mosaicked (again, as a new version, when their tiles changed).
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
from dsa110_contimg.pipeline.catchup import catchup_options, lags_s, queue_reimage, utc_now_mjd
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
    clock: Callable[[], float] = utc_now_mjd,
) -> int:
    """Watch and process until ``stop`` is set (or, with ``once``, until idle).

    ``reapply_waiting`` (default: ``settings.reapply_waiting``) is the
    re-calibration policy: after a calibrator
    transit group is done, earlier groups of its strip that were left
    uncalibrated and that the new tables cover are queued again (see
    :func:`~dsa110_contimg.pipeline.reapply.requeue_waiting`); the next cycle
    takes them through calibrate -> image -> photometry.

    ``clock`` gives UTC now as MJD (the catch-up policy's and the mosaic
    stage's reference; tests pass their own).

    Returns the number of groups that ended done.
    """
    if reapply_waiting is None:
        reapply_waiting = settings.reapply_waiting
    recover(settings, factory)
    watcher = Watcher(settings, factory, policy=policy)
    heartbeat = Heartbeat(factory)
    batches = BatchExecutor(settings, factory, stop=stop, options=options, on_item=on_batch_item)
    realtime = settings.batch_priority == "realtime"
    run_options = RunOptions.of(options)
    failed_mosaics: dict[str, frozenset[int]] = {}  # not retried until their tiles change
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
        # catching up: no batch while a group waits that is behind by more than the lag
        behind = room and settings.catchup and _behind(settings, factory, clock)
        ran = _run_batches(batches, limit=None if room and not realtime and not behind else 0)
        groups = select_groups(settings) if room else []
        lags = _lags(settings, factory, groups, clock)
        first, rest = split_calibrator_groups(settings, groups)
        for group_id in [*first, *rest]:
            if stop.is_set():
                break
            quick = (
                lags.get(group_id, 0.0) > settings.catchup_lag_s
                and run_options.tier != settings.catchup_tier
            )
            group_options = catchup_options(settings, run_options) if quick else options
            ok = process_group(settings, factory, group_id, stop=stop.is_set, options=group_options)
            if ok and quick:
                _queue_reimage(factory, group_id, run_options)
            done += ok
            heartbeat.beat(groups_done=done)
            if on_group:
                on_group(group_id, ok)
            if ok and reapply_waiting and group_id in first:
                requeue_waiting(factory)
        if settings.mosaic_stage and room and not stop.is_set():
            _run_mosaics(settings, factory, clock, failed_mosaics)
        if settings.catchup and realtime and room and not stop.is_set():
            behind = _behind(settings, factory, clock)  # groups that came in meanwhile
        if realtime and room and not behind and not stop.is_set():
            ran += _run_batches(batches, limit=1)  # one batch, then the stream again
        if once and not groups and not ran and (not room or not batches.pending()):
            break
        if not ran:
            stop.wait(interval)
    log.info("stream stopped after %d groups", done)
    return done


def _lags(
    settings: Settings,
    factory: sessionmaker[Session],
    groups: list[str],
    clock: Callable[[], float],
) -> dict[str, float]:
    """Each runnable group's lag behind the clock (s), only with the catch-up policy on."""
    if not settings.catchup or not groups:
        return {}
    try:
        return lags_s(factory, groups, clock)
    except Exception as exc:  # the DB may be briefly away: image at the run's tier
        log.error("catch-up lags not read: %s", exc)
        return {}


def _behind(settings: Settings, factory: sessionmaker[Session], clock: Callable[[], float]) -> bool:
    """Whether a runnable group is behind the clock by more than ``catchup_lag_s``."""
    try:
        lags = _lags(settings, factory, select_groups(settings), clock)
    except Exception as exc:  # the DB may be briefly away: not behind, as without the policy
        log.error("catch-up: runnable groups not read: %s", exc)
        return False
    return any(lag > settings.catchup_lag_s for lag in lags.values())


def _queue_reimage(factory: sessionmaker[Session], group_id: str, options: RunOptions) -> None:
    try:
        queue_reimage(factory, group_id, options)
    except Exception as exc:  # the quick image stays registered; say what was not queued
        log.error("catch-up: the re-image of %s was not queued: %s", group_id, exc)


def _run_mosaics(
    settings: Settings,
    factory: sessionmaker[Session],
    clock: Callable[[], float],
    failed: dict[str, frozenset[int]],
) -> None:
    """The mosaic stage's per-cycle call (a failure is logged, never the daemon's end)."""
    from dsa110_contimg.pipeline.steps.mosaic import run_due_mosaics

    try:
        made = run_due_mosaics(settings, factory, now_mjd=clock(), failed=failed)
        if made:
            log.info("mosaics made: %s", made)
    except Exception as exc:
        log.error("mosaic stage failed: %s", exc)


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
