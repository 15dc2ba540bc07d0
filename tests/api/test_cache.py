"""Caching of reads: hits, invalidation by new products from another process, Redis and its loss."""

from __future__ import annotations

import sys
import time

import pytest
from api_support import LOCAL, Seed, make_settings
from fastapi.testclient import TestClient

from dsa110_contimg.api import app_from_env, create_app
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo


def add_image(url: str, k: int) -> None:
    """Register an image as the pipeline would (its own engine, i.e. another 'process')."""
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as s:
        repo.register_image(
            s, path=f"/data/images/new{k}.fits", mjd_obs=61009.0 + k, ra_deg=1.0, dec_deg=2.0,
            size_x=8, size_y=8, cell_arcsec=6.0,
        )  # fmt: skip
    engine.dispose()


def check_cache_cycle(client: TestClient, seed: Seed) -> None:
    cache = client.app.state.api.cache
    first = client.get("/api/images").json()
    hits = cache.hits
    assert client.get("/api/images").json() == first
    assert cache.hits == hits + 1
    add_image(seed.url, 0)
    assert client.get("/api/images").json()["total"] == first["total"] + 1


def test_in_process_cache_hits_and_invalidation(client: TestClient, writable_seed: Seed) -> None:
    assert client.app.state.api.cache.backend == "local"
    check_cache_cycle(client, writable_seed)


def test_query_order_does_not_split_the_cache(client: TestClient) -> None:
    cache = client.app.state.api.cache
    client.get("/api/images?limit=2&offset=1")
    hits = cache.hits
    client.get("/api/images?offset=1&limit=2")
    assert cache.hits == hits + 1


def test_redis_cache_hits_invalidation_and_fallback(writable_seed: Seed, redis_server) -> None:
    settings = make_settings(writable_seed.root, writable_seed.url, redis_url=redis_server["url"])
    with TestClient(create_app(settings), client=LOCAL) as client:
        cache = client.app.state.api.cache
        assert cache.backend == "redis"
        check_cache_cycle(client, writable_seed)
        keys = cache.store.client.keys("dsa110:cache:*")
        assert keys, "entries live in Redis"
        assert client.get("/api/health/detailed").json()["cache"]["ok"] is True

        redis_server["stop"]()
        # Redis is gone: reads still answer (from the DB, then the local fallback)
        fresh = client.get("/api/images")
        assert fresh.status_code == 200
        assert cache.backend == "local"
        hits = cache.hits
        assert client.get("/api/images").json() == fresh.json()
        assert cache.hits == hits + 1
        add_image(writable_seed.url, 1)
        assert client.get("/api/images").json()["total"] == fresh.json()["total"] + 1
        assert client.get("/api/health/detailed").json()["cache"]["ok"] is False


def test_a_second_api_process_shares_redis_entries(writable_seed: Seed, redis_server) -> None:
    settings = make_settings(writable_seed.root, writable_seed.url, redis_url=redis_server["url"])
    with (
        TestClient(create_app(settings), client=LOCAL) as one,
        TestClient(create_app(settings), client=LOCAL) as two,
    ):
        one.get("/api/sources")
        two_cache = two.app.state.api.cache
        assert two.get("/api/sources").status_code == 200
        assert (two_cache.hits, two_cache.misses) == (1, 0)


def test_fast_path_hits_and_event_driven_invalidation(writable_seed: Seed) -> None:
    # The generation is trusted for 60 s: only the event hub can invalidate in time.
    settings = make_settings(writable_seed.root, writable_seed.url, api_cache_check_s=60.0)
    app = create_app(settings)
    with TestClient(app, client=LOCAL) as client:
        cache = client.app.state.api.cache
        first = client.get("/api/images?limit=5")
        hits = cache.hits
        again = client.get("/api/images?limit=5")
        assert again.content == first.content and cache.hits == hits + 1
        assert again.headers["x-content-type-options"] == "nosniff"
        add_image(writable_seed.url, 7)
        deadline = time.monotonic() + 10
        while client.get("/api/images?limit=5").json()["total"] == first.json()["total"]:
            assert time.monotonic() < deadline, "the new image never showed"
            time.sleep(0.05)
        metrics = client.get("/metrics").text
        assert 'route="/api/images",status="200"' in metrics


def test_cache_ttl_setting_expires_entries(template_seed: Seed) -> None:
    # Nothing new is registered and the generation is trusted for 60 s: only the
    # TTL can end an entry.
    settings = make_settings(
        template_seed.root,
        template_seed.url,
        api_cache_ttl_s=0.3,
        api_cache_check_s=60.0,
        api_event_poll_s=60.0,
    )
    with TestClient(create_app(settings), client=LOCAL) as client:
        cache = client.app.state.api.cache
        client.get("/api/images")
        client.get("/api/images")
        assert (cache.hits, cache.misses) == (1, 1)
        time.sleep(0.4)
        client.get("/api/images")
        assert (cache.hits, cache.misses) == (1, 2)


def test_cache_ttl_zero_turns_caching_off(template_seed: Seed) -> None:
    settings = make_settings(template_seed.root, template_seed.url, api_cache_ttl_s=0)
    with TestClient(create_app(settings), client=LOCAL) as client:
        cache = client.app.state.api.cache
        bodies = {client.get("/api/sources?limit=3").content for _ in range(3)}
        assert len(bodies) == 1
        assert (cache.hits, cache.misses) == (0, 3)


def test_cache_size_setting_bounds_the_store(template_seed: Seed) -> None:
    settings = make_settings(template_seed.root, template_seed.url, api_cache_max_entries=2)
    with TestClient(create_app(settings), client=LOCAL) as client:
        cache = client.app.state.api.cache
        for offset in range(4):
            client.get(f"/api/images?offset={offset}")
        client.get("/api/images?offset=3")  # the newest entry is kept
        client.get("/api/images?offset=0")  # the oldest was dropped
        assert (cache.hits, cache.misses) == (1, 5)


def test_cache_settings_from_the_environment(
    template_seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `dsa110 serve` (uvicorn --factory app_from_env) is configured by.
    monkeypatch.setenv("DSA110_DATA_ROOT", str(template_seed.root))
    monkeypatch.setenv("DSA110_DB_URL", template_seed.url)
    monkeypatch.setenv("DSA110_API_CACHE_TTL_S", "0")
    monkeypatch.setenv("DSA110_API_MAX_BODY_BYTES", "2048")
    interval = sys.getswitchinterval()
    try:
        app = app_from_env()
    finally:
        sys.setswitchinterval(interval)
    with TestClient(app, client=LOCAL) as client:
        cache = client.app.state.api.cache
        client.get("/api/images")
        client.get("/api/images")
        assert (cache.hits, cache.misses) == (0, 2)
        body = {"run_ids": ["x" * 60] * 40}  # about 2.6 kB
        response = client.post("/api/batch/rerun", json=body, headers={"X-API-Key": "k" * 16})
        assert response.status_code == 413
