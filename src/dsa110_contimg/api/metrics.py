"""Prometheus metrics: HTTP traffic per route template and live scientific gauges.

Each app has its own registry (several apps may live in one process, e.g. in
tests). The scientific gauges are read from the products DB when Prometheus
scrapes, at most every ``api_gauge_ttl_s`` seconds (a setting).

Ages (``dsa110_calibration_age_seconds``, ``dsa110_worker_heartbeat_age_seconds``)
are computed at each scrape from the cached time, so they keep growing between
reads. An age whose event never happened (no valid calibration table, no worker
heartbeat yet) is absent from the scrape, not NaN: alert on it with
``absent(...)`` or ``dsa110_db_up == 1 unless on() ...`` (deploy/prometheus).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dsa110_contimg.config import Settings
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    GroupState,
    JobStatus,
    MSStage,
    utcnow,
)

_BUCKETS = (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class HttpMetrics:
    """Request counts and latencies, labelled by method, route template and status."""

    def __init__(self, registry: CollectorRegistry):
        self.requests = Counter(
            "dsa110_http_requests",
            "HTTP requests handled",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "dsa110_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=registry,
        )


class MetricsMiddleware:
    """Time every HTTP request and count it under its route template (never the raw path).

    The time to the response headers is also sent back as ``Server-Timing: app;dur=<ms>``.
    """

    def __init__(self, app: ASGIApp, metrics: HttpMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Server-Timing lets clients (and the load benchmark) tell server time from network.
                elapsed_ms = (time.perf_counter() - start) * 1000
                headers = list(message.get("headers", []))
                headers.append((b"server-timing", f"app;dur={elapsed_ms:.2f}".encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - start)


class ScienceCollector(Collector):
    """Gauges of the pipeline's products, read from the DB at scrape time."""

    def __init__(self, sessions: sessionmaker[Session], ttl_s: float):
        self.sessions, self.ttl_s = sessions, ttl_s
        self._values: dict[str, Any] | None = None
        self._read_at = float("-inf")
        self._lock = threading.Lock()

    def _read(self) -> dict[str, Any] | None:
        with self._lock:
            if time.monotonic() - self._read_at >= self.ttl_s:
                try:
                    with self.sessions() as session:
                        self._values = repo.science_gauges(session)
                except Exception:
                    self._values = None
                self._read_at = time.monotonic()
            return self._values

    def collect(self) -> Iterator[GaugeMetricFamily]:
        values = self._read()
        yield GaugeMetricFamily(
            "dsa110_db_up", "Whether the products DB answered", value=float(values is not None)
        )
        if values is None:
            return
        ms = GaugeMetricFamily("dsa110_ms", "Measurement Sets by stage", labels=["stage"])
        for stage in MSStage:
            ms.add_metric([stage.value], values["ms_by_stage"].get(stage.value, 0))
        yield ms
        groups = GaugeMetricFamily("dsa110_groups", "Observation groups by state", labels=["state"])
        for state in GroupState:
            groups.add_metric([state.value], values["groups_by_state"].get(state.value, 0))
        yield groups
        jobs = GaugeMetricFamily("dsa110_jobs", "Jobs by status", labels=["status"])
        for status in JobStatus:
            jobs.add_metric([status.value], values["jobs_by_status"].get(status.value, 0))
        yield jobs
        for name, key, text in (
            ("dsa110_images", "images", "Images registered"),
            ("dsa110_sources", "sources", "Sources registered"),
            ("dsa110_photometry_rows", "photometry_rows", "Photometry measurements"),
        ):
            yield GaugeMetricFamily(name, text, value=values[key])
        noise = values["newest_image_noise_jy"]
        if noise is not None:
            yield GaugeMetricFamily(
                "dsa110_newest_image_noise_jy", "Noise of the newest image (Jy)", value=noise
            )
        cal_time = values["newest_valid_cal_created_at"]
        if cal_time is not None:
            age = (utcnow() - cal_time).total_seconds()
            yield GaugeMetricFamily(
                "dsa110_calibration_age_seconds",
                "Age of the newest valid calibration table",
                value=age,
            )
        beat_time = values["newest_heartbeat_at"]
        if beat_time is not None:
            yield GaugeMetricFamily(
                "dsa110_worker_heartbeat_age_seconds",
                "Age of the newest worker (stream daemon) heartbeat",
                value=(utcnow() - beat_time).total_seconds(),
            )


class DiskCollector(Collector):
    """Free space of each data folder and its level against the disk guard's thresholds.

    ``dsa110_disk_free_bytes{folder}``, ``dsa110_disk_warn_bytes{folder}``,
    ``dsa110_disk_stop_bytes{folder}`` and ``dsa110_disk_level{folder}`` (0 ok,
    1 below warn, 2 below stop: the stream daemon takes no new group), read at
    each scrape (a ``statvfs`` per folder).
    """

    def __init__(self, settings: Settings):
        self.settings = settings

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from dsa110_contimg.retention.disk import folder_space

        try:
            spaces = folder_space(self.settings)
        except OSError:
            return
        families = {
            "free": GaugeMetricFamily(
                "dsa110_disk_free_bytes", "Free space of a data folder's disk", labels=["folder"]
            ),
            "warn": GaugeMetricFamily(
                "dsa110_disk_warn_bytes", "Free space below which it is low", labels=["folder"]
            ),
            "stop": GaugeMetricFamily(
                "dsa110_disk_stop_bytes",
                "Free space below which no new group is taken",
                labels=["folder"],
            ),
            "level": GaugeMetricFamily(
                "dsa110_disk_level",
                "Disk level of a data folder: 0 ok, 1 below warn, 2 below stop (ingest paused)",
                labels=["folder"],
            ),
        }
        for space in spaces:
            families["free"].add_metric([space.folder], space.free_bytes)
            families["warn"].add_metric([space.folder], space.warn_bytes)
            families["stop"].add_metric([space.folder], space.stop_bytes)
            families["level"].add_metric([space.folder], int(space.level))
        yield from families.values()


def make_registry(
    sessions: sessionmaker[Session], *, gauge_ttl_s: float, settings: Settings | None = None
) -> tuple[CollectorRegistry, HttpMetrics]:
    """A registry with the HTTP metrics and the scientific gauges (re-read every ``gauge_ttl_s``).

    With ``settings``, the disk gauges of the data folders too (:class:`DiskCollector`).
    """
    registry = CollectorRegistry()
    http = HttpMetrics(registry)
    registry.register(ScienceCollector(sessions, gauge_ttl_s))
    if settings is not None:
        registry.register(DiskCollector(settings))
    return registry, http
