"""Jobs and batches: the pipeline reports them, the API requests them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dsa110_contimg.products.models import (
    BatchItem,
    Job,
    JobStatus,
    utcnow,
)
from dsa110_contimg.products.repositories.events import publish_event
from dsa110_contimg.products.repositories.query import (
    MAX_BATCH_ITEMS,
    ConflictError,
    Filter,
    InvalidQueryError,
    Listing,
    NotFoundError,
    _one,
    _set_fields,
)


def new_run_id(job_type: str) -> str:
    """A unique, sortable run id such as ``image-20261128T120000-1a2b3c4d``."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%S")
    return f"{job_type}-{stamp}-{uuid.uuid4().hex[:8]}"


def _job_event(session: Session, job: Job, kind: str, **extra: Any) -> None:
    payload = {"run_id": job.run_id, "job_type": job.job_type, "status": str(job.status)}
    publish_event(session, f"job:{job.run_id}", kind, {**payload, **extra})


def create_job(
    session: Session,
    *,
    job_type: str,
    run_id: str | None = None,
    parent_run_id: str | None = None,
    **fields: Any,
) -> Job:
    """Create a pending job; its events go to topic ``job:<run_id>``."""
    job = Job(run_id=run_id or new_run_id(job_type), job_type=job_type)
    if parent_run_id is not None:
        job.parent_id = get_job(session, parent_run_id).id
    _set_fields(job, fields)
    session.add(job)
    session.flush()
    _job_event(session, job, "created")
    return job


def start_job(session: Session, run_id: str, *, host: str | None = None) -> Job:
    """Mark a job running now."""
    job = get_job(session, run_id)
    job.status, job.started_at, job.progress = JobStatus.RUNNING, utcnow(), 0.0
    job.host = host or job.host
    session.flush()
    _job_event(session, job, "started")
    return job


def update_job_progress(
    session: Session, run_id: str, progress: float, message: str | None = None
) -> Job:
    """Record a running job's progress (0..1) and announce it."""
    if not 0.0 <= progress <= 1.0:
        raise ValueError(f"progress must be within 0..1, not {progress}")
    job = get_job(session, run_id)
    job.progress = progress
    session.flush()
    _job_event(session, job, "progress", progress=progress, message=message)
    return job


def finish_job(
    session: Session,
    run_id: str,
    *,
    status: JobStatus | str = JobStatus.SUCCEEDED,
    outputs: Mapping[str, Any] | None = None,
    error: str | None = None,
) -> Job:
    """Mark a job finished (succeeded, failed or cancelled) with its outputs or error."""
    job = get_job(session, run_id)
    job.status = JobStatus(status)
    job.finished_at = utcnow()
    if job.started_at is not None:
        job.duration_s = (job.finished_at - job.started_at).total_seconds()
    if job.status is JobStatus.SUCCEEDED:
        job.progress = 1.0
    if outputs is not None:
        job.outputs = dict(outputs)
    job.error = error
    session.flush()
    _job_event(session, job, "finished", error=error)
    return job


def create_batch(
    session: Session,
    operation: str,
    items: Sequence[tuple[str, str]],
    *,
    params: Mapping[str, Any] | None = None,
    requested_by: str | None = None,
) -> Job:
    """Create a batch job (``job_type='batch'``) with one pending item per target.

    Parameters
    ----------
    operation
        What the pipeline should do to each item: ``reprocess``, ``rerun``,
        ``cancel``, ``reimage``.
    items
        ``(item_type, item_key)`` pairs, e.g. ``("group", "2026-11-28T12:00:00")``.
    params
        Extra parameters recorded with the batch.
    requested_by
        Who asked (an API key's fingerprint, a user name).
    """
    if not items:
        raise InvalidQueryError("a batch needs at least one item")
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidQueryError(f"a batch holds at most {MAX_BATCH_ITEMS} items, not {len(items)}")
    job = Job(
        run_id=new_run_id(f"batch-{operation}"),
        job_type="batch",
        params={"operation": operation, **dict(params or {})},
        requested_by=requested_by,
    )
    job.items = [
        BatchItem(position=i, item_type=kind, item_key=key) for i, (kind, key) in enumerate(items)
    ]
    session.add(job)
    session.flush()
    _job_event(session, job, "created", operation=operation, n_items=len(items))
    return job


