"""The allow-list (with X-Forwarded-For from trusted proxies only), keys, headers, limits."""

from __future__ import annotations

import ipaddress

import pytest
from api_support import API_KEY, LOCAL, Seed, make_settings
from fastapi.testclient import TestClient
from pydantic import SecretStr
from starlette.websockets import WebSocketDisconnect

from dsa110_contimg.api import create_app
from dsa110_contimg.api.security import KeyRing, client_address

OUTSIDE = ("203.0.113.7", 40000)
TRUSTED = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.5/32")]


@pytest.mark.parametrize(
    ("peer", "xff", "expected"),
    [
        ("203.0.113.7", ["127.0.0.1"], "203.0.113.7"),  # untrusted peer: header ignored
        ("127.0.0.1", [], "127.0.0.1"),
        ("127.0.0.1", ["198.51.100.1"], "198.51.100.1"),
        # a client behind our proxy who forges the left-most entry gets its real address
        ("127.0.0.1", ["192.168.1.1, 198.51.100.1"], "198.51.100.1"),
        ("127.0.0.1", ["192.168.1.1", "198.51.100.1, 10.0.0.5"], "198.51.100.1"),
        ("127.0.0.1", ["10.0.0.5"], "10.0.0.5"),  # only trusted hops: the left-most one
        ("127.0.0.1", ["not-an-ip"], None),
        ("::ffff:192.168.0.9", [], "192.168.0.9"),
    ],
)
def test_client_address(peer: str, xff: list[str], expected: str | None) -> None:
    address = client_address(peer, xff, TRUSTED)
    assert (None if address is None else str(address)) == expected


@pytest.fixture
def app(template_seed: Seed):
    return create_app(make_settings(template_seed.root, template_seed.url))


def test_outside_address_is_refused_except_health(app) -> None:
    with TestClient(app, client=OUTSIDE) as outside:
        refused = outside.get("/api/images")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
        assert outside.get("/metrics").status_code == 403
        assert outside.post("/api/graphql", json={"query": "{ jobs { runId } }"}).status_code == 403
        assert outside.get("/api/health/detailed").status_code == 403
        assert outside.get("/api/health").status_code == 200
        with pytest.raises(WebSocketDisconnect) as closed:
            with outside.websocket_connect("/api/ws?topics=*") as ws:
                ws.receive_json()
        assert closed.value.code == 1008


def test_spoofed_forwarded_for_from_untrusted_peer_is_refused(app) -> None:
    with TestClient(app, client=OUTSIDE) as outside:
        spoofed = outside.get("/api/stats", headers={"X-Forwarded-For": "127.0.0.1"})
        assert spoofed.status_code == 403


def test_forwarded_for_through_trusted_proxy(app) -> None:
    with TestClient(app, client=LOCAL) as proxy:
        # left-most entry forged by an outside client: the right-most untrusted hop decides
        forged = proxy.get("/api/stats", headers={"X-Forwarded-For": "10.1.1.1, 203.0.113.9"})
        assert forged.status_code == 403
        assert (
            proxy.get("/api/stats", headers={"X-Forwarded-For": "192.168.3.4"}).status_code == 200
        )
        assert (
            proxy.get("/api/health", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
        )


def test_extra_allowed_networks(template_seed: Seed) -> None:
    settings = make_settings(template_seed.root, template_seed.url, allowed_ips=["203.0.113.0/24"])
    with TestClient(create_app(settings), client=OUTSIDE) as client:
        assert client.get("/api/stats").status_code == 200
    with TestClient(create_app(settings), client=("198.51.100.2", 1)) as client:
        assert client.get("/api/stats").status_code == 403


def test_writes_need_a_valid_key(client: TestClient, writable_seed: Seed) -> None:
    body = {"group_ids": [writable_seed.groups[0]]}
    missing = client.post("/api/batch/reprocess", json=body)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "unauthorized"
    wrong = client.post("/api/batch/reprocess", json=body, headers={"X-API-Key": "x" * 20})
    assert wrong.status_code == 403
    right = client.post("/api/batch/reprocess", json=body, headers={"X-API-Key": API_KEY})
    assert right.status_code == 202
    bearer = {"Authorization": f"Bearer {API_KEY}"}
    assert client.post("/api/batch/reprocess", json=body, headers=bearer).status_code == 202
    wrong_bearer = {"Authorization": "Bearer " + "y" * 20}
    assert client.post("/api/batch/reprocess", json=body, headers=wrong_bearer).status_code == 403


def test_no_keys_configured_means_no_writes(template_seed: Seed) -> None:
    settings = make_settings(template_seed.root, template_seed.url, api_keys=[])
    with TestClient(create_app(settings), client=LOCAL) as client:
        response = client.patch(
            f"/api/candidates/{template_seed.candidate_ids[0]}",
            json={"status": "confirmed"},
            headers={"X-API-Key": API_KEY},
        )
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "writes_disabled"


def test_security_headers_and_no_cors(read_client: TestClient) -> None:
    response = read_client.get("/api/stats", headers={"Origin": "https://evil.example"})
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert "access-control-allow-origin" not in response.headers
    preflight = read_client.options(
        "/api/stats",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_when_configured(template_seed: Seed) -> None:
    settings = make_settings(
        template_seed.root, template_seed.url, api_cors_origins=["https://dash.example"]
    )
    app = create_app(settings)
    with TestClient(app, client=LOCAL) as client:
        response = client.get("/api/stats", headers={"Origin": "https://dash.example"})
        assert response.headers["access-control-allow-origin"] == "https://dash.example"


def test_request_body_size_limit(client: TestClient) -> None:
    huge = {"run_ids": ["x" * 60] * 40000}
    response = client.post("/api/batch/rerun", json=huge, headers={"X-API-Key": API_KEY})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_keys_may_be_configured_as_digests(template_seed: Seed) -> None:
    import hashlib

    digest = "sha256:" + hashlib.sha256(API_KEY.encode()).hexdigest()
    settings = make_settings(template_seed.root, template_seed.url, api_keys=[digest])
    with TestClient(create_app(settings), client=LOCAL) as client:
        body = {"status": "new"}
        url = f"/api/candidates/{template_seed.candidate_ids[1]}"
        assert client.patch(url, json=body, headers={"X-API-Key": digest}).status_code == 403
        # the shared template DB must stay unchanged: a no-op status write is still a write,
        # so only check the refusal above and that the right key is accepted by the key ring
        assert client.app.state.api.keys.check(API_KEY) is not None
    with pytest.raises(ValueError, match="must be sha256: and 64 hex digits"):
        KeyRing([SecretStr("sha256:abc")])
