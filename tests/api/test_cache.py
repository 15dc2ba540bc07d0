"""Caching of reads: hits, invalidation by new products from another process, Redis and its loss."""

from __future__ import annotations

import sys
import time

import pytest
from api_support import LOCAL, Seed, make_settings
from fastapi.testclient import TestClient

from dsa110_contimg.api import app_from_env, create_app
from dsa110_contimg.api.caching import LocalStore, cache_key
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


def test_cache_size_setting_bounds_the_store_in_bytes(template_seed: Seed) -> None:
    max_bytes = 1 << 16
    settings = make_settings(template_seed.root, template_seed.url, api_cache_max_bytes=max_bytes)
    with TestClient(create_app(settings), client=LOCAL) as client:
        cache = client.app.state.api.cache
        store = cache.store
        sizes = [len(client.get(f"/api/images?limit={k}").content) for k in range(5, 205)]
        assert sum(sizes) > 2 * max_bytes  # far more than fits
        assert 0 < store.size <= max_bytes and len(store) < 200
        client.get("/api/images?limit=204")  # the newest entry is kept
        client.get("/api/images?limit=5")  # the oldest was dropped
        assert (cache.hits, cache.misses) == (1, 201)


def test_local_store_counts_bytes_and_skips_huge_bodies() -> None:
    store = LocalStore(max_bytes=1000)
    store.set("a", b"x" * 100, 60)
    store.set("b", b"y" * 126, 60)  # over an eighth of the store: not kept
    assert store.get("b") is None and store.size == 101
    for k in range(20):
        store.set(f"k{k}", b"z" * 99, 60)
    assert store.size <= 1000 and store.get("a") is None and store.get("k19") == b"z" * 99
    store.set("k19", b"w" * 10, 60)  # replacing an entry frees its bytes
    assert store.size == sum(len(k) + len(v) for k, (_, v) in store._data.items())


def test_an_encoded_query_does_not_share_the_key_of_the_real_one(client: TestClient) -> None:
    # One unknown parameter named "limit=50&offset=0": ignored, so the whole first page.
    whole = client.get("/api/sources?limit%3D2%26offset%3D0")
    assert whole.status_code == 200 and len(whole.json()["items"]) > 2
    real = client.get("/api/sources?limit=2&offset=0")
    assert len(real.json()["items"]) == 2 and real.json()["limit"] == 2
    assert cache_key("/p", b"b=2&a=1") == cache_key("/p", b"a=1&b=2")
    assert cache_key("/p", b"a=x+y") == cache_key("/p", b"a=x%20y")
    assert cache_key("/p", b"a=1%26b%3D2") != cache_key("/p", b"a=1&b=2")


def test_a_repeated_parameter_keeps_the_order_of_its_values(client: TestClient) -> None:
    # A scalar parameter takes its last value: these two ask for different pages.
    three = client.get("/api/images?limit=1&limit=3").json()
    one = client.get("/api/images?limit=3&limit=1").json()
    assert (three["limit"], len(three["items"])) == (3, 3)
    assert (one["limit"], len(one["items"])) == (1, 1)
    assert cache_key("/p", b"b=1&a=2&a=1") == cache_key("/p", b"a=2&b=1&a=1")


def test_cache_hits_carry_the_cors_headers(template_seed: Seed) -> None:
    origin = "https://dash.example"
    settings = make_settings(
        template_seed.root,
        template_seed.url,
        api_cors_origins=[origin],
        api_cache_check_s=60,  # a fresh generation: hits are answered by the middleware
    )
    with TestClient(create_app(settings), client=LOCAL) as client:
        cache = client.app.state.api.cache
        answers = [client.get("/api/images", headers={"Origin": origin}) for _ in range(2)]
        assert cache.hits == 1  # the second came from the cache, on the fast path
        for response in answers:
            assert response.headers["access-control-allow-origin"] == origin
            assert response.headers["x-content-type-options"] == "nosniff"


def test_cutouts_at_arbitrary_centres_are_not_cached(writable_seed: Seed, tmp_path) -> None:
    from test_cutouts import _image_with_a_source

    image_id, ra, dec = _image_with_a_source(writable_seed, tmp_path)
    with TestClient(create_app(make_settings(tmp_path, writable_seed.url)), client=LOCAL) as c:
        store = c.app.state.api.cache.store
        for k in range(5):
            url = f"/api/images/{image_id}/cutout.png?ra={ra + k * 1e-4}&dec={dec}"
            assert c.get(url).status_code == 200
        assert not [key for key in store._data if "cutout" in key]
        centred = [c.get(f"/api/images/{image_id}/cutout.png") for _ in range(2)]
        assert centred[0].content == centred[1].content
        assert len([key for key in store._data if "cutout" in key]) == 1


def test_cache_settings_from_the_environment(
    template_seed: Seed, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `dsa110 serve` (uvicorn --factory app_from_env) is configured by.
    monkeypatch.setenv("DSA110_DATA_ROOT", str(template_seed.root))
    monkeypatch.setenv("DSA110_DB_URL", template_seed.url)
    monkeypatch.setenv("DSA110_API_CACHE_TTL_S", "0")
    monkeypatch.setenv("DSA110_API_MAX_BODY_BYTES", "2048")
    monkeypatch.setenv("DSA110_API_ALLOWED_HOSTS", "localhost, testserver")
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
