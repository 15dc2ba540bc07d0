"""Filters declared once (repositories' ``LISTINGS``): REST, GraphQL and the lists agree.

Each list's filters and page bounds are declared once in the products layer;
the REST parameters are derived from them and GraphQL's arguments are checked
by them. These tests hold the three to the same rule.
"""

from __future__ import annotations

import pytest
from api_support import Seed
from fastapi.testclient import TestClient

from dsa110_contimg.products import repositories as repo

#: The REST list of each declared list (photometry is listed per image).
LIST_PATHS = {
    "groups": "/api/groups",
    "ms": "/api/ms",
    "cal": "/api/cal",
    "images": "/api/images",
    "sources": "/api/sources",
    "candidates": "/api/candidates",
    "jobs": "/api/jobs",
    "mosaics": "/api/mosaics",
}


def _parameters(client: TestClient, path: str) -> dict[str, dict]:
    schema = client.get("/api/openapi.json").json()
    operation = schema["paths"][path]["get"]
    return {p["name"]: p["schema"] for p in operation["parameters"]}


def _bounds(schema: dict) -> dict:
    """The numeric bounds of a parameter's schema (``anyOf`` of the type and null)."""
    keys = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "maxLength")
    found = {}
    for option in schema.get("anyOf", [schema]):
        found.update({k: option[k] for k in keys if k in option})
    return found


def _expected_bounds(spec: repo.Filter) -> dict:
    pairs = (
        ("minimum", spec.ge),
        ("maximum", spec.le),
        ("exclusiveMinimum", spec.gt),
        ("exclusiveMaximum", spec.lt),
        ("maxLength", spec.max_length),
    )
    return {k: v for k, v in pairs if v is not None}


