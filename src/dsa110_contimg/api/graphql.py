"""GraphQL at ``/api/graphql``: sources with light curves and metrics, images with their
measurements, jobs, over the same repository functions as the REST API.

Resolvers are async and run each database call in the threadpool, so a query
never blocks the event loop. Query depth is limited. A list's arguments are
some of the filters its repository list declares
(:data:`~dsa110_contimg.products.repositories.LISTINGS`), which checks them
as it does REST's: the same bounds, one page rule
(:func:`~dsa110_contimg.products.repositories.check_page`).
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import anyio
import strawberry
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.fastapi import GraphQLRouter
from strawberry.types import Info

from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Photometry, VariabilityMetrics

MAX_DEPTH = 6


async def _db(info: Info, func: Any, *args: Any, **kwargs: Any) -> Any:
    sessions = info.context["request"].app.state.api.sessions

    def call() -> Any:
        with sessions() as session:
            return func(session, *args, **kwargs)

    return await anyio.to_thread.run_sync(call)


def _build(cls: Any, row: Any) -> Any:
    """A strawberry object from an ORM object or mapping (plain fields only)."""
    values = {}
    for field in cls.__strawberry_definition__.fields:
        if field.base_resolver is not None:
            continue
        value = row[field.python_name] if isinstance(row, dict) else getattr(row, field.python_name)
        values[field.python_name] = value.value if isinstance(value, enum.Enum) else value
    return cls(**values)


def _columns_type(name: str, model: Any, keys: tuple[str, ...], description: str) -> Any:
    """A strawberry type with one field per column ``keys`` of ``model`` (nullable: optional).

    The field lists are the products layer's (light-curve columns, source
    metrics), so GraphQL cannot drift from REST and the exports.
    """
    columns = model.__table__.c
    annotations = {}
    for key in keys:
        python_type = columns[key].type.python_type
        annotations[key] = python_type | None if columns[key].nullable else python_type
    namespace = {"__annotations__": annotations, "__module__": __name__, "__doc__": description}
    return strawberry.type(type(name, (), namespace), description=description)


LightCurvePoint = _columns_type(
    "LightCurvePoint",
    Photometry,
    repo.LIGHT_CURVE_COLUMNS,
    "One measurement of a source, raw and normalised (Jy)",
)
Variability = _columns_type(
    "Variability", VariabilityMetrics, repo.SOURCE_METRICS, "Variability metrics of a source"
)


@strawberry.type(description="A forced measurement on an image")
class Measurement:
    source_id: int
    image_id: int
    mjd: float
    flux_jy: float
    flux_err_jy: float
    snr: float | None
    norm_flux_jy: float | None


@strawberry.type(description="A sky position the pipeline measures")
class Source:
    id: int
    name: str
    ra_deg: float
    dec_deg: float
    catalog: str | None
    catalog_flux_jy: float | None
    is_reference: bool

    @strawberry.field(description="Measurements in time order, optionally within an MJD range")
    async def light_curve(
        self, info: Info, mjd_min: float | None = None, mjd_max: float | None = None
    ) -> list[LightCurvePoint]:  # type: ignore[valid-type]
        rows = await _db(info, repo.light_curve, self.id, mjd_min=mjd_min, mjd_max=mjd_max)
        return [_build(LightCurvePoint, r) for r in rows]

    @strawberry.field(description="Variability metrics, null until computed")
    async def variability(self, info: Info) -> Variability | None:  # type: ignore[valid-type]
        row = await _db(info, lambda s: s.get(VariabilityMetrics, self.id))
        return None if row is None else _build(Variability, row)


@strawberry.type(description="A FITS image product")
class Image:
    id: int
    path: str
    image_type: str
    mjd_obs: float
    ra_deg: float
    dec_deg: float
    noise_jy: float | None
    peak_jy: float | None
    dynamic_range: float | None
    beam_major_arcsec: float | None
    beam_minor_arcsec: float | None
    qa_grade: str | None

    @strawberry.field(description="The measurements made on this image")
    async def measurements(
        self, info: Info, limit: int = 100, offset: int = 0
    ) -> list[Measurement]:
        repo.check_page(limit, offset)
        page = await _db(info, repo.list_photometry, image_id=self.id, limit=limit, offset=offset)
        return [_build(Measurement, r) for r in page.items]


@strawberry.type(description="A pipeline job or batch")
class Job:
    run_id: str
    job_type: str
    status: str
    progress: float | None
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    error: str | None


async def _get(info: Info, func: Any, key: Any, cls: Any) -> Any:
    try:
        return _build(cls, await _db(info, func, key))
    except repo.NotFoundError:
        return None


@strawberry.type
class Query:
    @strawberry.field(description="A source by id")
    async def source(self, info: Info, id: int) -> Source | None:
        return await _get(info, repo.get_source, id, Source)

    @strawberry.field(description="Sources, optionally in a cone and above an eta threshold")
    async def sources(
        self,
        info: Info,
        limit: int = 50,
        offset: int = 0,
        ra: float | None = None,
        dec: float | None = None,
        radius_deg: float | None = None,
        eta_min: float | None = None,
    ) -> list[Source]:
        repo.check_page(limit, offset)
        cone = repo.CONE.gather({"ra": ra, "dec": dec, "radius_deg": radius_deg})
        page = await _db(
            info,
            repo.list_sources,
            cone=cone,
            eta_min=eta_min,
            limit=limit,
            offset=offset,
        )
        return [_build(Source, r) for r in page.items]

    @strawberry.field(description="An image by id")
    async def image(self, info: Info, id: int) -> Image | None:
        return await _get(info, repo.get_image, id, Image)

    @strawberry.field(description="Images, newest first, optionally within an MJD range")
    async def images(
        self,
        info: Info,
        limit: int = 50,
        offset: int = 0,
        mjd_min: float | None = None,
        mjd_max: float | None = None,
    ) -> list[Image]:
        repo.check_page(limit, offset)
        page = await _db(
            info, repo.list_images, mjd_min=mjd_min, mjd_max=mjd_max, limit=limit, offset=offset
        )
        return [_build(Image, r) for r in page.items]

    @strawberry.field(description="A job by run id")
    async def job(self, info: Info, run_id: str) -> Job | None:
        return await _get(info, repo.get_job, run_id, Job)

    @strawberry.field(description="Jobs, newest first, optionally by status")
    async def jobs(
        self, info: Info, status: str | None = None, limit: int = 50, offset: int = 0
    ) -> list[Job]:
        repo.check_page(limit, offset)
        page = await _db(info, repo.list_jobs, status=status, limit=limit, offset=offset)
        return [_build(Job, r) for r in page.items]


schema = strawberry.Schema(
    query=Query,
    extensions=[
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=30),
    ],
)


def graphql_router() -> GraphQLRouter:
    """The GraphQL endpoint (queries only; GraphiQL on GET from a browser)."""
    return GraphQLRouter(schema, path="/api/graphql", include_in_schema=False)
