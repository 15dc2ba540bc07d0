"""Exports of sources, photometry, light curves, candidates, jobs and images (streamed)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

import sqlalchemy as sa
from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse

from dsa110_contimg.api.deps import DbSession, ExportSlot, State
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.api.exports import MEDIA_TYPES, Format, stream
from dsa110_contimg.api.schemas import list_query
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    Candidate,
    Image,
    Job,
    Photometry,
    Source,
    VariabilityMetrics,
)

# Each export holds a slot (api_max_exports) until its body has been sent.
router = APIRouter(
    prefix="/api/export", tags=["exports"], responses=ERROR_RESPONSES, dependencies=[ExportSlot]
)

FormatQuery = Annotated[Format, Query(alias="format", description="csv, json or votable")]
_FILE = {
    200: {
        "content": {media: {} for media in MEDIA_TYPES.values()},
        "description": "The table, streamed",
    }
}


def content_disposition(filename: str) -> str:
    """An attachment header for ``filename`` (RFC 6266): an ASCII ``filename`` for old
    clients and the exact name, UTF-8 percent-encoded, in ``filename*``.

    Header values are Latin-1 on the wire, so a source named in Greek or Chinese
    must not go in as it is (it would fail the response); quotes and backslashes
    never reach the quoted form either.
    """
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\%' else "_" for c in filename)
    encoded = quote(filename, safe="")
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"


def _respond(
    state: Any, stmt: sa.Select[Any], fmt: str, name: str, key: Any | None
) -> StreamingResponse:
    extension = {"csv": "csv", "json": "json", "votable": "vot"}[fmt]
    return StreamingResponse(
        stream(state.sessions, stmt, fmt, key=key),  # type: ignore[arg-type]
        media_type=MEDIA_TYPES[fmt],
        headers={"Content-Disposition": content_disposition(f"{name}.{extension}")},
    )


def _table_columns(model: Any) -> list[Any]:
    return list(model.__table__.columns)


#: Each export's filters: some of its list's, as the list declares them.
SourceFilters = list_query(
    "sources",
    only=("catalog", "eta_min", "v_min", "candidates_only", "verdict", "tag", "unvetted"),
    paged=False,
)
PhotometryFilters = list_query("photometry", paged=False)
LightCurveRange = list_query("photometry", only=("mjd_min", "mjd_max"), paged=False)
CandidateFilters = list_query("candidates", only=("kind", "status", "tag", "unvetted"), paged=False)
JobFilters = list_query("jobs", only=("status", "job_type"), paged=False)
ImageFilters = list_query("images", only=("status", "mjd_min", "mjd_max"), paged=False)


@router.get("/sources", response_class=StreamingResponse, responses=_FILE, summary="Sources")
def export_sources(
    state: State, session: DbSession, filters: SourceFilters, fmt: FormatQuery = "csv"
):
    stmt = repo.SOURCES.select(session, **filters)
    columns = _table_columns(Source) + [getattr(VariabilityMetrics, m) for m in repo.SOURCE_METRICS]
    stmt = stmt.with_only_columns(*columns).order_by(Source.id)
    return _respond(state, stmt, fmt, "sources", key=Source.id)


@router.get("/photometry", response_class=StreamingResponse, responses=_FILE, summary="Photometry")
def export_photometry(state: State, filters: PhotometryFilters, fmt: FormatQuery = "csv"):
    stmt = repo.PHOTOMETRY.select(**filters)
    stmt = stmt.with_only_columns(*_table_columns(Photometry)).order_by(Photometry.id)
    return _respond(state, stmt, fmt, "photometry", key=Photometry.id)


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
    mjd_range: LightCurveRange,
    fmt: FormatQuery = "csv",
):
    source = repo.get_source(session, source_id)
    stmt = repo.PHOTOMETRY.select(source_id=source_id, **mjd_range)
    stmt = stmt.where(Photometry.image_id.not_in(repo.BAD_IMAGE_IDS))  # as the light curve
    columns = [getattr(Photometry, c) for c in repo.LIGHT_CURVE_COLUMNS]
    stmt = stmt.with_only_columns(*columns).order_by(Photometry.mjd)
    return _respond(state, stmt, fmt, f"lightcurve-{source.name}", key=None)


@router.get("/candidates", response_class=StreamingResponse, responses=_FILE, summary="Candidates")
def export_candidates(state: State, filters: CandidateFilters, fmt: FormatQuery = "csv"):
    stmt = repo.CANDIDATES.select(**filters)
    stmt = stmt.with_only_columns(*_table_columns(Candidate)).order_by(Candidate.id)
    return _respond(state, stmt, fmt, "candidates", key=Candidate.id)


@router.get("/jobs", response_class=StreamingResponse, responses=_FILE, summary="Jobs")
def export_jobs(state: State, filters: JobFilters, fmt: FormatQuery = "csv"):
    stmt = repo.JOBS.select(**filters)
    stmt = stmt.with_only_columns(*_table_columns(Job)).order_by(Job.id)
    return _respond(state, stmt, fmt, "jobs", key=Job.id)


@router.get("/images", response_class=StreamingResponse, responses=_FILE, summary="Images")
def export_images(state: State, filters: ImageFilters, fmt: FormatQuery = "csv"):
    stmt = repo.IMAGES.select(**filters)
    stmt = stmt.with_only_columns(*_table_columns(Image)).order_by(Image.id)
    return _respond(state, stmt, fmt, "images", key=Image.id)
