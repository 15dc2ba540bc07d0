"""Exports in CSV, JSON and VOTable, streamed."""

from __future__ import annotations

import csv
import io
import json

import pytest
from api_support import Seed
from astropy.io.votable import parse_single_table
from fastapi.testclient import TestClient


@pytest.mark.parametrize(
    ("path", "rows"),
    [
        ("/api/export/sources", 6),
        ("/api/export/sources?candidates_only=true", 2),
        ("/api/export/photometry", 15),
        ("/api/export/candidates?kind=ese", 1),
        ("/api/export/jobs", 4),
        ("/api/export/images", 3),
    ],
)
def test_every_format_has_every_row(read_client: TestClient, path: str, rows: int) -> None:
    sep = "&" if "?" in path else "?"
    as_csv = read_client.get(f"{path}{sep}format=csv")
    assert as_csv.status_code == 200 and as_csv.headers["content-type"].startswith("text/csv")
    assert "attachment" in as_csv.headers["content-disposition"]
    assert len(list(csv.DictReader(io.StringIO(as_csv.text)))) == rows
    as_json = read_client.get(f"{path}{sep}format=json")
    assert len(json.loads(as_json.text)) == rows
    as_votable = read_client.get(f"{path}{sep}format=votable")
    table = parse_single_table(io.BytesIO(as_votable.content)).to_table()
    assert len(table) == rows


def test_votable_types_and_nulls(read_client: TestClient) -> None:
    body = read_client.get("/api/export/sources?format=votable").content
    table = parse_single_table(io.BytesIO(body)).to_table()
    assert table["ra_deg"].dtype.kind == "f" and table["id"].dtype.kind == "i"
    assert "eta" in table.colnames and table["name"][0].startswith("J1400")
    far = table[table["name"] == "J004000-300000"]
    assert bool(far["n_epochs"].mask[0])  # no metrics: a null, not a zero


def test_empty_votable_is_valid(read_client: TestClient) -> None:
    body = read_client.get("/api/export/candidates?status=dismissed&format=votable").content
    assert len(parse_single_table(io.BytesIO(body)).to_table()) == 0


def test_light_curve_export(read_client: TestClient, template_seed: Seed) -> None:
    src = template_seed.source_ids[1]
    rows = list(csv.DictReader(io.StringIO(read_client.get(f"/api/export/lightcurve/{src}").text)))
    assert len(rows) == 3 and set(rows[0]) >= {"mjd", "flux_jy", "norm_flux_jy"}
    assert read_client.get("/api/export/lightcurve/999999").status_code == 404
    assert read_client.get(f"/api/export/lightcurve/{src}?format=xls").status_code == 422


def test_large_export_is_streamed_in_chunks(client: TestClient, writable_seed: Seed) -> None:
    from dsa110_contimg.products import make_engine, make_session_factory, session_scope
    from dsa110_contimg.products import repositories as repo

    engine = make_engine(writable_seed.url)
    with session_scope(make_session_factory(engine)) as s:
        for k in range(4500):
            repo.register_source(s, name=f"bulk{k}", ra_deg=(k * 0.01) % 360, dec_deg=10.0)
    engine.dispose()
    with client.stream("GET", "/api/export/sources?format=json") as response:
        chunks = list(response.iter_bytes())
    assert len(json.loads(b"".join(chunks))) == 4506
    with client.stream("GET", "/api/export/sources?format=votable") as response:
        body = b"".join(response.iter_bytes())
    assert len(parse_single_table(io.BytesIO(body)).to_table()) == 4506


def test_times_are_iso_utc(read_client: TestClient) -> None:
    jobs = json.loads(read_client.get("/api/export/jobs?format=json").text)
    assert all(job["created_at"].endswith("Z") for job in jobs)


def test_a_streamed_export_holds_no_connection_between_chunks(
    writable_seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk is read in its own short session: a slow client holds no pool connection.

    (Before, one session lived until the whole body was sent: 15 slow clients
    took the pool and kept SQLite from checkpointing its WAL.)
    """
    import sqlalchemy as sa

    from dsa110_contimg.api import exports
    from dsa110_contimg.products import make_engine, make_session_factory
    from dsa110_contimg.products.models import Photometry

    monkeypatch.setattr(exports, "CHUNK", 4)
    engine = make_engine(writable_seed.url)
    sessions = make_session_factory(engine)
    stmt = sa.select(Photometry.id, Photometry.flux_jy).order_by(Photometry.id)
    body = exports.stream(sessions, stmt, "json", key=Photometry.id)
    received = [next(body)]
    for piece in body:
        assert engine.pool.checkedout() == 0  # between chunks, while the client reads
        received.append(piece)
    ids = [row["id"] for row in json.loads(b"".join(received))]
    with sessions() as session:
        expected = list(session.scalars(sa.select(Photometry.id).order_by(Photometry.id)))
    assert len(expected) == 15 and ids == expected  # every row once, in order, across 4 chunks
    engine.dispose()
