"""One error body everywhere; 503 when the database is down; no shadowed routes."""

from __future__ import annotations

from pathlib import Path

from api_support import LOCAL, make_settings
from fastapi.testclient import TestClient
from starlette.routing import Match

from dsa110_contimg.api import create_app


def assert_error_body(response, status: int) -> dict:
    assert response.status_code == status, (response.request.url, response.text)
    error = response.json()["error"]
    assert set(error) == {"code", "message", "details"}
    return error


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
        assert_error_body(read_client.get(unknown), 404)
        if "integer" in kinds.values():
            assert_error_body(read_client.get(bad), 422)
        checked += 1
    assert checked >= 24


def test_every_list_endpoint_refuses_bad_paging_and_sort(read_client: TestClient) -> None:
    schema = read_client.get("/api/openapi.json").json()
    checked = 0
    for path, operations in schema["paths"].items():
        query = {p["name"] for p in operations.get("get", {}).get("parameters", [])}
        if "{" in path or not {"limit", "offset"} <= query:
            continue
        for bad, parameter in (
            ("limit=0", "limit"),
            ("limit=100000000", "limit"),
            ("limit=ten", "limit"),
            ("offset=-1", "offset"),
            ("offset=1e99", "offset"),
        ) + ((("sort=-no_such_column", "sort"),) if "sort" in query else ()):
            error = assert_error_body(read_client.get(f"{path}?{bad}"), 422)
            assert error["code"] == "invalid_parameters"
            assert ["query", parameter] in [d["loc"] for d in error["details"]], (path, bad)
        checked += 1
    assert checked >= 8


def test_every_export_refuses_an_unknown_format(read_client: TestClient) -> None:
    schema = read_client.get("/api/openapi.json").json()
    exports = [p for p in schema["paths"] if p.startswith("/api/export/")]
    for path in exports:
        url = path.replace("{source_id}", "1")
        error = assert_error_body(read_client.get(f"{url}?format=xls"), 422)
        assert ["query", "format"] in [d["loc"] for d in error["details"]], path
    assert len(exports) >= 6


def test_every_write_refuses_an_empty_or_broken_body(client: TestClient) -> None:
    from api_support import API_KEY

    schema = client.get("/api/openapi.json").json()
    key = {"X-API-Key": API_KEY, "Content-Type": "application/json"}
    checked = 0
    for path, operations in schema["paths"].items():
        for method in {"post", "patch", "put"} & set(operations):
            if "requestBody" not in operations[method]:
                continue
            url = path.replace("{candidate_id}", "1")
            for body in (b"{}", b"[1, 2", b'{"unexpected": true}'):
                response = client.request(method, url, content=body, headers=key)
                assert_error_body(response, 422)
            checked += 1
    assert checked >= 5
