"""Process many groups: in order, through a local process pool or Dask.

Calibrator-transit groups go first (their solutions are what the others are
calibrated with), then the rest in time order. Each worker opens its own
database engine; the products DB's claim on a group keeps two workers from
doing the same one.

Which products DB each executor can share: the local pool and a Dask
LocalCluster (processes of this machine) work with SQLite in WAL mode or
PostgreSQL; Dask workers behind a scheduler address (possibly on other hosts)
need PostgreSQL, and the data root on a filesystem they all see.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import multiprocessing
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import make_url

from dsa110_contimg.config import Settings
from dsa110_contimg.errors import ConfigError
from dsa110_contimg.pipeline.context import RunOptions
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.tools.process import die_with_parent

log = logging.getLogger(__name__)

#: How long to wait for a Dask scheduler to have at least one worker.
DASK_WORKER_TIMEOUT_S = 60.0


@dataclass
class BatchSummary:
    """How a batch went."""

    done: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


def select_groups(
    settings: Settings,
    *,
    start_mjd: float | None = None,
    end_mjd: float | None = None,
    group_ids: Sequence[str] | None = None,
    states: Sequence[str] = ("complete", "incomplete", "queued"),
) -> list[str]:
    """Runnable groups in a time range (or the named ones), in time order.

    :func:`run_batch` (and the stream) put calibrator-transit groups first.
    """
    engine = make_engine(settings.db_url)
    try:
        factory = make_session_factory(engine)
        with session_scope(factory) as session:
            return repo.group_ids_to_run(
                session, states, start_mjd=start_mjd, end_mjd=end_mjd, group_ids=group_ids
            )
    finally:
        engine.dispose()


def _run_one(
    settings: Settings, group_id: str, options: RunOptions | Mapping[str, Any] | None = None
) -> tuple[str, bool]:
    """Worker entry point: its own engine, one group."""
    from dsa110_contimg.pipeline.runner import process_group

    engine = make_engine(settings.db_url)
    try:
        return group_id, process_group(
            settings, make_session_factory(engine), group_id, options=options
        )
    finally:
        engine.dispose()


def run_batch(
    settings: Settings,
    group_ids: Sequence[str],
    *,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    options: RunOptions | Mapping[str, Any] | None = None,
    on_done: Callable[[str, bool], None] | None = None,
) -> BatchSummary:
    """Process groups; calibrator groups finish before the others start.

    Parameters
    ----------
    executor
        ``local`` (a process pool of ``workers``, default settings.workers),
        ``serial`` (in this process), or ``dask`` (a distributed client on
        ``scheduler``, or a LocalCluster of ``workers`` processes when none is
        given). See :func:`check_shared_database` for which products DB each
        allows.
    """
    from dsa110_contimg.pipeline.calibrators import split_calibrator_groups

    summary = BatchSummary()
    first, rest = split_calibrator_groups(settings, group_ids)
    with open_executor(settings, executor, workers or settings.workers, scheduler) as run_wave:
        for wave in (first, rest):
            for group_id, ok in run_wave(wave, options):
                (summary.done if ok else summary.failed).append(group_id)
                if on_done:
                    on_done(group_id, ok)
    return summary


#: Runs one wave of groups; yields (group_id, ok) as each finishes.
WaveRunner = Callable[[Sequence[str], dict | None], Iterator[tuple[str, bool]]]


def check_shared_database(settings: Settings, executor: str, scheduler: str | None) -> None:
    """Refuse a products DB the executor's workers cannot all write to.

    A SQLite file in WAL mode is shared safely by processes of one machine (the
    local pool, a Dask LocalCluster). Workers of a Dask scheduler may run on
    other hosts, where WAL's shared-memory index does not work (and locking
    over network filesystems is unreliable): they need PostgreSQL. An
    in-memory SQLite database is private to one process.
    """
    url = make_url(settings.db_url)
    if url.get_backend_name() != "sqlite":
        return
    if url.database in (None, "", ":memory:"):
        raise ConfigError(
            f"the {executor} executor runs groups in other processes, which cannot see an "
            "in-memory SQLite database",
            hint="use a SQLite file or PostgreSQL (DSA110_DB_URL)",
        )
    if executor == "dask" and scheduler:
        raise ConfigError(
            f"a Dask scheduler ({scheduler}) may run workers on other hosts, and SQLite "
            f"({url.database}) cannot be shared across hosts",
            hint="set DSA110_DB_URL to a PostgreSQL server every worker reaches, "
            "or drop --scheduler to run a LocalCluster on this machine",
        )


@contextlib.contextmanager
def open_executor(
    settings: Settings, executor: str, workers: int, scheduler: str | None
) -> Iterator[WaveRunner]:
    """The executor's workers, alive for the whole batch (all its waves)."""
    if executor not in ("local", "serial", "dask"):
        raise ValueError(f"unknown executor {executor!r} (local, serial or dask)")
    if executor == "serial" or (executor == "local" and workers == 1):
        yield lambda ids, options: (_run_one(settings, gid, options) for gid in ids)
        return
    check_shared_database(settings, executor, scheduler)
    if executor == "local":
        # spawn, not fork: a parent that already ran the numba/OpenMP kernels
        # (flagging) cannot fork safely; the children would abort
        spawn = multiprocessing.get_context("spawn")
        # workers die with this process, as its external programs do (tools/process.py);
        # they are started from this (long-lived) thread, which the signal follows
        with ProcessPoolExecutor(
            max_workers=workers,
            mp_context=spawn,
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        ) as pool:
            yield functools.partial(_pool_wave, pool, settings)
    else:
        with _dask_client(settings, workers, scheduler) as client:
            yield functools.partial(_dask_wave, client, settings)


