"""One error body everywhere; 503 when the database is down; no shadowed routes."""

from __future__ import annotations

from pathlib import Path

from api_support import LOCAL, make_settings
from fastapi.testclient import TestClient
from starlette.routing import Match

from dsa110_contimg.api import create_app


def test_unknown_route_and_method_use_the_error_body(read_client: TestClient) -> None:
    for response, status in (
        (read_client.get("/api/nothing-here"), 404),
        (read_client.delete("/api/images"), 405),
    ):
        assert response.status_code == status
        assert set(response.json()["error"]) == {"code", "message", "details"}


def test_validation_errors_list_what_is_wrong(read_client: TestClient) -> None:
    error = read_client.get("/api/sources?limit=-5&dec=100").json()["error"]
    assert error["code"] == "invalid_parameters"
    assert {tuple(d["loc"]) for d in error["details"]} == {("query", "limit"), ("query", "dec")}


def test_database_down_is_503(tmp_path: Path) -> None:
    down = "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    app = create_app(make_settings(tmp_path, down))
    with TestClient(app, client=LOCAL) as client:
        for path in ("/api/images", "/api/sources/1", "/api/stats", "/api/jobs/x"):
            response = client.get(path)
            assert response.status_code == 503, path
            assert response.json()["error"]["code"] == "database_unavailable"
        health = client.get("/api/health")
        assert health.status_code == 503 and health.json()["database"] is False
        assert client.get("/api/health/detailed").json()["status"] == "degraded"
        assert "dsa110_db_up 0.0" in client.get("/metrics").text


def test_unmigrated_database_is_503_not_500(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    with TestClient(create_app(make_settings(tmp_path, url)), client=LOCAL) as client:
        assert client.get("/api/images").status_code == 503


def test_static_routes_are_not_shadowed(read_client: TestClient) -> None:
    routes = [r for r in read_client.app.routes if hasattr(r, "path_regex")]
    for index, route in enumerate(routes):
        if "{" in route.path:
            continue
        methods = getattr(route, "methods", None) or {"GET"}
        for earlier in routes[:index]:
            scope = {"type": "http", "path": route.path, "method": sorted(methods)[0]}
            match, _ = earlier.matches(scope)
            assert match is not Match.FULL, f"{route.path} is shadowed by {earlier.path}"


def test_docs_and_openapi(read_client: TestClient) -> None:
    assert read_client.get("/api/docs").status_code == 200
    schema = read_client.get("/api/openapi.json").json()
    assert "/api/sources/{source_id}/lightcurve" in schema["paths"]
    error_schema = schema["paths"]["/api/images"]["get"]["responses"]["422"]
    assert error_schema["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorBody")


def test_every_get_endpoint_answers_unknown_ids_with_404_and_bad_ids_with_422(
    read_client: TestClient,
) -> None:
    schema = read_client.get("/api/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        params = [p for p in operations.get("get", {}).get("parameters", []) if p["in"] == "path"]
        if not params:
            continue
        kinds = {p["name"]: p["schema"].get("type") for p in params}
        unknown = bad = path
        for name, kind in kinds.items():
            unknown = unknown.replace(
                f"{{{name}}}", "987654321" if kind == "integer" else "%2Fno%2Fsuch"
            )
            bad = bad.replace(
                f"{{{name}}}", "not-a-number" if kind == "integer" else "%2Fno%2Fsuch"
            )
        response = read_client.get(unknown)
        assert response.status_code == 404, (unknown, response.text)
        assert set(response.json()["error"]) == {"code", "message", "details"}
        if "integer" in kinds.values():
            assert read_client.get(bad).status_code == 422, bad
        checked += 1
    assert checked >= 24
