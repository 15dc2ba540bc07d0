"""GraphQL at ``/api/graphql``: sources with light curves and metrics, images with their
measurements, jobs, over the same repository functions as the REST API.

Resolvers are async and run each database call in a thread, on GraphQL's own
bounded limiter (``api_graphql_threads``), so a query never blocks the event
loop and GraphQL cannot take every thread the REST routes need. Query depth and
aliases are limited, and a query's cost (:func:`query_cost`: the objects it may
return, every list counted at its ``limit``) is counted before it runs; over
``api_graphql_max_cost`` it is refused with a 422 in the standard error body.
A list's arguments are some of the filters its repository list declares
(:data:`~dsa110_contimg.products.repositories.LISTINGS`), which checks them
as it does REST's: the same bounds, one page rule
(:func:`~dsa110_contimg.products.repositories.check_page`). Light curves are
paged like lists. Queries only: there are no subscriptions and no WebSocket.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from collections.abc import Mapping
from typing import Any

import anyio
import graphql
import strawberry
from fastapi import Request
from fastapi.routing import APIWebSocketRoute
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.fastapi import GraphQLRouter
from strawberry.types import Info

from dsa110_contimg.api.errors import ApiError
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Photometry, VariabilityMetrics

MAX_DEPTH = 6


#: Points of a light curve per page unless the query asks for another ``limit``.
LIGHT_CURVE_PAGE = 100


async def _db(info: Info, func: Any, *args: Any, **kwargs: Any) -> Any:
    sessions = info.context["request"].app.state.api.sessions

    def call() -> Any:
        with sessions() as session:
            return func(session, *args, **kwargs)

    return await anyio.to_thread.run_sync(call, limiter=info.context["limiter"])


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

    @strawberry.field(
        description="Measurements in time order, optionally within an MJD range, "
        f"one page at a time (limit: {LIGHT_CURVE_PAGE} points unless asked)"
    )
    async def light_curve(
        self,
        info: Info,
        mjd_min: float | None = None,
        mjd_max: float | None = None,
        limit: int = LIGHT_CURVE_PAGE,
        offset: int = 0,
    ) -> list[LightCurvePoint]:  # type: ignore[valid-type]
        repo.check_page(limit, offset)
        rows = await _db(
            info,
            repo.light_curve,
            self.id,
            mjd_min=mjd_min,
            mjd_max=mjd_max,
            limit=limit,
            offset=offset,
        )
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


@strawberry.type(description="A variability, ESE or new-source candidate and its verdict")
class Candidate:
    id: int
    source_id: int
    kind: str
    score: float
    status: str
    note: str | None
    reviewed_by: str | None
    reviewed_at: dt.datetime | None


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
        verdict: str | None = None,
        tag: str | None = None,
        unvetted: bool | None = None,
    ) -> list[Source]:
        repo.check_page(limit, offset)
        cone = repo.CONE.gather({"ra": ra, "dec": dec, "radius_deg": radius_deg})
        if cone is not None:  # REST's bounds, before any query runs
            cone = repo.CONE.check(cone)
        page = await _db(
            info,
            repo.list_sources,
            cone=cone,
            eta_min=eta_min,
            verdict=verdict,
            tag=tag,
            unvetted=unvetted,
            limit=limit,
            offset=offset,
        )
        return [_build(Source, r) for r in page.items]

    @strawberry.field(
        description="Candidates, best first, by kind, verdict (status), tag or not yet looked at"
    )
    async def candidates(
        self,
        info: Info,
        limit: int = 50,
        offset: int = 0,
        kind: str | None = None,
        status: str | None = None,
        tag: str | None = None,
        unvetted: bool | None = None,
    ) -> list[Candidate]:
        repo.check_page(limit, offset)
        page = await _db(
            info,
            repo.list_candidates,
            kind=kind,
            status=status,
            tag=tag,
            unvetted=unvetted,
            limit=limit,
            offset=offset,
        )
        return [_build(Candidate, r) for r in page.items]

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


# ---------------------------------------------------------------------------
# Cost: counted on the parsed query, before validation and execution
# ---------------------------------------------------------------------------
class _Cost:
    """The cost of one query document against :data:`schema`.

    A field with a selection (an object or a list of objects) costs the number
    of objects it may return: 1, or its ``limit`` (the argument given, a
    variable's value, or the field's default) for a list; what is below it is
    multiplied by that number. Scalars are free. Costs are linear in the
    multiplier, so each fragment is costed once per type (no blow-up through
    fragments spreading fragments).
    """

    def __init__(self, document: graphql.DocumentNode, variables: Mapping[str, Any]):
        self.variables = variables
        self.fragments = {
            d.name.value: d
            for d in document.definitions
            if isinstance(d, graphql.FragmentDefinitionNode)
        }
        self._fragment_costs: dict[tuple[str, str], int] = {}
        self._gql = schema._schema

    def operation(self, node: graphql.OperationDefinitionNode) -> int:
        root = self._gql.get_root_type(node.operation)
        return 0 if root is None else self._selections(node.selection_set, root)

    def _limit(self, node: graphql.FieldNode, field: graphql.GraphQLField) -> int:
        value: Any = None
        for argument in node.arguments or ():
            if argument.name.value == "limit":
                value = graphql.value_from_ast_untyped(argument.value, self.variables)
                break
        else:
            if "limit" in field.args:
                value = field.args["limit"].default_value
        if isinstance(value, bool) or not isinstance(value, int):
            return repo.MAX_LIMIT  # no limit (or a bad one, refused later): the most
        return min(max(value, 0), repo.MAX_LIMIT)

    def _selections(self, selection_set: graphql.SelectionSetNode | None, parent: Any) -> int:
        if selection_set is None or not hasattr(parent, "fields"):
            return 0
        total = 0
        for node in selection_set.selections:
            if isinstance(node, graphql.FieldNode):
                field = parent.fields.get(node.name.value)
                if field is None or node.selection_set is None:
                    continue  # a scalar, __typename, or unknown (validation refuses it)
                count = 1
                if graphql.is_list_type(graphql.get_nullable_type(field.type)):
                    count = self._limit(node, field)
                inner = self._selections(node.selection_set, graphql.get_named_type(field.type))
                total += count * (1 + inner)
            elif isinstance(node, graphql.InlineFragmentNode):
                kind = parent
                if node.type_condition is not None:
                    kind = self._gql.get_type(node.type_condition.name.value) or parent
                total += self._selections(node.selection_set, kind)
            elif isinstance(node, graphql.FragmentSpreadNode):
                total += self._fragment(node.name.value, parent)
        return total

    def _fragment(self, name: str, parent: Any) -> int:
        key = (name, parent.name)
        if key not in self._fragment_costs:
            self._fragment_costs[key] = 0  # a cycle costs nothing here; validation refuses it
            fragment = self.fragments.get(name)
            if fragment is not None:
                kind = self._gql.get_type(fragment.type_condition.name.value) or parent
                self._fragment_costs[key] = self._selections(fragment.selection_set, kind)
        return self._fragment_costs[key]


def query_cost(query: str, variables: Mapping[str, Any] | None = None) -> int | None:
    """The cost of ``query`` (its dearest operation), or None if it does not parse."""
    try:
        document = graphql.parse(query)
        cost = _Cost(document, variables or {})
        operations = [
            d for d in document.definitions if isinstance(d, graphql.OperationDefinitionNode)
        ]
        return max((cost.operation(op) for op in operations), default=0)
    except (graphql.GraphQLError, RecursionError):
        return None  # strawberry answers with the syntax error


async def _request_query(request: Request) -> tuple[str | None, Any]:
    """The query and variables of a GraphQL request (GET parameters or a JSON body)."""
    if request.method == "GET":
        query, variables = request.query_params.get("query"), request.query_params.get("variables")
    else:
        try:
            body = json.loads(await request.body())
        except ValueError:
            return None, None
        if not isinstance(body, dict):
            return None, None
        query, variables = body.get("query"), body.get("variables")
    if isinstance(variables, str):
        try:
            variables = json.loads(variables)
        except ValueError:
            variables = None
    return (query if isinstance(query, str) else None), variables


def graphql_router(*, max_cost: int = 20_000, threads: int = 4) -> GraphQLRouter:
    """The GraphQL endpoint (queries only; GraphiQL on GET from a browser).

    Parameters
    ----------
    max_cost
        Largest query cost (``api_graphql_max_cost``); dearer queries get a 422.
    threads
        Threads the resolvers may use at once (``api_graphql_threads``).
    """
    limiter = anyio.CapacityLimiter(threads)

    async def context(request: Request) -> dict[str, Any]:
        query, variables = await _request_query(request)
        if query is not None:
            cost = query_cost(query, variables if isinstance(variables, dict) else None)
            if cost is not None and cost > max_cost:
                raise ApiError(
                    422,
                    "query_too_costly",
                    f"the query may return {cost} objects, more than {max_cost}",
                    {"cost": cost, "max_cost": max_cost, "hint": "ask for smaller limits"},
                )
        return {"limiter": limiter}

    router = GraphQLRouter(
        schema,
        path="/api/graphql",
        include_in_schema=False,
        context_getter=context,
        subscription_protocols=(),
    )
    # No subscriptions are served: no WebSocket route either.
    router.routes = [r for r in router.routes if not isinstance(r, APIWebSocketRoute)]
    router.limiter = limiter  # type: ignore[attr-defined]
    return router
