"""deploy/nginx/dsa110.conf in a real nginx, in front of the real API over a seeded DB.

The site file is used as shipped, with only its address, upstream port and
static root replaced. To play a client from elsewhere, the test's own http
block (not the site file) lets nginx take the client address from the
``X-Test-Client-Ip`` header (the realip module), as if the request had come
from that address: nginx's allow/deny rules and the X-Forwarded-For it sends
then see that address.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets
from api_support import LiveServer, free_port
from ops_support import DEPLOY

from dsa110_contimg.config import Settings

SITE = DEPLOY / "nginx" / "dsa110.conf"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/sbin")
CLIENT_HEADER = "X-Test-Client-Ip"
#: The name the shipped site file serves.
SITE_NAME = "dsa110.example.org"
#: The app's default DSA110_API_MAX_BODY_BYTES.
MAX_BODY = Settings.model_fields["api_max_body_bytes"].default

pytestmark = pytest.mark.skipif(
    NGINX is None and not os.environ.get("CI"),
    reason="nginx is not installed (scripts/setup.sh --test installs nginx-light)",
)

WRAPPER = """\
{user}worker_processes 1;
pid {tmp}/nginx.pid;
daemon off;
events {{ worker_connections 64; }}
http {{
    # as in Debian's /etc/nginx/nginx.conf, whose http block includes the site file
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    gzip on;
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    set_real_ip_from 127.0.0.1;
    real_ip_header {client_header};
    include {tmp}/site.conf;
}}
"""


def _site(port: int, api_port: int, static_root: Path) -> str:
    """The shipped site file on a test port, upstream and static root."""
    text = SITE.read_text()
    for old, new in (
        ("listen 80 default_server;", f"listen 127.0.0.1:{port} default_server;"),
        ("listen [::]:80 default_server;", ""),
        ("listen 80;", f"listen 127.0.0.1:{port};"),
        ("listen [::]:80;", ""),
        # the site's name, and the test's address, which the requests below name
        (f"server_name {SITE_NAME};", f"server_name {SITE_NAME} 127.0.0.1;"),
        ("server 127.0.0.1:8000;", f"server 127.0.0.1:{api_port};"),
        ("root /var/www/dsa110;", f"root {static_root};"),
    ):
        assert text.count(old) == 1, f"{SITE.name} no longer has {old!r} once"
        text = text.replace(old, new)
    return text


def _write_config(tmp: Path, port: int, api_port: int) -> Path:
    static_root = tmp / "www"
    static_root.mkdir()
    (static_root / "maintenance.html").write_text(
        "<!doctype html><title>DSA-110</title>"
        + "<p>The pipeline is down for maintenance.</p>" * 40
    )
    (static_root / ".secret").write_text("not for the web")
    (tmp / "site.conf").write_text(_site(port, api_port, static_root))
    user = "user root;\n" if os.geteuid() == 0 else ""  # else workers drop to nobody
    conf = tmp / "nginx.conf"
    conf.write_text(WRAPPER.format(user=user, tmp=tmp, client_header=CLIENT_HEADER))
    return conf


def _nginx(conf: Path, *args: str) -> list[str]:
    assert NGINX is not None, "nginx is not installed but CI requires it"
    return [
        NGINX,
        "-p",
        str(conf.parent),
        "-c",
        str(conf),
        "-e",
        str(conf.parent / "error.log"),
        *args,
    ]


@contextlib.contextmanager
def _running_nginx(tmp: Path, api_port: int) -> Iterator[str]:
    """nginx running the site file in front of ``api_port``; yields its base URL."""
    port = free_port()
    conf = _write_config(tmp, port, api_port)
    process = subprocess.Popen(_nginx(conf), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 15
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read().decode() if process.stdout else ""
                pytest.fail(f"nginx did not start: {output}")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture(scope="module")
def proxy(live_api: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL of nginx running the site file in front of ``live_api``."""
    with _running_nginx(tmp_path_factory.mktemp("nginx"), live_api.port) as url:
        yield url


