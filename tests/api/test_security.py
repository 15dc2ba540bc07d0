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
from dsa110_contimg.config import Settings

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
        assert proxy.get("/api/stats", headers={"X-Forwarded-For": "127.0.0.9"}).is_success
        assert (
            proxy.get("/api/health", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200
        )


def test_only_loopback_is_allowed_by_default(template_seed: Seed) -> None:
    # Behind a NAT or a container proxy every client looks private: private ranges are
    # not allowed unless the operator lists them.
    settings = make_settings(template_seed.root, template_seed.url)
    assert [str(n) for n in settings.allowed_networks] == ["127.0.0.0/8", "::1/128"]
    for peer in ("10.1.2.3", "192.168.3.4", "172.16.0.9", "fd00::1"):
        with TestClient(create_app(settings), client=(peer, 1)) as client:
            assert client.get("/api/stats").status_code == 403, peer
    with TestClient(create_app(settings), client=LOCAL) as proxy:
        via_proxy = proxy.get("/api/stats", headers={"X-Forwarded-For": "192.168.3.4"})
        assert via_proxy.status_code == 403
    listed = make_settings(template_seed.root, template_seed.url, allowed_ips=["192.168.0.0/16"])
    with TestClient(create_app(listed), client=("192.168.3.4", 1)) as client:
        assert client.get("/api/stats").status_code == 200


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


def test_streamed_body_over_the_limit_is_a_413(client: TestClient) -> None:
    # No Content-Length (chunked): the limit is found while the route reads the body.
    limit = client.app.state.api.settings.api_max_body_bytes

    def chunks():
        yield b'{"run_ids": ['
        for _ in range(limit // 900):
            yield b'"' + b"x" * 994 + b'", '
        yield b'"y"]}'

    response = client.post(
        "/api/batch/rerun",
        content=chunks(),
        headers={"X-API-Key": API_KEY, "Content-Type": "application/json"},
    )
    assert response.status_code == 413, response.text
    assert response.json()["error"]["code"] == "payload_too_large"


HOSTS = ["dsa110.example.org", "*.obs.example.net"]


@pytest.fixture
def named_app(template_seed: Seed):
    settings = make_settings(
        template_seed.root,
        template_seed.url,
        api_allowed_hosts=HOSTS,
        api_cors_origins=["https://dash.example"],
    )
    return create_app(settings)


@pytest.mark.parametrize(
    ("host", "served"),
    [
        ("dsa110.example.org", True),
        ("DSA110.example.org.:8443", True),
        ("web.obs.example.net", True),
        ("obs.example.net", False),
        ("attacker.example", False),  # DNS rebinding: the browser sends the attacker's name
        ("dsa110.example.org.attacker.example", False),
        ("127.0.0.1:8000", False),  # not listed here
    ],
)
def test_only_configured_host_names_are_served(named_app, host: str, served: bool) -> None:
    with TestClient(named_app, client=LOCAL, base_url=f"http://{host}") as client:
        response = client.get("/api/stats")
        if served:
            assert response.status_code == 200
        else:
            assert response.status_code == 400
            assert response.json()["error"]["code"] == "invalid_host"
        assert client.get("/api/health").status_code == 200  # probes by address stay open


def test_default_host_names_are_loopback_and_testclient_ones_are_refused(
    template_seed: Seed,
) -> None:
    settings = make_settings(
        template_seed.root,
        template_seed.url,
        api_allowed_hosts=Settings.model_fields["api_allowed_hosts"].default_factory(),
    )
    app = create_app(settings)
    for host, status in (("localhost:8000", 200), ("[::1]:8000", 200), ("testserver", 400)):
        with TestClient(app, client=LOCAL, base_url=f"http://{host}") as client:
            assert client.get("/api/stats").status_code == status, host


def test_websocket_origin_is_judged_by_the_configured_names(named_app) -> None:
    with TestClient(named_app, client=LOCAL) as client:
        url = "ws://dsa110.example.org/api/ws?topics=*"
        for origin in ("http://dsa110.example.org", "https://dash.example"):
            with client.websocket_connect(url, headers={"Origin": origin}) as ws:
                assert ws.receive_json()["type"] == "subscribed"
        # An Origin naming the Host the client sent is not enough: that host is not ours
        # (DNS rebinding), or the page is on another site.
        for host, origin in (
            ("dsa110.example.org", "http://attacker.example"),
            ("attacker.example", "http://attacker.example"),
        ):
            with pytest.raises(WebSocketDisconnect) as closed:
                with client.websocket_connect(
                    f"ws://{host}/api/ws?topics=*", headers={"Origin": origin}
                ) as ws:
                    ws.receive_json()
            assert closed.value.code == 1008, (host, origin)


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
