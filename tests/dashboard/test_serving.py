"""How the app serves the dashboard: where, with which headers, to whom."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from api_support import LOCAL, make_settings
from dashboard_support import Site
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.dashboard import CONTENT_SECURITY_POLICY, STATIC_DIR


@pytest.fixture(scope="module")
def app(site: Site):
    return create_app(make_settings(site.seed.root, site.seed.url))


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, client=LOCAL, follow_redirects=False) as test_client:
        yield test_client


def test_root_and_bare_prefix_lead_to_the_dashboard(client: TestClient) -> None:
    for path in ("/", "/dashboard"):
        response = client.get(path)
        assert response.status_code in (307, 308)
        assert response.headers["location"].endswith("/dashboard/")
    page = client.get("/dashboard/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/app.js">' in page.text


def test_every_file_has_the_dashboard_policy_and_the_security_headers(client: TestClient) -> None:
    files = [p.relative_to(STATIC_DIR).as_posix() for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert "js/app.js" in files
    for name in files:
        response = client.get(f"/dashboard/{name}")
        assert response.status_code == 200, name
        assert response.headers.get_list("content-security-policy") == [CONTENT_SECURITY_POLICY]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        if name.endswith(".js"):  # module scripts need a JavaScript type under nosniff
            assert "javascript" in response.headers["content-type"]
    # the API keeps its own, strictest policy
    assert (
        client.get("/api/stats").headers["content-security-policy"].startswith("default-src 'none'")
    )


def test_no_inline_script_or_style_for_the_policy_to_refuse() -> None:
    html = (STATIC_DIR / "index.html").read_text()
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    for script in STATIC_DIR.rglob("*.js"):
        text = script.read_text()
        # nothing parses HTML from strings (data would become markup), nothing evaluates code
        for forbidden in ("innerHTML", "outerHTML", "insertAdjacentHTML", "eval(", "new Function"):
            assert forbidden not in text, (script.name, forbidden)


def test_outside_addresses_are_refused(app) -> None:
    with TestClient(app, client=("203.0.113.7", 40000), follow_redirects=False) as outside:
        for path in ("/", "/dashboard/", "/dashboard/js/app.js"):
            assert outside.get(path).status_code == 403


def test_files_outside_the_folder_are_not_served(client: TestClient) -> None:
    for path in (
        "/dashboard/../__init__.py",
        "/dashboard/%2e%2e/__init__.py",
        "/dashboard/nope.js",
    ):
        assert client.get(path).status_code == 404


def test_dashboard_is_not_part_of_the_api_schema(client: TestClient) -> None:
    paths = client.get("/api/openapi.json").json()["paths"]
    assert "/" not in paths and not any(p.startswith("/dashboard") for p in paths)