def test_nginx_accepts_the_site_file(tmp_path: Path) -> None:
    result = subprocess.run(
        _nginx(_write_config(tmp_path, 8080, 8000), "-t"), capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
    assert "warn" not in result.stderr


def test_health_through_the_proxy_with_each_security_header_once(proxy: str) -> None:
    response = httpx.get(f"{proxy}/api/health")
    assert response.status_code == 200 and response.json()["database"] is True
    headers = response.headers
    for name, value in (
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("permissions-policy", "interest-cohort=()"),
        # the app's own, strict for the API, and not a second one from nginx
        ("content-security-policy", "default-src 'none'; frame-ancestors 'none'"),
    ):
        assert headers.get_list(name) == [value], name
    assert headers["server"] == "nginx"  # server_tokens off: no version


def test_api_docs_keep_the_apps_relaxed_policy(proxy: str) -> None:
    response = httpx.get(f"{proxy}/api/docs")
    assert response.status_code == 200
    assert "content-security-policy" not in response.headers  # the app sends none there


def test_json_and_static_pages_are_gzipped(proxy: str) -> None:
    for path in ("/api/openapi.json", "/maintenance.html"):
        response = httpx.get(f"{proxy}{path}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip", path
        assert response.headers["vary"] == "Accept-Encoding"
    assert response.text.startswith("<!doctype html>")  # httpx undid the gzip
    raw = httpx.get(f"{proxy}/api/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in raw.headers and raw.json()["openapi"]


def test_static_files_from_nginx_every_other_path_from_the_app(proxy: str) -> None:
    page = httpx.get(f"{proxy}/maintenance.html")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html"
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert page.headers["x-frame-options"] == "DENY"
    assert httpx.get(f"{proxy}/.secret").status_code == 403
    missing = httpx.get(f"{proxy}/no-such-page")
    assert missing.status_code == 404 and missing.json()["error"]["code"]  # the app's error body


def test_the_apps_own_pages_come_through_unchanged(proxy: str, live_api: LiveServer) -> None:
    # Whatever the app serves at / (the dashboard, behind a redirect) nginx passes on,
    # with the app's Content-Security-Policy and no second one.
    direct = httpx.get(f"{live_api.url}/", follow_redirects=True)
    proxied = httpx.get(f"{proxy}/", follow_redirects=True)
    assert proxied.url.host == "127.0.0.1" and proxied.url.port == int(proxy.rsplit(":", 1)[1])
    assert (proxied.status_code, proxied.url.path) == (direct.status_code, direct.url.path)
    assert proxied.content == direct.content
    policy = direct.headers.get_list("content-security-policy")
    assert proxied.headers.get_list("content-security-policy") == policy


def test_metrics_only_from_this_host(proxy: str) -> None:
    local = httpx.get(f"{proxy}/metrics")
    assert local.status_code == 200 and "dsa110_db_up 1.0" in local.text
    for client in ("203.0.113.7", "10.1.2.3"):  # another network, even a private one
        refused = httpx.get(f"{proxy}/metrics", headers={CLIENT_HEADER: client})
        assert refused.status_code == 403, client
        assert "dsa110_" not in refused.text


def test_the_app_judges_the_client_address_nginx_forwards(proxy: str) -> None:
    outside = httpx.get(f"{proxy}/api/stats", headers={CLIENT_HEADER: "203.0.113.7"})
    assert outside.status_code == 403
    assert outside.json()["error"]["message"] == "address 203.0.113.7 is not allowed"
    # A client cannot forge its way in: nginx appends the real address, the app reads
    # from the right.
    forged = httpx.get(
        f"{proxy}/api/stats",
        headers={CLIENT_HEADER: "203.0.113.7", "X-Forwarded-For": "10.0.0.1"},
    )
    assert forged.status_code == 403 and "203.0.113.7" in forged.json()["error"]["message"]
    # Only loopback is allowed by default: a private address is not (behind a NAT every
    # client would look private); the operator lists the site's networks.
    private = httpx.get(f"{proxy}/api/stats", headers={CLIENT_HEADER: "10.1.2.3"})
    assert private.status_code == 403
    inside = httpx.get(f"{proxy}/api/stats", headers={CLIENT_HEADER: "127.0.0.2"})
    assert inside.status_code == 200
    # The liveness probe stays open to everyone.
    assert httpx.get(f"{proxy}/api/health", headers={CLIENT_HEADER: "203.0.113.7"}).is_success


async def _subscribe(url: str, **options: object) -> tuple[dict, dict]:
    async with websockets.connect(url, open_timeout=10, **options) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        await ws.send(json.dumps({"action": "subscribe", "topics": ["job:*"]}))
        while (answer := json.loads(await asyncio.wait_for(ws.recv(), 10)))["type"] == "event":
            pass  # the replayed history of since=0
        return hello, answer


def test_websocket_upgrade_through_the_proxy(proxy: str) -> None:
    url = proxy.replace("http://", "ws://") + "/api/ws?topics=image&since=0"
    # A browser on the proxied site sends its Origin: it must match the Host the app sees.
    hello, answer = asyncio.run(_subscribe(url, origin=proxy))
    assert hello["type"] == "subscribed" and hello["topics"] == ["image"]
    assert answer == {"type": "subscribed", "topics": ["image", "job:*"]}
    # The allow-list applies to WebSockets through the proxy too: the app refuses the
    # handshake (closing before accepting is an HTTP 403).
    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(_subscribe(url, additional_headers={CLIENT_HEADER: "203.0.113.7"}))
    assert refused.value.response.status_code == 403


def test_the_body_limit_is_the_apps() -> None:
    (size,) = re.findall(r"client_max_body_size (\d+)([km]?);", SITE.read_text())
    assert int(size[0]) * {"": 1, "k": 1 << 10, "m": 1 << 20}[size[1]] == MAX_BODY


def test_bodies_over_the_apps_limit_are_refused_by_nginx(proxy: str, live_api: LiveServer) -> None:
    path = "/api/batch/reprocess"
    headers = {"Content-Type": "application/json"}
    too_big = httpx.post(f"{proxy}{path}", content=b" " * (MAX_BODY + 1), headers=headers)
    assert too_big.status_code == 413
    assert too_big.headers["x-content-type-options"] == "nosniff"
    # The same error body as the app's own refusal.
    app_413 = httpx.post(f"{live_api.url}{path}", content=b" " * (MAX_BODY + 1), headers=headers)
    assert app_413.status_code == 413
    assert too_big.json() == app_413.json()
    assert too_big.json()["error"]["code"] == "payload_too_large"
    # At the limit the body reaches the app, which reads it and finds no JSON in it.
    at_limit = httpx.post(f"{proxy}{path}", content=b" " * MAX_BODY, headers=headers)
    assert at_limit.status_code == 422
    assert at_limit.json()["error"]["code"] == "invalid_parameters"


def test_while_the_app_is_down_api_clients_get_a_503_and_static_pages_stay(tmp_path: Path) -> None:
    with _running_nginx(tmp_path, free_port()) as proxy:  # nothing listens upstream
        down = httpx.get(f"{proxy}/api/stats")
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "api_unavailable"
        assert down.headers["x-frame-options"] == "DENY"
        assert httpx.get(f"{proxy}/maintenance.html").status_code == 200


def test_only_the_sites_name_is_served(proxy: str) -> None:
    # The default server closes the connection without an answer (444) for any other
    # Host: a rebound DNS name, an unknown one, or none (HTTP/1.0).
    for host in ("attacker.example", "dsa110.example.org.attacker.example", "localhost"):
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.get(f"{proxy}/api/stats", headers={"Host": host})
    port = int(proxy.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /api/stats HTTP/1.0\r\n\r\n")
        assert sock.recv(1024) == b""  # closed, nothing sent
    # The site's name reaches nginx's named server, then the app, which checks it too:
    # the test app lists only loopback names and TestClient's, so it refuses this one.
    named = httpx.get(f"{proxy}/api/stats", headers={"Host": SITE_NAME})
    assert named.status_code == 400 and named.json()["error"]["code"] == "invalid_host"
    assert httpx.get(f"{proxy}/api/stats").status_code == 200  # 127.0.0.1: listed in both


def test_the_app_answers_the_sites_name_when_listed(tmp_path: Path) -> None:
    from api_support import make_settings, seed

    from dsa110_contimg.api import create_app

    root = tmp_path / "data"
    seeded = seed(root, f"sqlite:///{root / 'state' / 'products.sqlite3'}")
    settings = make_settings(seeded.root, seeded.url, api_allowed_hosts=[SITE_NAME])
    (tmp_path / "nginx").mkdir()
    with (
        LiveServer(create_app(settings)) as api,
        _running_nginx(tmp_path / "nginx", api.port) as proxy,
    ):
        named = httpx.get(f"{proxy}/api/stats", headers={"Host": SITE_NAME})
        assert named.status_code == 200
        # the address names the proxy, not the app: nginx passes it, the app refuses it
        assert httpx.get(f"{proxy}/api/stats").status_code == 400
        # The handshake names the site; the connection goes to the test's nginx.
        url = f"ws://{SITE_NAME}/api/ws?topics=image"
        where = {"host": "127.0.0.1", "port": int(proxy.rsplit(":", 1)[1])}
        hello, _ = asyncio.run(_subscribe(url, origin=f"http://{SITE_NAME}", **where))
        assert hello["type"] == "subscribed"
        with pytest.raises(websockets.InvalidStatus) as refused:
            asyncio.run(_subscribe(url, origin="http://attacker.example", **where))
        assert refused.value.response.status_code == 403
