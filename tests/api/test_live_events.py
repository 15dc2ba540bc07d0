"""Live events: a separate pipeline process publishes job events; a WebSocket client gets them."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap

import pytest
import websockets
from api_support import LOCAL, LiveServer, Seed, make_settings
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.api.events import topic_matches
from dsa110_contimg.products import make_engine, make_session_factory
from dsa110_contimg.products import repositories as repo

PIPELINE = textwrap.dedent(
    """
    import sys, time
    from dsa110_contimg.products import make_engine, make_session_factory, session_scope
    from dsa110_contimg.products import repositories as repo

    url, run_id = sys.argv[1], sys.argv[2]
    factory = make_session_factory(make_engine(url))
    with session_scope(factory) as s:
        repo.create_job(s, job_type="image", run_id=run_id)
        repo.create_job(s, job_type="image", run_id=run_id + "-other")
    with session_scope(factory) as s:
        repo.start_job(s, run_id, host="worker-1")
    for step in (0.25, 0.5, 0.75):
        time.sleep(0.2)  # a running stage, reporting as it goes
        with session_scope(factory) as s:
            repo.update_job_progress(s, run_id, step, message=f"chunk {step}")
    with session_scope(factory) as s:
        repo.finish_job(s, run_id, outputs={"image": "/data/images/x.fits"})
    """
)


@pytest.mark.parametrize(
    ("pattern", "topic", "expected"),
    [
        ("*", "image", True),
        ("job:*", "job:a", True),
        ("job:a", "job:ab", False),
        ("image", "image", True),
    ],
)
def test_topic_matching(pattern: str, topic: str, expected: bool) -> None:
    assert topic_matches(pattern, topic) is expected


async def _collect(url: str, until: str) -> list[dict]:
    messages = []
    async with websockets.connect(url, open_timeout=10) as ws:
        hello = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert hello["type"] == "subscribed"
        while True:
            message = json.loads(await asyncio.wait_for(ws.recv(), 20))
            messages.append(message)
            if message.get("kind") == until:
                return messages


def test_websocket_receives_progress_from_a_pipeline_process(writable_seed: Seed) -> None:
    app = create_app(make_settings(writable_seed.root, writable_seed.url))
    run_id = "image-ws-test"
    engine = make_engine(writable_seed.url)
    with make_session_factory(engine)() as session:
        since = repo.latest_event_id(session)
    engine.dispose()
    with LiveServer(app) as server:
        # ``since`` replays anything published before the subscription took hold
        ws_url = server.url.replace("http", "ws") + f"/api/ws?topics=job:{run_id}&since={since}"
        pipeline = subprocess.Popen([sys.executable, "-c", PIPELINE, writable_seed.url, run_id])
        try:
            messages = asyncio.run(_collect(ws_url, until="finished"))
        finally:
            assert pipeline.wait(30) == 0
    assert [m["kind"] for m in messages] == [
        "created",
        "started",
        "progress",
        "progress",
        "progress",
        "finished",
    ]
    assert {m["topic"] for m in messages} == {f"job:{run_id}"}
    assert [m["payload"].get("progress") for m in messages[2:5]] == [0.25, 0.5, 0.75]
    assert messages[-1]["payload"]["status"] == "succeeded"
    assert messages[0]["created_at"].endswith("Z")


def test_subscribe_and_replay_over_the_test_client(client: TestClient) -> None:
    with client.websocket_connect("/api/ws?topics=&since=0") as ws:
        assert ws.receive_json()["type"] == "subscribed"
        ws.send_text("not json")
        assert ws.receive_json()["error"]["code"] == "invalid_message"
        ws.send_json({"action": "subscribe", "topics": ["candidate"]})
        assert ws.receive_json() == {"type": "subscribed", "topics": ["candidate"]}
    # since=0 replays the seeded history for the chosen topics
    with client.websocket_connect("/api/ws?topics=candidate&since=0") as ws:
        ws.receive_json()
        replayed = [ws.receive_json(), ws.receive_json()]
        assert [m["payload"]["kind"] for m in replayed] == ["ese", "variable"]


def test_bad_subscription_is_closed(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/api/ws?topics=x&since=abc") as ws:
            ws.receive_json()


def test_cross_origin_websocket_is_refused(client: TestClient) -> None:
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as closed:
        with client.websocket_connect(
            "/api/ws?topics=*", headers={"Origin": "https://evil.example"}
        ) as ws:
            ws.receive_json()
    assert closed.value.code == 1008
    with client.websocket_connect(
        "/api/ws?topics=*", headers={"Origin": "http://testserver"}
    ) as ws:
        assert ws.receive_json()["type"] == "subscribed"


def test_events_can_be_polled_over_http(client: TestClient) -> None:
    everything = client.get("/api/events?limit=1000").json()
    assert everything["items"] and everything["last_id"] == everything["items"][-1]["id"]
    jobs = client.get("/api/events?topic=job:*&kind=started").json()["items"]
    assert jobs and all(e["topic"].startswith("job:") and e["kind"] == "started" for e in jobs)
    later = client.get(f"/api/events?after={everything['last_id']}").json()
    assert later == {"items": [], "last_id": everything["last_id"]}
    assert client.get("/api/events?after=-1").status_code == 422
    assert client.get("/api/events?limit=5000").status_code == 422


def test_configured_origin_may_open_a_websocket(template_seed: Seed) -> None:
    settings = make_settings(
        template_seed.root, template_seed.url, api_cors_origins=["https://dash.example"]
    )
    with TestClient(create_app(settings), client=LOCAL) as client:
        with client.websocket_connect(
            "/api/ws?topics=*", headers={"Origin": "https://dash.example"}
        ) as ws:
            assert ws.receive_json()["type"] == "subscribed"


def test_writes_without_their_own_event_still_invalidate_cached_reads(
    client: TestClient, writable_seed: Seed
) -> None:
    """A group claimed, an MS's images superseded: both change cached lists."""
    from dsa110_contimg.products import session_scope

    group = writable_seed.groups[2]  # state "complete"
    groups = client.get("/api/groups", params={"limit": 10}).json()["items"]
    assert {g["id"]: g["state"] for g in groups}[group] == "complete"
    images = client.get("/api/images", params={"status": "ok", "limit": 100}).json()["total"]
    engine = make_engine(writable_seed.url)
    factory = make_session_factory(engine)
    with session_scope(factory) as s:
        assert repo.claim_group(s, group, ["complete"])
    with session_scope(factory) as s:
        ms = repo.get_ms(s, writable_seed.ms_paths[0])
        repo.supersede_images_of_ms(s, ms.id)
    engine.dispose()
    groups = client.get("/api/groups", params={"limit": 10}).json()["items"]
    assert {g["id"]: g["state"] for g in groups}[group] == "processing"
    after = client.get("/api/images", params={"status": "ok", "limit": 100}).json()["total"]
    assert after < images


