"""The API over PostgreSQL: the same reads, writes and events as on SQLite."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
from api_support import API_KEY, LOCAL, make_settings, seed
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app

pytestmark = pytest.mark.postgres


def test_reads_writes_and_exports_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    seeded = seed(tmp_path / "data", postgres_url)
    app = create_app(make_settings(seeded.root, postgres_url))
    with TestClient(app, client=LOCAL) as client:
        assert client.get("/api/stats").json()["photometry_rows"] == 15
        cone = client.get("/api/sources?ra=210&dec=54.6&radius_deg=0.5&sort=-eta").json()
        assert cone["total"] == 5 and cone["items"][0]["variability"]["eta"] == 6.0
        curve = client.get(f"/api/sources/{seeded.source_ids[1]}/lightcurve").json()
        assert curve["n_points"] == 3
        ms = client.get(f"/api/ms/{quote(seeded.ms_paths[0], safe='')}/calibrator-matches")
        assert ms.json()["calibrator"] == "3C286"
        assert client.get("/api/images/999999").status_code == 404
        assert client.get("/api/jobs?status=sleeping").status_code == 422
        before = client.get("/api/jobs?job_type=batch").json()["total"]
        created = client.post(
            "/api/batch/reprocess",
            json={"group_ids": seeded.groups},
            headers={"X-API-Key": API_KEY},
        )
        assert created.status_code == 202
        assert client.get("/api/jobs?job_type=batch").json()["total"] == before + 1
        assert len(client.get("/api/export/photometry?format=json").json()) == 15
        with client.websocket_connect("/api/ws?topics=job:*&since=0") as ws:
            assert ws.receive_json()["type"] == "subscribed"
            assert ws.receive_json()["topic"].startswith("job:")


def test_nul_byte_is_not_a_server_error_on_postgres(postgres_url: str, tmp_path: Path) -> None:
    seeded = seed(tmp_path / "data", postgres_url)
    with TestClient(create_app(make_settings(seeded.root, postgres_url)), client=LOCAL) as c:
        assert c.get("/api/jobs/abc%00def").status_code in (404, 422)
        assert c.get("/api/images?image_type=%00").status_code in (200, 422)


def test_an_event_committed_after_a_higher_id_is_not_skipped(postgres_url: str) -> None:
    """Two writers: the lower id commits after the poller has read the higher one."""
    import asyncio

    from dsa110_contimg.api.caching import Generation
    from dsa110_contimg.api.events import EventHub, Subscription
    from dsa110_contimg.products import make_engine, make_session_factory, upgrade
    from dsa110_contimg.products import repositories as repo

    upgrade(postgres_url)
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    generations: list[int] = []

    async def scenario() -> list[str]:
        hub = EventHub(sessions, 0.05, on_advance=generations.append, gap_s=30)
        await hub.start()
        sub = Subscription(["image"])
        hub.subscriptions.add(sub)
        cache_generation = Generation(sessions, check_s=0)
        slow, fast = sessions(), sessions()
        try:
            low = repo.publish_event(slow, "image", "new", {"who": "slow"})  # id taken, open
            high = repo.publish_event(fast, "image", "new", {"who": "fast"})
            fast.commit()
            assert low.id < high.id
            await hub.poll_once()
            assert hub.last_id == high.id and low.id in hub.missing
            before = cache_generation.current()
            with sessions() as s:
                latest_before = repo.latest_event_id(s)
            slow.commit()  # the lower id becomes visible now
            await hub.poll_once()
            with sessions() as s:
                assert repo.latest_event_id(s) == latest_before  # the max alone did not move
            assert cache_generation.current() > before  # but the cache's generation did
            assert low.id not in hub.missing
            await hub.poll_once()  # nothing is dispatched twice
        finally:
            slow.close()
            fast.close()
            await hub.stop()
        got = []
        while not sub.queue.empty():
            message = sub.queue.get_nowait()
            if message is not None:
                got.append(message["payload"]["who"])
        return got

    try:
        assert asyncio.run(scenario()) == ["fast", "slow"]
        assert generations == sorted(generations) and len(set(generations)) >= 2
    finally:
        engine.dispose()


def test_concurrent_writers_lose_no_event(postgres_url: str) -> None:
    """Many writers holding their transactions open for random times; every event arrives once."""
    import asyncio
    import random
    import threading
    import time

    from dsa110_contimg.api.events import EventHub, Subscription
    from dsa110_contimg.products import make_engine, make_session_factory, upgrade
    from dsa110_contimg.products import repositories as repo

    upgrade(postgres_url)
    engine = make_engine(postgres_url, pool_size=10)
    sessions = make_session_factory(engine)
    n_writers, per_writer = 6, 15

    def writer(k: int) -> None:
        rng = random.Random(k)
        for i in range(per_writer):
            with sessions() as s:
                repo.publish_event(s, "image", "new", {"key": f"{k}-{i}"})
                time.sleep(rng.uniform(0, 0.03))  # open while others commit
                s.commit()

    async def scenario() -> list[str]:
        hub = EventHub(sessions, 0.005, gap_s=30)
        await hub.start()
        sub = Subscription(["image"])
        hub.subscriptions.add(sub)
        threads = [threading.Thread(target=writer, args=(k,)) for k in range(n_writers)]
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)
        await hub.poll_once()
        await hub.stop()
        keys = []
        while not sub.queue.empty():
            message = sub.queue.get_nowait()
            if message is not None:
                keys.append(message["payload"]["key"])
        return keys

    try:
        keys = asyncio.run(scenario())
        assert sorted(keys) == sorted(
            f"{k}-{i}" for k in range(n_writers) for i in range(per_writer)
        )
    finally:
        engine.dispose()


def test_a_polling_cursor_never_passes_an_uncommitted_event(
    postgres_url: str, tmp_path: Path
) -> None:
    """GET /api/events: the lower id commits after the higher one; the cursor waits for it."""
    from dsa110_contimg.products import make_engine, make_session_factory
    from dsa110_contimg.products import repositories as repo

    seeded = seed(tmp_path / "data", postgres_url)
    settings = make_settings(seeded.root, postgres_url).model_copy(update={"api_cache_ttl_s": 0.0})
    engine = make_engine(postgres_url)
    sessions = make_session_factory(engine)
    app = create_app(settings)
    slow, fast = sessions(), sessions()
    try:
        with TestClient(app, client=LOCAL) as client:
            start = client.get("/api/events?after=0&limit=1000").json()["last_id"]
            low = repo.publish_event(slow, "poll", "new", {"who": "slow"})  # id taken, open
            high = repo.publish_event(fast, "poll", "new", {"who": "fast"})
            fast.commit()
            assert low.id < high.id
            first = client.get(f"/api/events?after={start}&topic=poll").json()
            assert first["items"] == [] and first["last_id"] == start  # held before the hole
            slow.commit()
            second = client.get(f"/api/events?after={first['last_id']}&topic=poll").json()
            assert [e["payload"]["who"] for e in second["items"]] == ["slow", "fast"]
            assert second["last_id"] == high.id
    finally:
        slow.close()
        fast.close()
        engine.dispose()
