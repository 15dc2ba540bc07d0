"""Process many groups: in order, through a local process pool or Dask.

Calibrator-transit groups go first (their solutions are what the others are
calibrated with), then the rest in time order. Each worker opens its own
database engine; the products DB's claim on a group keeps two workers from
doing the same one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import sqlalchemy as sa

from dsa110_contimg.config import Settings
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products.models import ObservationGroup

log = logging.getLogger(__name__)


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
            stmt = sa.select(ObservationGroup).where(ObservationGroup.state.in_(states))
            if start_mjd is not None:
                stmt = stmt.where(ObservationGroup.start_mjd >= start_mjd)
            if end_mjd is not None:
                stmt = stmt.where(ObservationGroup.start_mjd < end_mjd)
            if group_ids:
                stmt = stmt.where(ObservationGroup.id.in_(list(group_ids)))
            return list(
                session.scalars(
                    stmt.with_only_columns(ObservationGroup.id).order_by(ObservationGroup.start_mjd)
                )
            )
    finally:
        engine.dispose()


def _run_one(settings: Settings, group_id: str, options: dict | None = None) -> tuple[str, bool]:
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
    options: dict | None = None,
    on_done: Callable[[str, bool], None] | None = None,
) -> BatchSummary:
    """Process groups; calibrator groups finish before the others start.

    Parameters
    ----------
    executor
        ``local`` (a process pool of ``workers``, default settings.workers),
        ``serial`` (in this process), or ``dask`` (a distributed client on
        ``scheduler``, or a LocalCluster when none is given).
    """
    from dsa110_contimg.pipeline.calibrators import split_calibrator_groups

    summary = BatchSummary()
    first, rest = split_calibrator_groups(settings, group_ids)
    for wave in (first, rest):
        for group_id, ok in _execute(
            settings, wave, executor, workers or settings.workers, scheduler, options
        ):
            (summary.done if ok else summary.failed).append(group_id)
            if on_done:
                on_done(group_id, ok)
    return summary


def _execute(
    settings: Settings,
    group_ids: Sequence[str],
    executor: str,
    workers: int,
    scheduler: str | None,
    options: dict | None = None,
):  # type: ignore[no-untyped-def]
    if not group_ids:
        return
    if executor == "serial" or (executor == "local" and workers == 1):
        for gid in group_ids:
            yield _run_one(settings, gid, options)
        return
    if executor == "local":
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures: list[Future] = [
                pool.submit(_run_one, settings, gid, options) for gid in group_ids
            ]
            for fut in as_completed(futures):
                yield fut.result()
        return
    if executor == "dask":
        from dask.distributed import Client, LocalCluster

        cluster = (
            None
            if scheduler
            else LocalCluster(n_workers=workers, threads_per_worker=1, processes=True)
        )
        client = Client(scheduler or cluster)
        try:
            futures = client.map(
                _run_one,
                [settings] * len(group_ids),
                list(group_ids),
                [options] * len(group_ids),
                pure=False,
            )
            for fut in futures:
                yield fut.result()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
        return
    raise ValueError(f"unknown executor {executor!r} (local, serial or dask)")
