"""Batch operations (writes, API key required): reprocess, rerun, cancel, re-image.

Each request becomes a batch job (``job_type='batch'``) with one item per
target, for the pipeline to execute; the response carries the batch's run id
to follow at ``/api/jobs/{run_id}`` or on the WebSocket topic ``job:<run_id>``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field, StringConstraints, model_validator

from dsa110_contimg.api.deps import DbSession, Writer
from dsa110_contimg.api.errors import WRITE_RESPONSES, ApiError
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Job, JobStatus

router = APIRouter(prefix="/api/batch", tags=["batch"], responses=WRITE_RESPONSES)

GroupKey = Annotated[str, StringConstraints(min_length=1, max_length=32)]
RunKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PathKey = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
MJD = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
Items = {"min_length": 1, "max_length": repo.MAX_BATCH_ITEMS}


class ReprocessRequest(BaseModel):
    """Reprocess groups: by id, or every group starting within an MJD range."""

    group_ids: list[GroupKey] | None = Field(None, **Items)
    mjd_start: MJD | None = None
    mjd_end: MJD | None = None
    params: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_selection(self) -> ReprocessRequest:
        by_range = self.mjd_start is not None or self.mjd_end is not None
        if (self.group_ids is None) == (not by_range):
            raise ValueError("give either group_ids or mjd_start and mjd_end")
        if by_range and (self.mjd_start is None or self.mjd_end is None):
            raise ValueError("a time range needs both mjd_start and mjd_end")
        if by_range and self.mjd_end < self.mjd_start:  # type: ignore[operator]
            raise ValueError("mjd_end is before mjd_start")
        return self


class JobsRequest(BaseModel):
    """Jobs to rerun or cancel, by run id."""

    run_ids: list[RunKey] = Field(**Items)


class ReimageRequest(BaseModel):
    """Measurement Sets to image again, by registered path, with optional imaging parameters."""

    ms_paths: list[PathKey] = Field(**Items)
    params: dict[str, Any] | None = None


class BatchCreated(BaseModel):
    """The batch job created for a request."""

    run_id: str
    operation: str
    status: JobStatus
    n_items: int
    item_keys: list[str]


def _created(job: Job) -> BatchCreated:
    return BatchCreated(
        run_id=job.run_id,
        operation=(job.params or {}).get("operation", ""),
        status=job.status,
        n_items=len(job.items),
        item_keys=[item.item_key for item in job.items],
    )


@router.post("/reprocess", response_model=BatchCreated, status_code=202, summary="Reprocess groups")
def reprocess(body: ReprocessRequest, session: DbSession, who: Writer):
    if body.group_ids is not None:
        group_ids = list(dict.fromkeys(body.group_ids))
        repo.require_groups(session, group_ids)
    else:
        group_ids = repo.groups_in_range(session, body.mjd_start, body.mjd_end)  # type: ignore[arg-type]
        if not group_ids:
            raise ApiError(404, "not_found", "no groups start within that MJD range")
    params = {"mjd_start": body.mjd_start, "mjd_end": body.mjd_end, **(body.params or {})}
    job = repo.create_batch(
        session, "reprocess", [("group", g) for g in group_ids], params=params, requested_by=who
    )
    session.commit()
    return _created(job)


@router.post("/rerun", response_model=BatchCreated, status_code=202, summary="Rerun jobs")
def rerun(body: JobsRequest, session: DbSession, who: Writer):
    run_ids = list(dict.fromkeys(body.run_ids))
    repo.require_jobs(session, run_ids)
    job = repo.create_batch(session, "rerun", [("job", r) for r in run_ids], requested_by=who)
    session.commit()
    return _created(job)


@router.post("/cancel", response_model=BatchCreated, status_code=202, summary="Cancel jobs")
def cancel(body: JobsRequest, session: DbSession, who: Writer):
    job = repo.request_cancel(session, list(dict.fromkeys(body.run_ids)), requested_by=who)
    session.commit()
    return _created(job)


@router.post("/reimage", response_model=BatchCreated, status_code=202, summary="Re-image MS")
def reimage(body: ReimageRequest, session: DbSession, who: Writer):
    paths = list(dict.fromkeys(body.ms_paths))
    repo.require_ms_paths(session, paths)
    job = repo.create_batch(
        session, "reimage", [("ms", p) for p in paths], params=body.params, requested_by=who
    )
    session.commit()
    return _created(job)
