"""Slow downloads over real HTTP: no DB connection held while a body is sent; caps give 429.

Each slow reader is a raw socket with a tiny receive buffer that asks for a
large FITS and then stops reading, so the server's send blocks mid-body, as it
does for a client on a slow link.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import LiveServer, Seed, make_settings, seed

from dsa110_contimg.api import create_app

#: Bigger than every socket buffer between the server and a reader that does not read.
BIG_FITS_BYTES = 48 << 20


@pytest.fixture
def big_seed(tmp_path: Path) -> Seed:
    """A seeded DB of its own whose first image's file is large."""
    root = tmp_path / "data"
    data = seed(root, f"sqlite:///{root / 'state' / 'products.sqlite3'}")
    fits = root / "images" / "img0.fits"
    with fits.open("r+b") as handle:
        handle.truncate(BIG_FITS_BYTES)
    return data


def _slow_reader(port: int, path: str) -> socket.socket:
    """A client that asks for ``path`` and reads only the status line."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    sock.settimeout(10)
    head = sock.recv(64)
    assert head.startswith(b"HTTP/1.1 "), head
    return sock


@contextlib.contextmanager
def _readers(port: int, path: str, n: int) -> Iterator[list[socket.socket]]:
    socks: list[socket.socket] = []
    try:
        for _ in range(n):
            socks.append(_slow_reader(port, path))
        yield socks
    finally:
        for sock in socks:
            sock.close()


def _status(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def test_slow_fits_readers_leave_the_database_free(big_seed: Seed) -> None:
    settings = make_settings(big_seed.root, big_seed.url, api_max_downloads=64, api_cache_ttl_s=0.0)
    path = f"/api/images/{big_seed.image_ids[0]}/fits"
    with LiveServer(create_app(settings)) as server, _readers(server.port, path, 20) as socks:
        time.sleep(0.5)  # every reader's response has started and is stuck mid-body
        for sock in socks:
            assert _status(sock.recv(0) or b"HTTP/1.1 200") == 200
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for _ in range(3):
                health = client.get("/api/health")
                assert health.status_code == 200, health.text
                assert health.json()["database"] is True
                listing = client.get("/api/images", params={"limit": 5})
                assert listing.status_code == 200, listing.text
                assert listing.json()["total"] >= 1
                detail = client.get(f"/api/images/{big_seed.image_ids[0]}")
                assert detail.status_code == 200, detail.text


def test_downloads_over_the_cap_get_429_with_retry_after(big_seed: Seed) -> None:
    settings = make_settings(big_seed.root, big_seed.url, api_max_downloads=2, api_retry_after_s=7)
    path = f"/api/images/{big_seed.image_ids[0]}/fits"
    with LiveServer(create_app(settings)) as server:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            with _readers(server.port, path, 2):
                time.sleep(0.3)
                refused = client.get(path)
                assert refused.status_code == 429
                assert refused.headers["retry-after"] == "7"
                assert refused.json()["error"]["code"] == "too_many_requests"
                zipped = client.get("/api/images/download", params={"ids": big_seed.image_ids[0]})
                assert zipped.status_code == 429
                # reads that send no file are not limited
                assert client.get("/api/health").status_code == 200
            # the readers went away: their slots come back once the server notices
            deadline = time.monotonic() + 10
            while True:
                with client.stream("GET", path) as response:
                    if response.status_code == 200:
                        assert int(response.headers["content-length"]) == BIG_FITS_BYTES
                        break
                assert time.monotonic() < deadline, "the slots of closed readers never came back"
                time.sleep(0.2)


def test_exports_over_the_cap_get_429(big_seed: Seed) -> None:
    settings = make_settings(big_seed.root, big_seed.url, api_max_exports=1)
    with LiveServer(create_app(settings)) as server:
        app_state = server.server.config.app.state.api
        with httpx.Client(base_url=server.url, timeout=10) as client:
            app_state.exports.acquire()  # one export in flight
            try:
                refused = client.get("/api/export/sources")
                assert refused.status_code == 429
                assert "retry-after" in refused.headers
            finally:
                app_state.exports.release()
            assert client.get("/api/export/sources").status_code == 200


def test_renders_over_the_cap_get_429(big_seed: Seed) -> None:
    settings = make_settings(big_seed.root, big_seed.url, api_max_renders=1, api_cache_ttl_s=0.0)
    image_id = big_seed.image_ids[2]  # a small FITS without a stored preview
    with LiveServer(create_app(settings)) as server:
        app_state = server.server.config.app.state.api
        with httpx.Client(base_url=server.url, timeout=30) as client:
            app_state.renders.acquire()  # one render in progress
            try:
                for path in ("preview.png", "thumbnail.png", "cutout.png"):
                    refused = client.get(f"/api/images/{image_id}/{path}")
                    assert refused.status_code == 429, (path, refused.text)
                    assert refused.headers["retry-after"] == "5"
            finally:
                app_state.renders.release()
            rendered = client.get(f"/api/images/{image_id}/thumbnail.png")
            assert rendered.status_code == 200, rendered.text
            assert rendered.headers["content-type"] == "image/png"
