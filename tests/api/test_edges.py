"""Edges of the API: sources by name, export file names, odd ``since`` values, write
conflicts, files the API must never serve (the state folder), and dependency floors."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
import sqlalchemy as sa
from api_support import LOCAL, Seed, make_settings
from fastapi.testclient import TestClient
from packaging.requirements import Requirement
from packaging.version import Version
from starlette.websockets import WebSocketDisconnect

from dsa110_contimg.api import create_app
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Source


def _register_source(url: str, name: str) -> int:
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as s:
            return repo.register_source(s, name=name, ra_deg=12.5, dec_deg=-3.25).id
    finally:
        engine.dispose()


def test_a_source_by_its_url_encoded_name(read_client: TestClient, template_seed: Seed) -> None:
    source_id = template_seed.source_ids[1]
    by_id = read_client.get(f"/api/sources/{source_id}")
    assert by_id.status_code == 200
    name = by_id.json()["name"]
    by_name = read_client.get(f"/api/sources/{quote(name, safe='')}")
    assert by_name.status_code == 200 and by_name.json() == by_id.json()


def test_a_name_with_spaces_and_plus(client: TestClient, writable_seed: Seed) -> None:
    name = "NVSS J133108+303032"
    source_id = _register_source(writable_seed.url, name)
    response = client.get("/api/sources/NVSS%20J133108%2B303032")
    assert response.status_code == 200 and response.json()["id"] == source_id
    assert response.json()["name"] == name


@pytest.mark.parametrize(
    "ref", ["notfound", "NVSS%20J000000%2B000000", "%C2%B2", "0", "99999999999999999999", "-5"]
)
def test_unknown_names_and_ids_are_404(read_client: TestClient, ref: str) -> None:
    response = read_client.get(f"/api/sources/{ref}")
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "not_found"


def test_export_file_names_beyond_latin_1(client: TestClient, writable_seed: Seed) -> None:
    name = 'Σ Ori "β" 北'
    source_id = _register_source(writable_seed.url, name)
    response = client.get(f"/api/export/lightcurve/{source_id}?format=csv")
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert disposition.isascii()
    fallback, extended = disposition.split("; filename*=UTF-8''")
    assert fallback == 'attachment; filename="lightcurve-_ Ori ___ _.csv"'
    assert unquote(extended) == f"lightcurve-{name}.csv"


@pytest.mark.parametrize("since", ["²", "١٢", "1" * 40, "-1", "1.5"])
def test_odd_since_values_refuse_the_handshake(read_client: TestClient, since: str) -> None:
    with pytest.raises(WebSocketDisconnect) as closed:
        with read_client.websocket_connect(f"/api/ws?topics=*&since={quote(since)}") as ws:
            ws.receive_json()
    assert closed.value.code == 1008


def test_a_duplicate_write_is_a_409(writable_seed: Seed) -> None:
    app = create_app(make_settings(writable_seed.root, writable_seed.url))

    @app.post("/test/duplicate-source")
    def duplicate() -> None:  # a write the database refuses as a duplicate name
        with app.state.api.sessions() as session:
            name = session.scalars(sa.select(Source.name)).first()
            session.add(Source(name=name, ra_deg=1.0, dec_deg=2.0))
            session.commit()

    with TestClient(app, client=LOCAL) as client:
        response = client.post("/test/duplicate-source")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "conflict"


def test_the_state_folder_is_never_served(writable_seed: Seed) -> None:
    settings = make_settings(writable_seed.root, writable_seed.url)
    database = settings.state_dir / "products.sqlite3"
    assert database.is_file()
    engine = make_engine(writable_seed.url)
    with session_scope(make_session_factory(engine)) as s:
        image = repo.register_image(
            s, path=str(database), mjd_obs=61010.0, ra_deg=1.0, dec_deg=2.0,
            size_x=8, size_y=8, cell_arcsec=6.0,
        )  # fmt: skip
        image_id = image.id
    engine.dispose()
    with TestClient(create_app(settings), client=LOCAL) as client:
        response = client.get(f"/api/images/{image_id}/fits")
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "file_outside_data"
        assert b"SQLite format" not in response.content


@pytest.mark.parametrize(
    ("package", "floor"),
    [
        ("starlette", "0.49.1"),  # FileResponse Range-header DoS fixed (CVE-2025-62727)
        ("fastapi", "0.121.1"),  # Depends(scope=...): sessions closed before streamed bodies
    ],
)
def test_dependency_floors(package: str, floor: str) -> None:
    """The declared lower bound excludes every release without the fix or feature."""
    pyproject = Path(__file__).parents[2] / "pyproject.toml"
    declared = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    (requirement,) = [r for r in map(Requirement, declared) if r.name == package]
    allowed = [s.version for s in requirement.specifier if s.operator in (">=", ">")]
    assert allowed and min(map(Version, allowed)) >= Version(floor), requirement
    assert Version(importlib.metadata.version(package)) in requirement.specifier
