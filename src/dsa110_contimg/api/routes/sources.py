"""Sources: cone search and variability filters, light curves, variability metrics.

A source is named in the path by its id or by its name, URL-encoded
(``/api/sources/NVSS%20J133108%2B303032``), as astronomers look them up.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from dsa110_contimg.api.deps import State, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES
from dsa110_contimg.api.schemas import PageOf, list_query, orm_schema
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Candidate, Photometry, Source, VariabilityMetrics

router = APIRouter(prefix="/api/sources", tags=["sources"], responses=ERROR_RESPONSES)

VariabilityOut = orm_schema(VariabilityMetrics, "Variability", exclude=repo.VARIABILITY_BOOKKEEPING)
SourceOut = orm_schema(Source, "SourceRecord")
CandidateRef = orm_schema(Candidate, "SourceCandidate")
SourceId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Source id")]
#: A source's id or its name (names are never all digits).
SourceRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=128,
        description="Source id, or the source's name URL-encoded (NVSS%20J133108%2B303032)",
    ),
]
_MAX_ID = 2**63 - 1


def source_id_of(session: Session, ref: str) -> int:
    """The id of the source ``ref`` names (its id in ASCII digits, else its name).

    Raises
    ------
    NotFoundError
        No source has that id or name (404).
    """
    if ref.isascii() and ref.isdigit():  # not '²': isdigit() alone lets it through
        source_id = int(ref)
        if not 1 <= source_id <= _MAX_ID:
            raise repo.NotFoundError(f"source {ref} is not registered")
        return source_id
    named = repo.sources_named(session, [ref]).get(ref)
    if named is None:
        raise repo.NotFoundError(f"no source is named {ref!r}")
    return int(named["id"])


class SourceSummary(SourceOut):  # type: ignore[misc,valid-type]
    """A source with its variability metrics (null until computed)."""

    variability: VariabilityOut | None = None  # type: ignore[valid-type]


class SourceDetail(SourceSummary):
    """A source with its metrics and its candidates."""

    candidates: list[CandidateRef]  # type: ignore[valid-type]


LightCurvePoint = orm_schema(
    Photometry,
    "LightCurvePoint",
    only=repo.LIGHT_CURVE_COLUMNS,
    doc="One measurement: raw and normalised flux density (Jy) at an MJD.",
)


class LightCurve(BaseModel):
    """The light curve of a source in time order."""

    source_id: int
    name: str
    flux: Literal["raw", "normalised", "both"]
    n_points: int
    points: list[LightCurvePoint]  # type: ignore[valid-type]


SourcePage = PageOf[SourceSummary]
SourceQuery = list_query("sources")
#: The time range of a light curve: the photometry list's.
LightCurveRange = list_query("photometry", only=("mjd_min", "mjd_max"), paged=False)


@router.get("", response_model=SourcePage, summary="List or cone-search sources")
def list_sources(request: Request, state: State, query: SourceQuery):
    return cached_json(
        request,
        state,
        SourcePage,
        lambda session: repo.list_sources(session, **query),
        validate=False,
    )


@router.get("/{source}", response_model=SourceDetail, summary="One source, by id or name")
def get_source(request: Request, state: State, source: SourceRef):
    def build(session: Session) -> dict[str, Any]:
        source_id = source_id_of(session, source)
        record = repo.get_source(session, source_id)
        metrics = repo.variability_or_none(session, source_id)
        candidates = repo.list_candidates(session, source_id=source_id, limit=repo.MAX_LIMIT)
        return {
            **repo.columns_of(record),
            "variability": metrics,
            "candidates": candidates.items,
        }

    return cached_json(request, state, SourceDetail, build)


@router.get("/{source_id}/lightcurve", response_model=LightCurve, summary="Light curve")
def get_light_curve(
    request: Request,
    state: State,
    source_id: SourceId,
    mjd_range: LightCurveRange,
    flux: Annotated[
        Literal["raw", "normalised", "both"],
        Query(description="Which flux columns to fill (the others are null)"),
    ] = "both",
):
    def build(session: Session) -> dict[str, Any]:
        name = repo.source_name(session, source_id)
        points = repo.light_curve(session, source_id, **mjd_range)
        if flux == "raw":
            for p in points:
                p["norm_flux_jy"] = p["norm_flux_err_jy"] = None
        return {
            "source_id": source_id,
            "name": name,
            "flux": flux,
            "n_points": len(points),
            "points": points,
        }

    return cached_json(request, state, LightCurve, build, validate=False)


@router.get(
    "/{source_id}/variability", response_model=VariabilityOut, summary="Variability metrics"
)
def get_variability(request: Request, state: State, source_id: SourceId):
    return cached_json(
        request, state, VariabilityOut, lambda session: repo.get_variability(session, source_id)
    )
