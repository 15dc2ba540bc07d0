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
