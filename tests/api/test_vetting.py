"""Vetting over the API: verdicts, tags and comments kept as history; filters on REST,
GraphQL and the exports."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

from api_support import API_KEY, Seed
from fastapi.testclient import TestClient

KEY = {"X-API-Key": API_KEY}


def _ids(client: TestClient, path: str, **params: object) -> list[int]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return sorted(item["id"] for item in response.json()["items"])


def _gql(client: TestClient, query: str) -> dict:
    response = client.post("/api/graphql", json={"query": query})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


def test_candidate_vetting_keeps_every_step(client: TestClient, writable_seed: Seed) -> None:
    first, second = writable_seed.candidate_ids
    base = f"/api/candidates/{first}"
    assert _ids(client, "/api/candidates", unvetted=True) == sorted([first, second])

    r = client.post(
        f"{base}/verdict", json={"verdict": "needs_follow_up", "reason": "odd dip"}, headers=KEY
    )
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "needs_follow_up" and r.json()["reason"] == "odd dip"
    assert client.get(f"/api/candidates/{first}").json()["status"] == "needs_follow_up"
    r = client.post(f"{base}/tags", json={"tag": " Flare "}, headers=KEY)
    assert r.json()["tags"] == ["flare"]
    r = client.post(f"{base}/comments", json={"text": "first look: dip at epoch 3"}, headers=KEY)
    comment = r.json()["comments"][0]
    assert comment["edited_at"] is None and comment["author"]
    r = client.patch(
        f"/api/vetting/comments/{comment['id']}", json={"text": "dip is RFI"}, headers=KEY
    )
    assert r.status_code == 200, r.text
    edited = r.json()["comments"][0]
    assert edited["text"] == "dip is RFI" and edited["edited_at"] is not None
    assert [v["text"] for v in edited["versions"]] == ["first look: dip at epoch 3", "dip is RFI"]
    # The PATCH verdict of before writes into the same history.
    r = client.patch(
        f"/api/candidates/{first}", json={"status": "dismissed", "note": "RFI"}, headers=KEY
    )
    assert r.status_code == 200, r.text
    vetting = client.get(f"{base}/vetting").json()
    kinds = [h["kind"] for h in vetting["history"]]
    assert kinds == ["verdict", "tag", "comment", "comment_edit", "verdict"]
    assert [h["value"] for h in vetting["history"] if h["kind"] == "verdict"] == [
        "needs_follow_up",
        "dismissed",
    ]
    assert vetting["verdict"] == "dismissed" and vetting["reason"] == "RFI"
    assert all(h["author"] == vetting["history"][0]["author"] for h in vetting["history"])
    assert API_KEY not in str(vetting)

    # Filters, REST and GraphQL alike.
    assert _ids(client, "/api/candidates", unvetted=True) == [second]
    assert _ids(client, "/api/candidates", unvetted=False) == [first]
    assert _ids(client, "/api/candidates", tag="FLARE") == [first]
    assert _ids(client, "/api/candidates", status="dismissed") == [first]
    data = _gql(
        client, '{ a: candidates(tag: "flare") { id status } b: candidates(unvetted: true) { id } }'
    )
    assert [c["id"] for c in data["a"]] == [first] and data["a"][0]["status"] == "dismissed"
    assert [c["id"] for c in data["b"]] == [second]

    # Untagging keeps the tag in the history, but the filter no longer finds it.
    r = client.delete(f"{base}/tags/flare", headers=KEY)
    assert r.status_code == 200 and r.json()["tags"] == []
    assert _ids(client, "/api/candidates", tag="flare") == []
    assert client.delete(f"{base}/tags/flare", headers=KEY).status_code == 404


def test_source_verdicts_tags_and_exports(client: TestClient, writable_seed: Seed) -> None:
    src, other = writable_seed.source_ids[0], writable_seed.source_ids[1]
    for body in ({"verdict": "dismissed"}, {"verdict": "confirmed", "reason": "in VLASS too"}):
        assert client.post(f"/api/sources/{src}/verdict", json=body, headers=KEY).status_code == 200
    client.post(f"/api/sources/{other}/tags", json={"tag": "extended"}, headers=KEY)
    client.post(f"/api/sources/{other}/verdict", json={"verdict": "dismissed"}, headers=KEY)
    assert _ids(client, "/api/sources", verdict="confirmed") == [src]
    assert _ids(client, "/api/sources", verdict="dismissed") == [other]
    assert _ids(client, "/api/sources", tag="extended") == [other]
    everyone = set(writable_seed.source_ids) | {writable_seed.far_source_id}
    assert set(_ids(client, "/api/sources", unvetted=True, limit=1000)) == everyone - {src, other}
    data = _gql(client, '{ sources(verdict: "confirmed") { id name } }')
    assert [s["id"] for s in data["sources"]] == [src]

    response = client.get("/api/export/sources", params={"verdict": "confirmed", "format": "csv"})
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["id"]) for r in rows] == [src]
    response = client.get("/api/export/sources", params={"tag": "extended", "format": "votable"})
    assert response.status_code == 200
    tree = ET.fromstring(response.content)
    assert len([e for e in tree.iter() if e.tag.endswith("TR")]) == 1


def test_candidate_export_by_verdict(client: TestClient, writable_seed: Seed) -> None:
    first, second = writable_seed.candidate_ids
    client.post(f"/api/candidates/{second}/verdict", json={"verdict": "confirmed"}, headers=KEY)
    response = client.get("/api/export/candidates", params={"status": "confirmed", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [int(r["id"]) for r in rows] == [second] and rows[0]["reviewed_by"]
    response = client.get(
        "/api/export/candidates", params={"unvetted": "true", "format": "votable"}
    )
    assert response.status_code == 200 and b"VOTABLE" in response.content


def test_bad_vetting_input_is_a_clear_4xx(client: TestClient, writable_seed: Seed) -> None:
    cid = writable_seed.candidate_ids[0]
    cases = [
        ("post", f"/api/candidates/{cid}/verdict", {"verdict": "maybe"}, 422),
        (
            "post",
            f"/api/sources/{writable_seed.source_ids[0]}/verdict",
            {"verdict": "new"},
            422,
        ),
        ("post", f"/api/candidates/{cid}/tags", {"tag": "no spaces allowed"}, 422),
        ("post", f"/api/candidates/{cid}/tags", {"tag": "x" * 65}, 422),
        ("post", f"/api/candidates/{cid}/comments", {"text": "   "}, 422),
        ("post", "/api/candidates/999999/comments", {"text": "hi"}, 404),
        ("post", f"/api/images/{cid}/comments", {"text": "hi"}, 404),
        ("patch", "/api/vetting/comments/999999", {"text": "hi"}, 404),
    ]
    for method, path, body, status in cases:
        response = getattr(client, method)(path, json=body, headers=KEY)
        assert response.status_code == status, (path, body, response.text)
        assert set(response.json()["error"]) >= {"code", "message"}
    assert client.get("/api/candidates", params={"tag": "bad tag!"}).status_code == 422
    assert client.get("/api/sources", params={"verdict": "perhaps"}).status_code == 422
    # Writes need a writer.
    response = client.post(f"/api/candidates/{cid}/tags", json={"tag": "x"})
    assert response.status_code == 401
    assert client.get(f"/api/candidates/{cid}/vetting").json()["history"] == []
