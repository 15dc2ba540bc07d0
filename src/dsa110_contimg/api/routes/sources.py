"""Sources: cone search and variability filters, light curves, variability metrics."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel
from sqlalchemy.orm import Session

from dsa110_contimg.api.deps import Page, State, cached_json
from dsa110_contimg.api.errors import ERROR_RESPONSES, ApiError
from dsa110_contimg.api.schemas import PageOf, mjd_query, orm_schema, sort_param
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Candidate, Source, VariabilityMetrics

router = APIRouter(prefix="/api/sources", tags=["sources"], responses=ERROR_RESPONSES)

VariabilityOut = orm_schema(VariabilityMetrics, "Variability", exclude=repo.VARIABILITY_BOOKKEEPING)
SourceOut = orm_schema(Source, "SourceRecord")
CandidateRef = orm_schema(Candidate, "SourceCandidate")
SourceId = Annotated[int, Path(ge=1, le=2**63 - 1, description="Source id")]
Finite = {"allow_inf_nan": False}


class SourceSummary(SourceOut):  # type: ignore[misc,valid-type]
    """A source with its variability metrics (null until computed)."""

    variability: VariabilityOut | None = None  # type: ignore[valid-type]


class SourceDetail(SourceSummary):
    """A source with its metrics and its candidates."""

    candidates: list[CandidateRef]  # type: ignore[valid-type]


class LightCurvePoint(BaseModel):
    """One measurement: raw and normalised flux density (Jy) at an MJD."""

    mjd: float
    flux_jy: float
    flux_err_jy: float
    norm_flux_jy: float | None
    norm_flux_err_jy: float | None
    snr: float | None
    local_rms_jy: float | None
    is_upper_limit: bool
    flags: int
    image_id: int


class LightCurve(BaseModel):
    """The light curve of a source in time order."""

    source_id: int
    name: str
    flux: Literal["raw", "normalised", "both"]
    n_points: int
    points: list[LightCurvePoint]


SourcePage = PageOf[SourceSummary]


@router.get("", response_model=SourcePage, summary="List or cone-search sources")
def list_sources(
    request: Request,
    state: State,
    page: Page,
    sort: sort_param("sources") = None,
    ra: Annotated[
        float | None, Query(ge=0, lt=360, description="Cone centre RA (deg)", **Finite)
    ] = None,
    dec: Annotated[
        float | None, Query(ge=-90, le=90, description="Cone centre Dec (deg)", **Finite)
    ] = None,
    radius_deg: Annotated[
        float | None, Query(gt=0, le=10, description="Cone radius", **Finite)
    ] = None,
    name: Annotated[str | None, Query(max_length=64, description="Name contains")] = None,
    catalog: Annotated[str | None, Query(max_length=32)] = None,
    is_reference: bool | None = None,
    eta_min: Annotated[float | None, Query(ge=0, le=1e12, **Finite)] = None,
    v_min: Annotated[float | None, Query(ge=0, le=1e6, **Finite)] = None,
    n_epochs_min: Annotated[int | None, Query(ge=0, le=10_000_000)] = None,
    candidates_only: bool = False,
):
    cone_parts = (ra, dec, radius_deg)
    if any(p is not None for p in cone_parts) and any(p is None for p in cone_parts):
        raise ApiError(422, "invalid_parameters", "a cone search needs ra, dec and radius_deg")
    cone = cone_parts if ra is not None else None
    return cached_json(
        request,
        state,
        SourcePage,
        lambda session: repo.list_sources(
            session,
            cone=cone,
            name=name,
            catalog=catalog,
            is_reference=is_reference,
            eta_min=eta_min,
            v_min=v_min,
            n_epochs_min=n_epochs_min,
            candidates_only=candidates_only,
            sort=sort,
            limit=page.limit,
            offset=page.offset,
        ),
        validate=False,
    )


@router.get("/{source_id}", response_model=SourceDetail, summary="One source")
def get_source(request: Request, state: State, source_id: SourceId):
    def build(session: Session) -> dict[str, Any]:
        source = repo.get_source(session, source_id)
        metrics = session.get(VariabilityMetrics, source_id)
        candidates = repo.list_candidates(session, source_id=source_id, limit=repo.MAX_LIMIT)
        return {
            **repo.columns_of(source),
            "variability": metrics,
            "candidates": candidates.items,
        }

    return cached_json(request, state, SourceDetail, build)


@router.get("/{source_id}/lightcurve", response_model=LightCurve, summary="Light curve")
def get_light_curve(
    request: Request,
    state: State,
    source_id: SourceId,
    mjd_min: mjd_query("Earliest measurement (MJD)") = None,
    mjd_max: mjd_query("Latest measurement (MJD)") = None,
    flux: Annotated[
        Literal["raw", "normalised", "both"],
        Query(description="Which flux columns to fill (the others are null)"),
    ] = "both",
):
    def build(session: Session) -> dict[str, Any]:
        name = repo.source_name(session, source_id)
        points = repo.light_curve(session, source_id, mjd_min=mjd_min, mjd_max=mjd_max)
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
