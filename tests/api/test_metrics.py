"""Prometheus metrics: HTTP counts per route template and scientific gauges from the DB."""

from __future__ import annotations

import re

import pytest
from api_support import LOCAL, Seed, make_settings
from fastapi.testclient import TestClient
from test_cache import add_image

from dsa110_contimg.api import create_app


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
