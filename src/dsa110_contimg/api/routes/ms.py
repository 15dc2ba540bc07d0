"""Measurement Sets, addressed by their URL-encoded path (registered paths only)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from dsa110_contimg.api.deps import State, cached_json, product_path
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.api.schemas import PageOf, list_query, orm_schema
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import CalTable, MeasurementSet, MSStage, ProductStatus

router = APIRouter(prefix="/api/ms", tags=["measurement sets"], responses=ERROR_RESPONSES)

MSOut = orm_schema(MeasurementSet, "MeasurementSet")
CalTableRef = orm_schema(CalTable, "CalTableRef")
MSPage = PageOf[MSOut]
MSQuery = list_query("ms")


class MSMetadata(BaseModel):
    """Observation metadata of an MS: times (MJD), pointing, field, shape."""

    path: str
    group_id: str | None
    mjd_start: float
    mjd_mid: float
    mjd_end: float
    duration_s: float
    pointing_ra_deg: float | None
    pointing_dec_deg: float | None
    phase_ra_deg: float | None
    phase_dec_deg: float | None
    field_name: str | None
    n_rows: int | None
    n_channels: int | None
    size_bytes: int | None
    stage: MSStage
    status: ProductStatus
    purged_at: dt.datetime | None = Field(
        None, description="When the storage lifecycle removed the MS from disk (status purged)"
    )
    cal_applied: bool
    calibrator: str | None
    image_ids: list[int]


class CalibratorMatches(BaseModel):
    """The calibration that fits an MS: the transiting calibrator, valid tables, applied tables."""

    path: str
    mjd_mid: float
    calibrator: str | None
    matches: list[CalTableRef]  # type: ignore[valid-type]
    applied: list[CalTableRef]  # type: ignore[valid-type]


@router.get("", response_model=MSPage, summary="List Measurement Sets")
def list_ms(request: Request, state: State, query: MSQuery):
    return cached_json(
        request,
        state,
        MSPage,
        lambda session: repo.list_ms(session, **query),
        validate=False,
    )


# Sub-resources come before the bare path: {path:path} would swallow the suffix.
@router.get("/{path:path}/metadata", response_model=MSMetadata, summary="MS metadata")
def ms_metadata(request: Request, state: State, path: str):
    def build(session: Session) -> dict[str, Any]:
        ms = repo.get_ms(session, product_path(path))
        images = repo.images_of_ms(session, ms.id)
        return {
            **repo.columns_of(ms),
            "duration_s": (ms.mjd_end - ms.mjd_start) * 86400.0,
            "image_ids": [i.id for i in images],
        }

    return cached_json(request, state, MSMetadata, build)


@router.get(
    "/{path:path}/calibrator-matches",
    response_model=CalibratorMatches,
    summary="Calibration tables matching an MS",
)
def ms_calibrator_matches(request: Request, state: State, path: str):
    def build(session: Session) -> dict[str, Any]:
        ms = repo.get_ms(session, product_path(path))
        return {
            "path": ms.path,
            "mjd_mid": ms.mjd_mid,
            "calibrator": ms.calibrator,
            "matches": repo.calibrator_matches(session, ms),
            "applied": repo.cal_applied_to(session, ms.id),
        }

    return cached_json(request, state, CalibratorMatches, build)


@router.get("/{path:path}", response_model=MSOut, summary="One Measurement Set")
def get_ms(request: Request, state: State, path: str):
    return cached_json(
        request, state, MSOut, lambda session: repo.get_ms(session, product_path(path))
    )