def gql(client: TestClient, query: str) -> dict:
    response = client.post("/api/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    return response.json()


def test_every_list_is_served_with_exactly_its_declared_filters(read_client: TestClient) -> None:
    assert set(LIST_PATHS) | {"photometry"} == set(repo.LISTINGS)
    for resource, path in LIST_PATHS.items():
        parameters = _parameters(read_client, path)
        declared = [p for f in repo.LISTINGS[resource].filters for p in (f.parts or (f,))]
        assert set(parameters) == {"limit", "offset", "sort"} | {p.name for p in declared}, path
        for spec in declared:
            assert _bounds(parameters[spec.name]) == _expected_bounds(spec), (path, spec.name)
        low, high = repo.PAGE_BOUNDS["limit"]
        assert _bounds(parameters["limit"]) == {"minimum": low, "maximum": high}
        low, high = repo.PAGE_BOUNDS["offset"]
        assert _bounds(parameters["offset"]) == {"minimum": low, "maximum": high}


def test_graphql_list_arguments_are_declared_filters(read_client: TestClient) -> None:
    query = """{ __schema { types { name fields { name args { name } } } } }"""
    types = {t["name"]: t for t in gql(read_client, query)["data"]["__schema"]["types"]}
    lists = {("Query", "sources"): "sources", ("Query", "images"): "images"}
    lists |= {("Query", "jobs"): "jobs", ("Image", "measurements"): "photometry"}
    for (type_name, field_name), resource in lists.items():
        field = next(f for f in types[type_name]["fields"] if f["name"] == field_name)
        listing = repo.LISTINGS[resource]
        names = {p.name for f in listing.filters for p in (f.parts or (f,))}
        camel = {"".join(w.title() if i else w for i, w in enumerate(n.split("_"))) for n in names}
        arguments = {a["name"] for a in field["args"]} - {"limit", "offset"}
        assert arguments <= camel, (field_name, arguments - camel)


@pytest.mark.parametrize(
    ("rest", "graphql", "parameter", "message"),
    [
        ("/api/sources?eta_min=-1", "sources(etaMin: -1) { id }", "eta_min", "eta_min must be"),
        (
            "/api/sources?ra=361&dec=0&radius_deg=1",
            "sources(ra: 361, dec: 0, radiusDeg: 1) { id }",
            "ra",
            "ra must be",
        ),
        (
            "/api/sources?ra=1&dec=0&radius_deg=11",
            "sources(ra: 1, dec: 0, radiusDeg: 11) { id }",
            "radius_deg",
            "radius_deg must be",
        ),
        (
            "/api/images?mjd_max=100001",
            "images(mjdMax: 100001) { id }",
            "mjd_max",
            "mjd_max must be",
        ),
        (
            "/api/jobs?status=bogus",
            'jobs(status: "bogus") { runId }',
            "status",
            "status must be one of",
        ),
    ],
)
def test_a_filter_out_of_range_is_refused_by_rest_and_graphql_alike(
    read_client: TestClient, rest: str, graphql: str, parameter: str, message: str
) -> None:
    error = read_client.get(rest).json()["error"]
    assert error["code"] == "invalid_parameters"
    assert ["query", parameter] in [d["loc"] for d in error["details"]]
    errors = gql(read_client, "{ " + graphql + " }")["errors"]
    assert message in errors[0]["message"]


def test_a_filter_in_range_selects_the_same_rows_in_rest_and_graphql(
    read_client: TestClient, template_seed: Seed
) -> None:
    for eta_min in (0, 1, 3.5):
        rest = read_client.get(f"/api/sources?eta_min={eta_min}&limit=100").json()
        data = gql(read_client, f"{{ sources(etaMin: {eta_min}, limit: 100) {{ id }} }}")["data"]
        assert [i["id"] for i in rest["items"]] == [s["id"] for s in data["sources"]]
    # at least one threshold must separate the seeded sources, or the check above proves little
    every = read_client.get("/api/sources?limit=100").json()["total"]
    some = read_client.get("/api/sources?eta_min=3.5&limit=100").json()["total"]
    assert 0 < some < every


@pytest.mark.parametrize(
    ("limit", "offset", "ok"),
    [
        (0, 0, False),
        (repo.MAX_LIMIT + 1, 0, False),
        (1, -1, False),
        (1, repo.MAX_OFFSET + 1, False),
        (repo.MIN_LIMIT, 0, True),
        (repo.MAX_LIMIT, repo.MAX_OFFSET, True),
    ],
)
def test_one_page_rule_for_rest_graphql_and_the_lists(
    read_client: TestClient, limit: int, offset: int, ok: bool
) -> None:
    response = read_client.get(f"/api/jobs?limit={limit}&offset={offset}")
    assert (response.status_code == 200) is ok
    result = gql(read_client, f"{{ jobs(limit: {limit}, offset: {offset}) {{ runId }} }}")
    assert ("errors" not in result) is ok
    if ok:
        repo.check_page(limit, offset)
    else:
        with pytest.raises(repo.InvalidQueryError, match="limit|offset"):
            repo.check_page(limit, offset)


def test_one_list_of_light_curve_columns_and_of_metrics(
    read_client: TestClient, template_seed: Seed
) -> None:
    from dsa110_contimg.api.routes.sources import LightCurvePoint
    from dsa110_contimg.products import models
    from dsa110_contimg.variability import metrics

    assert repo.LIGHT_CURVE_COLUMNS is models.LIGHT_CURVE_COLUMNS
    assert tuple(LightCurvePoint.model_fields) == models.LIGHT_CURVE_COLUMNS
    assert repo.VARIABILITY_BOOKKEEPING is metrics.BOOKKEEPING_FIELDS
    assert repo.SOURCE_METRICS[3:] == metrics.METRIC_FIELDS
    query = """{ __schema { types { name fields { name } } } }"""
    types = {t["name"]: t for t in gql(read_client, query)["data"]["__schema"]["types"]}

    def snake(names: list[str]) -> tuple[str, ...]:
        return tuple("".join(f"_{c.lower()}" if c.isupper() else c for c in n) for n in names)

    variability = [f["name"] for f in types["Variability"]["fields"]]
    points = [f["name"] for f in types["LightCurvePoint"]["fields"]]
    assert snake(variability) == repo.SOURCE_METRICS
    assert snake(points) == models.LIGHT_CURVE_COLUMNS
    header = read_client.get("/api/export/sources?format=csv").text.splitlines()[0].split(",")
    assert tuple(header[-len(repo.SOURCE_METRICS) :]) == repo.SOURCE_METRICS
    lightcurve = read_client.get(
        f"/api/export/lightcurve/{template_seed.source_ids[1]}?format=csv"
    ).text.splitlines()[0]
    assert tuple(lightcurve.split(",")) == models.LIGHT_CURVE_COLUMNS
