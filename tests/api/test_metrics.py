"""Prometheus metrics: HTTP counts per route template and scientific gauges from the DB."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from api_support import LOCAL, Seed, make_settings
from fastapi.testclient import TestClient
from test_cache import add_image

from dsa110_contimg.api import create_app
from dsa110_contimg.pipeline.runner import claim_group
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import Event, GroupState, ObservationGroup


def value(text: str, name: str, labels: str = "") -> float:
    pattern = re.escape(name + (f"{{{labels}}}" if labels else "")) + r" ([0-9.e+-]+)"
    match = re.search(pattern, text)
    assert match, f"{name}{{{labels}}} not in metrics"
    return float(match.group(1))


def test_http_metrics_use_route_templates(read_client: TestClient, template_seed: Seed) -> None:
    for source_id in template_seed.source_ids[:3]:
        read_client.get(f"/api/sources/{source_id}/lightcurve")
    read_client.get("/api/sources/999999/lightcurve")
    text = read_client.get("/metrics").text
    route = 'method="GET",route="/api/sources/{source_id}/lightcurve"'
    assert value(text, "dsa110_http_requests_total", route + ',status="200"') >= 3
    assert value(text, "dsa110_http_requests_total", route + ',status="404"') >= 1
    assert value(text, "dsa110_http_request_duration_seconds_count", route) >= 4
    assert "/api/sources/1/lightcurve" not in text


def test_science_gauges(read_client: TestClient) -> None:
    text = read_client.get("/metrics").text
    assert value(text, "dsa110_db_up") == 1.0
    assert value(text, "dsa110_ms", 'stage="imaged"') == 1
    assert value(text, "dsa110_ms", 'stage="flagged"') == 0
    assert value(text, "dsa110_images") == 3
    assert value(text, "dsa110_sources") == 6
    assert value(text, "dsa110_photometry_rows") == 15
    assert value(text, "dsa110_jobs", 'status="pending"') == 2
    assert value(text, "dsa110_jobs", 'status="running"') == 1
    assert value(text, "dsa110_newest_image_noise_jy") == 0.003
    assert 0 <= value(text, "dsa110_calibration_age_seconds") < 3600


def test_server_timing_header(read_client: TestClient) -> None:
    timing = read_client.get("/api/stats").headers["server-timing"]
    assert timing.startswith("app;dur=") and float(timing.split("=")[1]) >= 0


@pytest.mark.parametrize(("ttl_s", "grows"), [(0.0, True), (60.0, False)])
def test_gauge_ttl_setting(writable_seed: Seed, ttl_s: float, grows: bool) -> None:
    settings = make_settings(writable_seed.root, writable_seed.url, api_gauge_ttl_s=ttl_s)
    with TestClient(create_app(settings), client=LOCAL) as client:
        before = value(client.get("/metrics").text, "dsa110_images")
        add_image(writable_seed.url, 5)
        after = value(client.get("/metrics").text, "dsa110_images")
    assert after == (before + 1 if grows else before)


def db_counts(url: str) -> dict[str, int]:
    """Observation groups by state, counted in the DB itself."""
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as s:
        rows = s.execute(
            sa.select(ObservationGroup.state, sa.func.count()).group_by(ObservationGroup.state)
        ).all()
    engine.dispose()
    return {str(state): n for state, n in rows}


def groups_gauge(text: str) -> dict[str, float]:
    return {
        state.value: value(text, "dsa110_groups", f'state="{state.value}"') for state in GroupState
    }


def heartbeat(url: str, *, delete: bool = False) -> None:
    """Write a worker heartbeat as the daemon would (or delete them all)."""
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as s:
        if delete:
            s.execute(sa.delete(Event).where(Event.topic == "worker"))
        else:
            repo.publish_heartbeat(s, "node2")
    engine.dispose()


def test_group_and_heartbeat_gauges(read_client: TestClient, template_seed: Seed) -> None:
    text = read_client.get("/metrics").text
    in_db = db_counts(template_seed.url)
    assert in_db == {"done": 1, "failed": 1, "complete": 1}
    # Every state is exported, the empty ones as 0.
    assert groups_gauge(text) == {state.value: in_db.get(state.value, 0) for state in GroupState}
    assert 0 <= value(text, "dsa110_worker_heartbeat_age_seconds") < 3600


def test_group_and_heartbeat_gauges_follow_the_db(writable_seed: Seed) -> None:
    settings = make_settings(writable_seed.root, writable_seed.url, api_gauge_ttl_s=0.0)
    with TestClient(create_app(settings), client=LOCAL) as client:
        before = client.get("/metrics").text
        engine = make_engine(writable_seed.url)
        assert claim_group(make_session_factory(engine), writable_seed.groups[2])
        engine.dispose()
        heartbeat(writable_seed.url)
        after = client.get("/metrics").text
        heartbeat(writable_seed.url, delete=True)
        never = client.get("/metrics").text
    assert groups_gauge(after) == {
        **groups_gauge(before),
        "complete": groups_gauge(before)["complete"] - 1,
        "processing": groups_gauge(before)["processing"] + 1,
    }
    assert groups_gauge(after) == {
        s.value: db_counts(writable_seed.url).get(s.value, 0) for s in GroupState
    }
    age = "dsa110_worker_heartbeat_age_seconds"
    assert value(after, age) < value(before, age)
    # No heartbeat ever: the age is absent (not NaN) while the DB answers.
    assert age not in never and value(never, "dsa110_db_up") == 1.0


@pytest.mark.parametrize(("ttl_s", "reread"), [(0.0, True), (60.0, False)])
def test_group_and_heartbeat_gauges_respect_the_ttl(
    writable_seed: Seed, ttl_s: float, reread: bool
) -> None:
    settings = make_settings(writable_seed.root, writable_seed.url, api_gauge_ttl_s=ttl_s)
    age = "dsa110_worker_heartbeat_age_seconds"
    with TestClient(create_app(settings), client=LOCAL) as client:
        before = client.get("/metrics").text
        heartbeat(writable_seed.url, delete=True)
        engine = make_engine(writable_seed.url)
        claim_group(make_session_factory(engine), writable_seed.groups[2])
        engine.dispose()
        after = client.get("/metrics").text
    assert (groups_gauge(after) != groups_gauge(before)) == reread
    assert (age not in after) == reread
    if not reread:  # the cached heartbeat time, but its age computed at each scrape
        assert value(after, age) >= value(before, age)