def _outcome(group_id: str, future) -> tuple[str, bool]:  # type: ignore[no-untyped-def]
    """A finished group's result; an error outside its stages fails it, not the batch."""
    try:
        return future.result()
    except Exception as exc:
        log.error("group %s: its worker failed: %s: %s", group_id, type(exc).__name__, exc)
        return group_id, False


def _pool_wave(
    pool: ProcessPoolExecutor,
    settings: Settings,
    ids: Sequence[str],
    options: RunOptions | Mapping[str, Any] | None,
) -> Iterator[tuple[str, bool]]:
    futures = {pool.submit(_run_one, settings, gid, options): gid for gid in ids}
    for fut in as_completed(futures):
        yield _outcome(futures[fut], fut)


@contextlib.contextmanager
def _dask_client(settings: Settings, workers: int, scheduler: str | None):  # type: ignore[no-untyped-def]
    """A client on ``scheduler``, or on a LocalCluster of ``workers`` processes.

    Processes, one thread each: a job's log handler is attached to the package
    logger of its process, and casacore tables are not thread-safe, so two
    stages must not share a process. No memory limit: the heavy memory is in
    WSClean and casacore, outside Dask's view, and a nanny restarting a worker
    mid-stage would only leave a group for :func:`recover`.
    """
    from dask.distributed import Client, LocalCluster

    cluster = None
    if scheduler is None:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=0,
            dashboard_address=None,
        )
    client = Client(cluster if cluster is not None else scheduler)
    try:
        client.wait_for_workers(1, timeout=DASK_WORKER_TIMEOUT_S)
        blind = [
            w for w, ok in client.run(os.path.isdir, str(settings.data_root)).items() if not ok
        ]
        if blind:
            raise ConfigError(
                f"Dask workers {blind} do not see the data root {settings.data_root}",
                hint="the data root must be on a filesystem shared by every worker",
            )
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _dask_wave(
    client, settings: Settings, ids: Sequence[str], options: RunOptions | Mapping[str, Any] | None
) -> Iterator[tuple[str, bool]]:  # type: ignore[no-untyped-def]
    from dask.distributed import as_completed as dask_as_completed

    futures = {
        client.submit(
            _run_one, settings, gid, options, key=f"process-group-{gid}-{uuid.uuid4().hex[:8]}"
        ): gid
        for gid in ids
    }
    for fut in dask_as_completed(futures):
        yield _outcome(futures[fut], fut)
