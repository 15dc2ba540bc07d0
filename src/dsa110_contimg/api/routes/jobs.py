"""Jobs: list, detail with batch items and sub-jobs, provenance, logs."""

from __future__ import annotations

import datetime as dt
from collections import deque
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from dsa110_contimg.api.deps import DbSession, State, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.api.files import product_file
from dsa110_contimg.api.schemas import PageOf, list_query, orm_schema
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import BatchItem, Job, JobStatus

router = APIRouter(prefix="/api/jobs", tags=["jobs"], responses=ERROR_RESPONSES)
logs_router = APIRouter(prefix="/api/logs", tags=["jobs"], responses=ERROR_RESPONSES)

JobOut = orm_schema(Job, "Job")
BatchItemOut = orm_schema(BatchItem, "BatchItem")
JobPage = PageOf[JobOut]
JobQuery = list_query("jobs")
RunId = Annotated[str, Path(min_length=1, max_length=64, description="The job's run id")]
Tail = Annotated[int, Query(ge=1, le=10_000, description="How many last lines")]

#: Largest log tail read, in bytes (protects against huge log files).
MAX_LOG_BYTES = 8 << 20


class JobDetail(JobOut):  # type: ignore[misc,valid-type]
    """A job with its batch items and the jobs it started."""

    items: list[BatchItemOut]  # type: ignore[valid-type]
    children: list[JobOut]  # type: ignore[valid-type]


class Provenance(BaseModel):
    """What a job did and with what: parameters, inputs, outputs, software, timings.

    ``settings`` and ``settings_hash`` repeat, from ``params``, the settings a
    pipeline step's results depend on (thresholds of its science section) and
    their hash: two jobs with the same hash ran with the same values.
    """

    run_id: str
    job_type: str
    status: JobStatus
    parent_run_id: str | None
    group_id: str | None
    params: dict[str, Any] | None
    settings: dict[str, Any] | None = None
    settings_hash: str | None = None
    inputs: dict[str, Any] | None
    outputs: dict[str, Any] | None
    software_version: str | None
    host: str | None
    attempt: int
    requested_by: str | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    duration_s: float | None
    error: str | None


class JobLog(BaseModel):
    """The last lines of a job's log."""

    run_id: str
    path: str
    lines: list[str]
    truncated: bool


@router.get("", response_model=JobPage, summary="List jobs")
def list_jobs(request: Request, state: State, query: JobQuery):
    return cached_json(
        request,
        state,
        JobPage,
        lambda session: repo.list_jobs(session, **query),
        validate=False,
    )


@router.get("/{run_id}", response_model=JobDetail, summary="One job")
def get_job(request: Request, state: State, run_id: RunId):
    def build(session: Session) -> dict[str, Any]:
        job = repo.get_job(session, run_id)
        return {
            **repo.columns_of(job),
            "items": repo.job_items(session, job.id),
            "children": repo.job_children(session, job.id),
        }

    return cached_json(request, state, JobDetail, build)


@router.get("/{run_id}/provenance", response_model=Provenance, summary="A job's provenance")
def get_provenance(request: Request, state: State, run_id: RunId):
    def build(session: Session) -> dict[str, Any]:
        job = repo.get_job(session, run_id)
        params = job.params or {}
        return {
            **repo.columns_of(job),
            "parent_run_id": job.parent.run_id if job.parent else None,
            "settings": params.get("settings"),
            "settings_hash": params.get("settings_hash"),
        }

    return cached_json(request, state, Provenance, build)


def _tail(state: Any, session: Any, run_id: str, tail: int) -> JobLog:
    job = repo.get_job(session, run_id)
    path = product_file(
        state.settings, job.log_path, f"the log of job {run_id}", purged_at=job.log_purged_at
    )
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        start = max(0, size - MAX_LOG_BYTES)
        handle.seek(start)
        text = handle.read().decode("utf-8", errors="replace")
    all_lines = text.splitlines()
    if start > 0 and all_lines:
        all_lines = all_lines[1:]  # the first line was cut mid-way
    lines = list(deque(all_lines, maxlen=tail))
    return JobLog(
        run_id=run_id, path=str(path), lines=lines, truncated=start > 0 or len(all_lines) > tail
    )


# Logs grow without a database event, so they are never cached.
@router.get("/{run_id}/logs", response_model=JobLog, summary="Tail of a job's log")
def get_job_logs(state: State, session: DbSession, run_id: RunId, tail: Tail = 200):
    return _tail(state, session, run_id, tail)


@logs_router.get("/{run_id}", response_model=JobLog, summary="Tail of a job's log")
def get_logs(state: State, session: DbSession, run_id: RunId, tail: Tail = 200):
    return _tail(state, session, run_id, tail)
