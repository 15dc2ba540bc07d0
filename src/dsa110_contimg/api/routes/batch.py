"""Batch operations (writes, API key required): reprocess, rerun, cancel, re-image, mosaic.

Each request becomes a batch job (``job_type='batch'``) with one item per
target, for the pipeline to execute; the response carries the batch's run id
to follow at ``/api/jobs/{run_id}`` or on the WebSocket topic ``job:<run_id>``.

A request may carry an ``Idempotency-Key`` header: sent again with the same
body (say after a timeout), it returns the batch the first one created (200,
header ``Idempotent-Replayed: true``) instead of creating another; the same key
with another body is a 409. Keys are per API key.

The ``params`` of a reprocess or re-image are checked as the pipeline will
use them (``from_step``, tier, imaging parameters and their ranges) before the
batch is recorded: a request it could not run is a 422 ``invalid_parameters``
naming the parameter and what it allows, and no batch is created.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field, StringConstraints, model_validator
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dsa110_contimg.api.deps import DbSession, State, Writer
from dsa110_contimg.api.errors import WRITE_RESPONSES, ApiError
from dsa110_contimg.config import Settings
from dsa110_contimg.pipeline.operations import check_batch_params
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Job, JobStatus

router = APIRouter(prefix="/api/batch", tags=["batch"], responses=WRITE_RESPONSES)

GroupKey = Annotated[str, StringConstraints(min_length=1, max_length=32)]
RunKey = Annotated[str, StringConstraints(min_length=1, max_length=64)]
PathKey = Annotated[str, StringConstraints(min_length=1, max_length=1024)]
MJD = Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)]
Items = {"min_length": 1, "max_length": repo.MAX_BATCH_ITEMS}
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[!-~]+$",
        description="A client-chosen key (printable ASCII, no spaces): a request sent again "
        "with the same key and body returns the first batch instead of making another.",
    ),
]
#: Keys of a reprocess request's params that the request's own fields set.
REPROCESS_RESERVED = repo.RESERVED_BATCH_PARAMS | {"mjd_start", "mjd_end"}


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


class MosaicRequest(BaseModel):
    """A mosaic: a declination strip over an MJD range, or chosen pb-corrected images."""

    dec_deg: float | None = Field(None, ge=-90, le=90, allow_inf_nan=False)
    mjd_start: MJD | None = None
    mjd_end: MJD | None = None
    strip_width_deg: float | None = Field(None, gt=0, le=30, allow_inf_nan=False)
    image_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] | None = Field(None, **Items)

    @model_validator(mode="after")
    def _one_selection(self) -> MosaicRequest:
        by_strip = any(v is not None for v in (self.dec_deg, self.mjd_start, self.mjd_end))
        if (self.image_ids is None) == (not by_strip):
            raise ValueError("give either image_ids or dec_deg, mjd_start and mjd_end")
        if by_strip and None in (self.dec_deg, self.mjd_start, self.mjd_end):
            raise ValueError("a strip needs dec_deg, mjd_start and mjd_end")
        if by_strip and self.mjd_end <= self.mjd_start:  # type: ignore[operator]
            raise ValueError("mjd_end must be after mjd_start")
        if by_strip and self.mjd_end - self.mjd_start > 366:  # type: ignore[operator]
            raise ValueError("a strip's range is at most 366 days")
        if self.image_ids is not None and self.strip_width_deg is not None:
            raise ValueError("strip_width_deg goes with a strip, not with image_ids")
        return self


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


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests dicts and lists deeper than ``limit`` (iterative, stops early)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        for child in children:
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def check_params(
    settings: Settings,
    params: dict[str, Any] | None,
    reserved: frozenset[str] | set[str],
    operation: str,
) -> None:
    """Refuse params the batch could not run with, before anything is recorded.

    Too deep or too large, setting a key the batch sets itself, or refused by
    the pipeline when it would run the batch (an unknown ``from_step``, an
    imaging parameter out of range or unknown:
    :func:`~dsa110_contimg.pipeline.operations.check_batch_params`): a 202
    means a worker can run it.

    Raises
    ------
    ApiError
        422 ``invalid_parameters``.
    """
    if not params:
        return
    depth, size = settings.api_max_params_depth, settings.api_max_params_bytes
    if _depth_over(params, depth):
        raise ApiError(422, "invalid_parameters", f"params nest deeper than {depth} levels")
    if len(json.dumps(params, separators=(",", ":"))) > size:
        raise ApiError(422, "invalid_parameters", f"params are larger than {size} bytes")
    clash = reserved.intersection(params)
    if clash:
        raise ApiError(
            422,
            "invalid_parameters",
            f"params may not set {', '.join(sorted(clash))}",
            details={"reserved": sorted(reserved)},
        )
    try:
        check_batch_params(operation, params)
    except repo.InvalidQueryError as exc:
        raise ApiError(422, "invalid_parameters", str(exc)) from None


def _digest(operation: str, body: BaseModel) -> str:
    request = {"operation": operation, "body": body.model_dump(mode="json")}
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _replayed(job: Job, digest: str, response: Response) -> BatchCreated:
    if job.request_digest != digest:
        raise ApiError(
            409,
            "idempotency_key_reused",
            "this Idempotency-Key was used for another request; use a new key",
            details={"run_id": job.run_id},
        )
    response.status_code = 200
    response.headers["Idempotent-Replayed"] = "true"
    return _created(job)


def _submit(
    session: Session,
    who: str,
    key: str | None,
    response: Response,
    operation: str,
    body: BaseModel,
    create: Callable[[str | None, str | None], Job],
) -> BatchCreated:
    """Create the batch (``create(key, digest)``), or return the one this key already made."""
    digest = _digest(operation, body)
    if key is not None:
        existing = repo.find_batch(session, who, key)
        if existing is not None:
            return _replayed(existing, digest, response)
    try:
        job = create(key, digest if key is not None else None)
        session.commit()
    except IntegrityError:  # the same key, committed by a concurrent request meanwhile
        session.rollback()
        existing = repo.find_batch(session, who, key) if key is not None else None
        if existing is None:
            raise
        return _replayed(existing, digest, response)
    return _created(job)


_REPLAYED = {200: {"model": BatchCreated, "description": "The batch this Idempotency-Key made"}}


@router.post(
    "/reprocess",
    response_model=BatchCreated,
    status_code=202,
    responses=_REPLAYED,
    summary="Reprocess groups",
)
def reprocess(
    body: ReprocessRequest,
    session: DbSession,
    who: Writer,
    state: State,
    response: Response,
    key: IdempotencyKey = None,
):
    check_params(state.settings, body.params, REPROCESS_RESERVED, "reprocess")
    if body.group_ids is not None:
        group_ids = list(dict.fromkeys(body.group_ids))
        repo.require_groups(session, group_ids)
    else:
        group_ids = repo.groups_in_range(session, body.mjd_start, body.mjd_end)  # type: ignore[arg-type]
        if not group_ids:
            raise ApiError(404, "not_found", "no groups start within that MJD range")
    params = {**(body.params or {}), "mjd_start": body.mjd_start, "mjd_end": body.mjd_end}

    def create(idem: str | None, digest: str | None) -> Job:
        return repo.create_batch(
            session,
            "reprocess",
            [("group", g) for g in group_ids],
            params=params,
            requested_by=who,
            idempotency_key=idem,
            request_digest=digest,
        )

    return _submit(session, who, key, response, "reprocess", body, create)


@router.post(
    "/rerun",
    response_model=BatchCreated,
    status_code=202,
    responses=_REPLAYED,
    summary="Rerun jobs",
)
def rerun(
    body: JobsRequest,
    session: DbSession,
    who: Writer,
    response: Response,
    key: IdempotencyKey = None,
):
    run_ids = list(dict.fromkeys(body.run_ids))
    repo.require_jobs(session, run_ids)

    def create(idem: str | None, digest: str | None) -> Job:
        items = [("job", r) for r in run_ids]
        return repo.create_batch(
            session, "rerun", items, requested_by=who, idempotency_key=idem, request_digest=digest
        )

    return _submit(session, who, key, response, "rerun", body, create)


@router.post(
    "/cancel",
    response_model=BatchCreated,
    status_code=202,
    responses=_REPLAYED,
    summary="Cancel jobs",
)
def cancel(
    body: JobsRequest,
    session: DbSession,
    who: Writer,
    response: Response,
    key: IdempotencyKey = None,
):
    def create(idem: str | None, digest: str | None) -> Job:
        return repo.request_cancel(
            session,
            list(dict.fromkeys(body.run_ids)),
            requested_by=who,
            idempotency_key=idem,
            request_digest=digest,
        )

    return _submit(session, who, key, response, "cancel", body, create)


@router.post(
    "/reimage",
    response_model=BatchCreated,
    status_code=202,
    responses=_REPLAYED,
    summary="Re-image MS",
)
def reimage(
    body: ReimageRequest,
    session: DbSession,
    who: Writer,
    state: State,
    response: Response,
    key: IdempotencyKey = None,
):
    check_params(state.settings, body.params, repo.RESERVED_BATCH_PARAMS, "reimage")
    paths = list(dict.fromkeys(body.ms_paths))
    repo.require_ms_paths(session, paths)

    def create(idem: str | None, digest: str | None) -> Job:
        items = [("ms", p) for p in paths]
        return repo.create_batch(
            session,
            "reimage",
            items,
            params=body.params,
            requested_by=who,
            idempotency_key=idem,
            request_digest=digest,
        )

    return _submit(session, who, key, response, "reimage", body, create)


@router.post(
    "/mosaic",
    response_model=BatchCreated,
    status_code=202,
    responses=_REPLAYED,
    summary="Make a mosaic",
)
def mosaic(
    body: MosaicRequest,
    session: DbSession,
    who: Writer,
    response: Response,
    key: IdempotencyKey = None,
):
    """Queue a mosaic of a strip and MJD range (a new version of it), or of chosen images."""
    if body.image_ids is not None:
        ids = sorted(set(body.image_ids))
        repo.require_mosaic_images(session, ids)
        item = f"images:{','.join(map(str, ids[:20]))}{',...' if len(ids) > 20 else ''}"
        params: dict[str, Any] = {"image_ids": ids}
    else:
        item = f"strip:{body.dec_deg:+.4f}:{body.mjd_start:.5f}-{body.mjd_end:.5f}"
        params = body.model_dump(exclude={"image_ids"}, exclude_none=True)

    def create(idem: str | None, digest: str | None) -> Job:
        return repo.create_batch(
            session,
            "mosaic",
            [("mosaic", item)],
            params=params,
            requested_by=who,
            idempotency_key=idem,
            request_digest=digest,
        )

    return _submit(session, who, key, response, "mosaic", body, create)