def require_jobs(session: Session, run_ids: Sequence[str]) -> list[Job]:
    """The jobs with these run ids; :class:`NotFoundError` if any is unknown."""
    jobs = {j.run_id: j for j in session.scalars(sa.select(Job).where(Job.run_id.in_(run_ids)))}
    missing = [r for r in run_ids if r not in jobs]
    if missing:
        raise NotFoundError(f"unknown job(s): {', '.join(missing[:10])}")
    return [jobs[r] for r in run_ids]


def request_cancel(session: Session, run_ids: Sequence[str], *, requested_by: str | None) -> Job:
    """Create a cancel batch; jobs still pending are cancelled at once.

    Running jobs are left to the pipeline, which stops them when it executes
    the batch. Jobs already finished are a :class:`ConflictError`.
    """
    jobs = require_jobs(session, run_ids)
    finished = [j.run_id for j in jobs if j.status not in (JobStatus.PENDING, JobStatus.RUNNING)]
    if finished:
        raise ConflictError(f"job(s) already finished: {', '.join(finished[:10])}")
    batch = create_batch(
        session, "cancel", [("job", j.run_id) for j in jobs], requested_by=requested_by
    )
    for job, item in zip(jobs, batch.items, strict=True):
        if job.status is JobStatus.PENDING:
            finish_job(
                session, job.run_id, status=JobStatus.CANCELLED, error="cancelled on request"
            )
            item.status = JobStatus.SUCCEEDED
    session.flush()
    return batch


def get_job(session: Session, run_id: str) -> Job:
    """The job with this run id, or :class:`NotFoundError`."""
    return _one(session, sa.select(Job).where(Job.run_id == run_id), f"job {run_id!r}")


def job_children(session: Session, job_id: int) -> list[Job]:
    """The jobs started as parts of a job."""
    return list(session.scalars(sa.select(Job).where(Job.parent_id == job_id).order_by(Job.id)))


def job_items(session: Session, job_id: int) -> list[BatchItem]:
    """The items of a batch job, in order."""
    stmt = sa.select(BatchItem).where(BatchItem.batch_id == job_id).order_by(BatchItem.position)
    return list(session.scalars(stmt))


def _child_of(parent_run_id: str) -> Any:
    parent = sa.select(Job.id).where(Job.run_id == parent_run_id).scalar_subquery()
    return Job.parent_id == parent


#: Jobs, by status, type, group and parent.
JOBS = Listing(
    "jobs",
    Job,
    (
        Filter("status", JobStatus, Job.status),
        Filter("job_type", str, Job.job_type, max_length=32),
        Filter("group_id", str, Job.group_id, max_length=32),
        Filter(
            "parent_run_id",
            str,
            op="where",
            max_length=64,
            description="Only the jobs started by this one",
            where=_child_of,
        ),
    ),
)
list_jobs = JOBS.page


# --------------------------------------------------------------------------
# The runner's writes (dsa110_contimg.pipeline.runner)
# --------------------------------------------------------------------------
def set_batch_item(
    session: Session,
    batch_run_id: str,
    position: int,
    status: JobStatus,
    *,
    run_id: str | None = None,
    error: str | None = None,
) -> BatchItem:
    """Set the status (and error, and the job that ran it) of a batch's item at ``position``."""
    batch = get_job(session, batch_run_id)
    item = session.scalars(
        sa.select(BatchItem).where(BatchItem.batch_id == batch.id, BatchItem.position == position)
    ).one()
    item.status, item.error = status, error
    if run_id is not None:
        item.job_id = get_job(session, run_id).id
    return item


def unfinished_jobs(session: Session) -> list[Job]:
    """The jobs still pending or running (after a crash: the interrupted ones)."""
    stmt = sa.select(Job).where(Job.status.in_([JobStatus.RUNNING, JobStatus.PENDING]))
    return list(session.scalars(stmt))
