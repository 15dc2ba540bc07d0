"""Jobs and batches: the pipeline reports them, the API requests them."""

from __future__ import annotations

import os
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
from dsa110_contimg.products.repositories.events import publish_event, touch
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

#: Keys of a batch's params that the batch itself sets; a request may not override them.
RESERVED_BATCH_PARAMS = frozenset({"operation"})


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


def start_job(
    session: Session,
    run_id: str,
    *,
    host: str | None = None,
    pid: int | None = None,
    log_path: str | None = None,
) -> Job:
    """Mark a job running now, in process ``pid`` (default: this one) on ``host``, logging to ``log_path``."""
    job = get_job(session, run_id)
    job.status, job.started_at, job.progress = JobStatus.RUNNING, utcnow(), 0.0
    job.host = host or job.host
    job.log_path = log_path or job.log_path
    job.worker_pid = pid if pid is not None else os.getpid()
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
    idempotency_key: str | None = None,
    request_digest: str | None = None,
    group_id: str | None = None,
    parent_run_id: str | None = None,
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
    group_id, parent_run_id
        The group the batch works on and the batch that started it, if any.
    idempotency_key, request_digest
        The request's ``Idempotency-Key`` and the digest of its body (see
        :func:`find_batch`); a second batch with the same key and requester is
        refused by the database.

    Raises
    ------
    InvalidQueryError
        No items, too many, or ``params`` naming a key the batch sets itself
        (``operation``).
    """
    reserved = RESERVED_BATCH_PARAMS.intersection(params or {})
    if reserved:
        raise InvalidQueryError(f"params may not set {', '.join(sorted(reserved))}")
    if not items:
        raise InvalidQueryError("a batch needs at least one item")
    if len(items) > MAX_BATCH_ITEMS:
        raise InvalidQueryError(f"a batch holds at most {MAX_BATCH_ITEMS} items, not {len(items)}")
    job = Job(
        run_id=new_run_id(f"batch-{operation}"),
        job_type="batch",
        params={**dict(params or {}), "operation": operation},
        requested_by=requested_by,
        idempotency_key=idempotency_key,
        request_digest=request_digest,
        group_id=group_id,
    )
    if parent_run_id is not None:
        job.parent_id = get_job(session, parent_run_id).id
    job.items = [
        BatchItem(position=i, item_type=kind, item_key=key) for i, (kind, key) in enumerate(items)
    ]
    session.add(job)
    session.flush()
    _job_event(session, job, "created", operation=operation, n_items=len(items))
    return job


def find_batch(session: Session, requested_by: str | None, idempotency_key: str) -> Job | None:
    """The batch this requester created with this ``Idempotency-Key``, if any."""
    stmt = sa.select(Job).where(
        Job.job_type == "batch",
        Job.idempotency_key == idempotency_key,
        Job.requested_by.is_(None) if requested_by is None else Job.requested_by == requested_by,
    )
    return session.scalars(stmt).first()


def require_jobs(session: Session, run_ids: Sequence[str]) -> list[Job]:
    """The jobs with these run ids; :class:`NotFoundError` if any is unknown."""
    jobs = {j.run_id: j for j in session.scalars(sa.select(Job).where(Job.run_id.in_(run_ids)))}
    missing = [r for r in run_ids if r not in jobs]
    if missing:
        raise NotFoundError(f"unknown job(s): {', '.join(missing[:10])}")
    return [jobs[r] for r in run_ids]


def request_cancel(
    session: Session,
    run_ids: Sequence[str],
    *,
    requested_by: str | None,
    idempotency_key: str | None = None,
    request_digest: str | None = None,
) -> Job:
    """Create a cancel batch; jobs still pending are cancelled at once.

    Running jobs are left to the pipeline, which stops them when it executes
    the batch. Jobs already finished are a :class:`ConflictError`.
    """
    jobs = require_jobs(session, run_ids)
    finished = [j.run_id for j in jobs if j.status not in (JobStatus.PENDING, JobStatus.RUNNING)]
    if finished:
        raise ConflictError(f"job(s) already finished: {', '.join(finished[:10])}")
    batch = create_batch(
        session,
        "cancel",
        [("job", j.run_id) for j in jobs],
        requested_by=requested_by,
        idempotency_key=idempotency_key,
        request_digest=request_digest,
    )
    for job, item in zip(jobs, batch.items, strict=True):
        # conditional: a job a worker claimed meanwhile is running, and the worker stops it
        if job.status is JobStatus.PENDING and finish_job_if(
            session,
            job.run_id,
            [JobStatus.PENDING],
            status=JobStatus.CANCELLED,
            error=f"cancelled by {requested_by or 'unknown'}",
        ):
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


def cancel_open_items(session: Session, batch_run_id: str, reason: str) -> int:
    """Mark a batch's pending and running items cancelled with ``reason``; how many."""
    stmt = (
        sa.update(BatchItem)
        .where(
            BatchItem.batch_id == get_job(session, batch_run_id).id,
            BatchItem.status.in_((JobStatus.PENDING, JobStatus.RUNNING)),
        )
        .values(status=JobStatus.CANCELLED, error=reason)
        .execution_options(synchronize_session="fetch")
    )
    return session.execute(stmt).rowcount


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


# --------------------------------------------------------------------------
# Executing API batches (dsa110_contimg.pipeline.operations) and recover()
# --------------------------------------------------------------------------
#: Batch operations the pipeline executes, claimed from the queue in order.
EXECUTED_OPERATIONS = ("reprocess", "rerun", "reimage", "mosaic")


def _batch_operation(job: Job) -> str:
    return str((job.params or {}).get("operation", ""))