def test_websocket_limits_and_resync(writable_seed: Seed) -> None:
    """Too many connections: 1013; an oversized message: 1009; too much missed: a resync."""
    settings = make_settings(
        writable_seed.root,
        writable_seed.url,
        api_ws_max_connections=2,
        api_ws_max_message_bytes=1024,
        api_ws_replay_max=3,
    )
    with TestClient(create_app(settings), client=LOCAL) as client:
        last = client.get("/api/events?limit=1000").json()["last_id"]
        assert last > 5
        with client.websocket_connect("/api/ws?topics=*&since=0") as ws:
            hello = ws.receive_json()
            assert hello["type"] == "subscribed" and hello["last_event_id"] == last
            resync = ws.receive_json()
            assert resync["type"] == "resync" and resync["last_event_id"] == last
            ws.send_json({"action": "subscribe", "topics": ["job:*"]})  # still served
            assert ws.receive_json()["type"] == "subscribed"
            with client.websocket_connect(f"/api/ws?topics=*&since={last - 2}") as ws2:
                assert ws2.receive_json()["type"] == "subscribed"
                assert ws2.receive_json()["type"] == "event"  # within the window: replayed
                with client.websocket_connect("/api/ws?topics=*") as ws3:
                    closed = ws3.receive()
                    assert closed["type"] == "websocket.close" and closed["code"] == 1013
            ws.send_text("x" * 2000)
            closed = ws.receive()
            assert closed["type"] == "websocket.close" and closed["code"] == 1009
        from starlette.websockets import WebSocketDisconnect

        for since in ("²", "99999999999999999999", "-1"):
            with pytest.raises(WebSocketDisconnect) as refused:
                with client.websocket_connect(f"/api/ws?topics=*&since={since}") as bad:
                    bad.receive_json()
            assert refused.value.code == 1008
        with client.websocket_connect(f"/api/ws?topics=*&since={last + 1000}") as ahead:
            assert ahead.receive_json()["type"] == "subscribed"
            assert ahead.receive_json()["type"] == "resync"  # the DB was reset, say


def test_a_subscriber_that_overflows_gets_a_resync(writable_seed: Seed) -> None:
    import asyncio

    from dsa110_contimg.api.events import QUEUE_SIZE, Subscription

    sub = Subscription(["*"])
    for i in range(QUEUE_SIZE + 5):
        sub.offer({"type": "event", "id": i, "topic": "image"})
    assert sub.overflowed

    class FakeSocket:
        def __init__(self) -> None:
            self.sent: list[dict] = []

        async def send_json(self, message: dict) -> None:
            self.sent.append(message)
            if message["type"] == "resync":
                raise asyncio.CancelledError

    from dsa110_contimg.api.routes.live import _forward_events

    class Hub:
        last_id = 42

    ws = FakeSocket()

    async def run() -> None:
        try:
            await _forward_events(ws, sub, Hub())  # type: ignore[arg-type]
        except asyncio.CancelledError:
            pass

    asyncio.run(run())
    assert ws.sent == [{"type": "resync", "reason": "overflow", "last_event_id": 42}]
    assert not sub.overflowed
