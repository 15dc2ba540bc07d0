"""Exports of sources, photometry, light curves, candidates, jobs and images (streamed)."""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from dsa110_contimg.api.deps import DbSession, State
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.api.exports import MEDIA_TYPES, Format, stream
from dsa110_contimg.api.schemas import mjd_query
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    Candidate,
    CandidateKind,
    CandidateStatus,
    Image,
    Job,
    JobStatus,
    Photometry,
    ProductStatus,
    Source,
    VariabilityMetrics,
)

router = APIRouter(prefix="/api/export", tags=["exports"], responses=ERROR_RESPONSES)

FormatQuery = Annotated[Format, Query(alias="format", description="csv, json or votable")]
Id = Annotated[int | None, Query(ge=1, le=2**63 - 1)]
_FILE = {
    200: {
        "content": {media: {} for media in MEDIA_TYPES.values()},
        "description": "The table, streamed",
    }
}
_METRICS = (
    "n_epochs",
    "first_mjd",
    "last_mjd",
    "mean_flux_jy",
    "weighted_mean_flux_jy",
    "std_flux_jy",
    "v",
    "eta",
    "chi2_nu",
    "vs_max",
    "m2_max",
    "sigma_deviation",
)


def _respond(state: Any, stmt: sa.Select[Any], fmt: str, name: str) -> StreamingResponse:
    extension = {"csv": "csv", "json": "json", "votable": "vot"}[fmt]
    return StreamingResponse(
        stream(state.sessions, stmt, fmt),  # type: ignore[arg-type]
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}.{extension}"'},
    )


def _table_columns(model: Any) -> list[Any]:
    return list(model.__table__.columns)


@router.get("/sources", response_class=StreamingResponse, responses=_FILE, summary="Sources")
def export_sources(
    state: State,
    session: DbSession,
    fmt: FormatQuery = "csv",
    catalog: Annotated[str | None, Query(max_length=32)] = None,
    eta_min: Annotated[float | None, Query(ge=0, le=1e12, allow_inf_nan=False)] = None,
    v_min: Annotated[float | None, Query(ge=0, le=1e6, allow_inf_nan=False)] = None,
    candidates_only: bool = False,
):
    stmt = repo.sources_query(
        session, catalog=catalog, eta_min=eta_min, v_min=v_min, candidates_only=candidates_only
    )
    columns = _table_columns(Source) + [getattr(VariabilityMetrics, m) for m in _METRICS]
    stmt = stmt.with_only_columns(*columns).order_by(Source.id)
    return _respond(state, stmt, fmt, "sources")


@router.get("/photometry", response_class=StreamingResponse, responses=_FILE, summary="Photometry")
def export_photometry(
    state: State,
    fmt: FormatQuery = "csv",
    source_id: Id = None,
    image_id: Id = None,
    mjd_min: mjd_query("Earliest measurement (MJD)") = None,
    mjd_max: mjd_query("Latest measurement (MJD)") = None,
):
    stmt = repo.photometry_query(
        source_id=source_id, image_id=image_id, mjd_min=mjd_min, mjd_max=mjd_max
    )
    stmt = stmt.with_only_columns(*_table_columns(Photometry)).order_by(Photometry.id)
    return _respond(state, stmt, fmt, "photometry")


@router.get(
    "/lightcurve/{source_id}",
    response_class=StreamingResponse,
    responses=_FILE,
    summary="A source's light curve",
)
def export_light_curve(
    state: State,
    session: DbSession,
    source_id: Annotated[int, Path(ge=1, le=2**63 - 1)],
    fmt: FormatQuery = "csv",
    mjd_min: mjd_query("Earliest measurement (MJD)") = None,
    mjd_max: mjd_query("Latest measurement (MJD)") = None,
):
    source = repo.get_source(session, source_id)
    stmt = repo.photometry_query(source_id=source_id, mjd_min=mjd_min, mjd_max=mjd_max)
    columns = [getattr(Photometry, c) for c in repo.LIGHT_CURVE_COLUMNS]
    stmt = stmt.with_only_columns(*columns).order_by(Photometry.mjd)
    return _respond(state, stmt, fmt, f"lightcurve-{source.name}")


@router.get("/candidates", response_class=StreamingResponse, responses=_FILE, summary="Candidates")
def export_candidates(
    state: State,
    fmt: FormatQuery = "csv",
    kind: CandidateKind | None = None,
    status: CandidateStatus | None = None,
):
    stmt = repo.candidates_query(kind=kind, status=status)
    stmt = stmt.with_only_columns(*_table_columns(Candidate)).order_by(Candidate.id)
    return _respond(state, stmt, fmt, "candidates")


@router.get("/jobs", response_class=StreamingResponse, responses=_FILE, summary="Jobs")
def export_jobs(
    state: State,
    fmt: FormatQuery = "csv",
    status: JobStatus | None = None,
    job_type: Annotated[str | None, Query(max_length=32)] = None,
):
    stmt = repo.jobs_query(status=status, job_type=job_type)
    stmt = stmt.with_only_columns(*_table_columns(Job)).order_by(Job.id)
    return _respond(state, stmt, fmt, "jobs")


@router.get("/images", response_class=StreamingResponse, responses=_FILE, summary="Images")
def export_images(
    state: State,
    fmt: FormatQuery = "csv",
    status: ProductStatus | None = None,
    mjd_min: mjd_query("Earliest observation (MJD)") = None,
    mjd_max: mjd_query("Latest observation (MJD)") = None,
):
    stmt = repo.images_query(status=status, mjd_min=mjd_min, mjd_max=mjd_max)
    stmt = stmt.with_only_columns(*_table_columns(Image)).order_by(Image.id)
    return _respond(state, stmt, fmt, "images")