def pending_batch_ids(session: Session) -> list[int]:
    """Ids of the API batches waiting to be executed, oldest first (cancels excluded)."""
    stmt = (
        sa.select(Job.id, Job.params)
        .where(Job.job_type == "batch", Job.status == JobStatus.PENDING, Job.parent_id.is_(None))
        .order_by(Job.created_at, Job.id)
    )
    return [i for i, params in session.execute(stmt) if (params or {}).get("operation") != "cancel"]


def claim_batch(session: Session, *, host: str, pid: int) -> Job | None:
    """Claim the oldest pending API batch for this process; None when none waits.

    The claim is one conditional update (``... WHERE status = 'pending'``): of
    two daemons racing for a batch, exactly one changes the row; the other
    goes on to the next. Commit at once so the claim is seen.
    """
    for batch_id in pending_batch_ids(session):
        claimed = session.execute(
            sa.update(Job)
            .where(Job.id == batch_id, Job.status == JobStatus.PENDING)
            .values(
                status=JobStatus.RUNNING,
                started_at=utcnow(),
                host=host,
                worker_pid=pid,
                progress=0.0,
            )
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed == 1:
            job = session.get(Job, batch_id)
            session.refresh(job)
            _job_event(session, job, "started")
            return job
    return None


def finish_job_if(
    session: Session,
    run_id: str,
    expected: Sequence[JobStatus],
    *,
    status: JobStatus,
    error: str | None = None,
) -> bool:
    """Finish a job only if its status is one of ``expected`` (a conditional update)."""
    now = utcnow()
    changed = session.execute(
        sa.update(Job)
        .where(Job.run_id == run_id, Job.status.in_(list(expected)))
        .values(status=status, finished_at=now, error=error, child_pgid=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        job = get_job(session, run_id)
        session.refresh(job)
        if job.started_at is not None:
            job.duration_s = (now - job.started_at).total_seconds()
        session.flush()
        _job_event(session, job, "finished", error=error)
    return bool(changed)


def requeue_batch(session: Session, run_id: str, reason: str) -> Job:
    """Put a running batch back in the queue (its process died), with the reason.

    Finished items stay finished; the others are pending again, and the next
    claim resumes the batch from its first unfinished item.
    """
    job = get_job(session, run_id)
    job.status, job.started_at, job.worker_pid = JobStatus.PENDING, None, None
    job.attempt = (job.attempt or 1) + 1
    job.error = reason
    for item in job.items:
        if item.status is JobStatus.RUNNING:
            item.status, item.error = JobStatus.PENDING, reason
    session.flush()
    _job_event(session, job, "requeued", error=reason)
    return job


def record_child(session: Session, run_id: str, pgid: int | None) -> None:
    """Record (or clear, with None) the process group of a job's external program."""
    session.execute(sa.update(Job).where(Job.run_id == run_id).values(child_pgid=pgid))
    touch(session, f"job:{run_id}")


def running_jobs(session: Session) -> list[Job]:
    """The jobs marked running (by any process)."""
    return list(session.scalars(sa.select(Job).where(Job.status == JobStatus.RUNNING)))


def cancel_request(session: Session, run_ids: Sequence[str]) -> str | None:
    """Who asked to cancel one of these jobs (a cancel batch's ``requested_by``), or None."""
    ids = [r for r in run_ids if r]
    if not ids:
        return None
    stmt = (
        sa.select(Job.requested_by)
        .join(BatchItem, BatchItem.batch_id == Job.id)
        .where(
            Job.job_type == "batch",
            Job.run_id.like("batch-cancel-%"),
            BatchItem.item_type == "job",
            BatchItem.item_key.in_(ids),
            BatchItem.status.in_([JobStatus.PENDING, JobStatus.RUNNING]),
        )
        .limit(1)
    )
    row = session.execute(stmt).first()
    return None if row is None else (row[0] or "unknown")


def settle_cancels(session: Session, *, honoured: Sequence[str] = ()) -> int:
    """Bring the open cancel batches up to date; the number of items settled.

    An item is done when its job has ended (``honoured``: the run ids this
    process just cancelled; others ended on their own or by ``recover``); a
    job still pending is cancelled now (conditionally). A job running
    elsewhere is left to the process running it, which checks
    :func:`cancel_request` between steps and while its external program runs.
    A cancel batch whose items are all done ends ``succeeded``.
    """
    stmt = sa.select(Job).where(
        Job.job_type == "batch",
        Job.run_id.like("batch-cancel-%"),
        Job.status.in_([JobStatus.PENDING, JobStatus.RUNNING]),
    )
    settled = 0
    for batch in session.scalars(stmt).all():
        who = batch.requested_by or "unknown"
        for item in batch.items:
            if item.status not in (JobStatus.PENDING, JobStatus.RUNNING):
                continue
            target = session.scalar(sa.select(Job).where(Job.run_id == item.item_key))
            if target is None:
                item.status, item.error = JobStatus.FAILED, "unknown job"
            elif target.status is JobStatus.PENDING:
                finish_job_if(
                    session,
                    target.run_id,
                    [JobStatus.PENDING],
                    status=JobStatus.CANCELLED,
                    error=f"cancelled by {who}",
                )
                session.refresh(target)
            if target is not None and target.status is not JobStatus.RUNNING:
                item.status = JobStatus.SUCCEEDED
                if target.status is not JobStatus.CANCELLED:
                    item.error = f"already {target.status} before the cancel took effect"
            elif target is not None and target.run_id in honoured:
                item.status = JobStatus.SUCCEEDED
            else:
                continue
            settled += 1
        if all(i.status not in (JobStatus.PENDING, JobStatus.RUNNING) for i in batch.items):
            if batch.started_at is None:
                batch.started_at = utcnow()
            finish_job(session, batch.run_id, status=JobStatus.SUCCEEDED)
    session.flush()
    return settled
