"""Take a group through the stages, each as a job, the whole as a batch job.

A group is claimed atomically (complete / incomplete / queued -> processing),
so two workers never process it twice. Every stage is idempotent: it looks at
what the products DB already holds for the group and skips work that is
registered, and it registers its own products only once they are complete on
disk. So after a crash, :func:`recover` can simply put interrupted groups back
in the queue and the next run finishes them without duplicating anything.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.atomic import discard, find_partials
from dsa110_contimg.config import Settings
from dsa110_contimg.errors import DSA110Error
from dsa110_contimg.pipeline.context import RunOptions, StepContext
from dsa110_contimg.pipeline.jobs import job_run
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import (
    GroupState,
    JobStatus,
    utcnow,
)

__all__ = ["RunOptions", "StepContext", "process_group", "recover"]

log = logging.getLogger(__name__)

#: Group states a worker may pick up.
RUNNABLE = (GroupState.COMPLETE, GroupState.INCOMPLETE, GroupState.QUEUED)


Stage = Callable[[StepContext], dict[str, Any]]


def default_stages() -> list[tuple[str, Stage]]:
    """The pipeline's stages in order (imported lazily: heavy science modules)."""
    from dsa110_contimg.pipeline.steps import STEPS

    return STEPS


def claim_group(factory: sessionmaker[Session], group_id: str) -> bool:
    """Move a runnable group to processing; False if someone else has it or it is done."""
    with session_scope(factory) as session:
        return repo.claim_group(session, group_id, RUNNABLE)


def process_group(
    settings: Settings,
    factory: sessionmaker[Session],
    group_id: str,
    *,
    stages: list[tuple[str, Stage]] | None = None,
    options: RunOptions | Mapping[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
) -> bool:
    """Run every stage on one group; True if it ended done, False if failed or not claimed.

    ``stop`` is asked before each stage: when it says so, the group goes back to
    the queue (its finished stages stay registered) and the batch is cancelled.
    ``options`` are the run's choices (:class:`RunOptions`, or a mapping of its
    field names); every step gets them as ``ctx.options``.
    """
    if not claim_group(factory, group_id):
        log.info("group %s is not runnable (taken, done or unknown): skipped", group_id)
        return False
    stages = stages if stages is not None else default_stages()
    run_options = RunOptions.of(options)
    with session_scope(factory) as session:
        batch = repo.create_batch(
            session,
            "process",
            [("stage", name) for name, _ in stages],
            params={"group_id": group_id},
        )
        batch.group_id = group_id
        batch.status, batch.started_at = JobStatus.RUNNING, utcnow()
        batch_run_id = batch.run_id
    state: dict[str, Any] = {}
    for position, (name, stage) in enumerate(stages):
        if stop is not None and stop():
            _requeue(factory, batch_run_id, group_id, f"stopped before stage {name}")
            return False
        _set_item(factory, batch_run_id, position, JobStatus.RUNNING)
        try:
            with job_run(
                factory,
                settings.logs_dir,
                job_type=name,
                group_id=group_id,
                parent_run_id=batch_run_id,
            ) as handle:
                ctx = StepContext(settings, factory, group_id, handle, state, run_options)
                handle.outputs = stage(ctx) or {}
                state[name] = handle.outputs
                _set_item(
                    factory, batch_run_id, position, JobStatus.SUCCEEDED, run_id=handle.run_id
                )
        except DSA110Error as exc:  # job_run wrapped anything else in StageError
            _set_item(factory, batch_run_id, position, JobStatus.FAILED, error=str(exc))
            _finish(factory, batch_run_id, group_id, ok=False, error=f"stage {name}: {exc}")
            log.error("group %s failed at %s: %s", group_id, name, exc)
            return False
    _finish(factory, batch_run_id, group_id, ok=True)
    return True


def _requeue(factory: sessionmaker[Session], batch_run_id: str, group_id: str, reason: str) -> None:
    with session_scope(factory) as session:
        repo.finish_job(session, batch_run_id, status=JobStatus.CANCELLED, error=reason)
        repo.requeue_group(session, repo.get_group(session, group_id), reason)
    log.info("group %s requeued: %s", group_id, reason)


def _set_item(
    factory: sessionmaker[Session],
    batch_run_id: str,
    position: int,
    status: JobStatus,
    *,
    run_id: str | None = None,
    error: str | None = None,
) -> None:
    with session_scope(factory) as session:
        repo.set_batch_item(session, batch_run_id, position, status, run_id=run_id, error=error)


def _finish(
    factory: sessionmaker[Session],
    batch_run_id: str,
    group_id: str,
    *,
    ok: bool,
    error: str | None = None,
) -> None:
    with session_scope(factory) as session:
        repo.finish_job(
            session,
            batch_run_id,
            status=JobStatus.SUCCEEDED if ok else JobStatus.FAILED,
            error=error,
        )
        group = repo.set_group_state(
            session, group_id, GroupState.DONE if ok else GroupState.FAILED, error
        )
        repo.publish_event(
            session, "group", "finished", {"group_id": group_id, "state": str(group.state)}
        )


def product_folders(settings: Settings) -> tuple[Path, ...]:
    """Every folder the pipeline (or the simulator) writes products into."""
    return (
        settings.incoming_dir,
        settings.ms_dir,
        settings.caltables_dir,
        settings.images_dir,
        settings.mosaics_dir,
        settings.quarantine_dir,
    )


def recover(settings: Settings, factory: sessionmaker[Session]) -> dict[str, int]:
    """Clean up after a crash: fail interrupted jobs, requeue their groups, drop partial files.

    Partial outputs are the temporary folders and files the stages write before
    renaming into place (``.<name>.<hex>.tmp``, :mod:`dsa110_contimg.atomic`),
    found at any depth of every product folder (incoming, ms, caltables,
    images, mosaics, quarantine), including per-group image folders; nothing
    registered is touched. Run it when no stage is running.
    """
    with session_scope(factory) as session:
        jobs = repo.unfinished_jobs(session)
        for job in jobs:
            repo.finish_job(
                session, job.run_id, status=JobStatus.FAILED, error="interrupted: the process died"
            )
        groups = repo.groups_processing(session)
        for group in groups:
            repo.requeue_group(session, group, "requeued after an interrupted run")
    partials = find_partials(product_folders(settings))
    for partial in partials:
        discard(partial)
        log.warning("removed partial output %s", partial)
    removed = len(partials)
    if jobs or groups or removed:
        log.warning(
            "recovered: %d interrupted jobs, %d groups requeued, %d partial outputs removed",
            len(jobs),
            len(groups),
            removed,
        )
    return {"jobs": len(jobs), "groups": len(groups), "partials": removed}
