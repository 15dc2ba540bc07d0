"""Prometheus and Grafana files: every metric their PromQL selects is one the real API
exports, with the labels it is selected by; the rules and config pass promtool if present."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml
from api_support import LiveServer
from ops_support import DEPLOY, selectors
from prometheus_client.parser import text_string_to_metric_families

PROMETHEUS = DEPLOY / "prometheus"
GRAFANA = DEPLOY / "grafana"
RULES = PROMETHEUS / "dsa110-alerts.yml"
DASHBOARD = GRAFANA / "dashboards" / "dsa110-pipeline.json"
#: Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}


def _scrape_config() -> dict:
    return yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())


def _job_names() -> set[str]:
    return {job["job_name"] for job in _scrape_config()["scrape_configs"]}


def _rules() -> list[dict]:
    return [
        rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]
    ]


def _panels(dashboard: dict) -> list[dict]:
    return [p for p in dashboard["panels"] if p["type"] != "row"]


def _dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in _panels(dashboard) for target in panel["targets"]]


def _exported(scrape: str) -> dict[str, set[str]]:
    """Sample names of a scrape (``_total``, ``_bucket``... included) and their label names."""
    names: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(scrape):
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def _unknown(exprs: list[str], exported: dict[str, set[str]]) -> list[str]:
    """What the expressions select that the scrape lacks: a metric, or a label of one."""
    # `up` is Prometheus' own, one per target of a scrape job.
    known = {**exported, "up": set()}
    problems = []
    for expr in exprs:
        found = selectors(expr)
        assert found, f"no metric in {expr!r}"
        for name, labels in found:
            if name not in known:
                problems.append(f"{name} (in {expr!r})")
            elif missing := labels - known[name] - TARGET_LABELS:
                problems.append(f"{name} has no label {sorted(missing)} (in {expr!r})")
    return problems


@pytest.fixture(scope="module")
def exported(live_api: LiveServer) -> dict[str, set[str]]:
    """The metric names of the real app's /metrics over the seeded DB, after some traffic."""
    for path in ("/api/health", "/api/images", "/api/images/999999"):
        httpx.get(f"{live_api.url}{path}")
    response = httpx.get(f"{live_api.url}/metrics")
    assert response.status_code == 200
    return _exported(response.text)


def test_the_scrape_has_the_scientific_gauges(exported: dict[str, set[str]]) -> None:
    for name in (
        "dsa110_db_up",
        "dsa110_ms",
        "dsa110_jobs",
        "dsa110_images",
        "dsa110_newest_image_noise_jy",
        "dsa110_calibration_age_seconds",
        "dsa110_groups",
        "dsa110_worker_heartbeat_age_seconds",
        "dsa110_http_requests_total",
        "dsa110_http_request_duration_seconds_bucket",
    ):
        assert name in exported, name


def test_the_scrape_has_the_disk_gauges_per_data_folder(exported: dict[str, set[str]]) -> None:
    for name in (
        "dsa110_disk_free_bytes",
        "dsa110_disk_warn_bytes",
        "dsa110_disk_stop_bytes",
        "dsa110_disk_level",
    ):
        assert exported.get(name) == {"folder"}, name


def test_alert_rules_select_only_exported_metrics(exported: dict[str, set[str]]) -> None:
    exprs = [rule["expr"] for rule in _rules()]
    assert _unknown(exprs, exported) == []


def test_dashboard_selects_only_exported_metrics(exported: dict[str, set[str]]) -> None:
    assert _unknown(_dashboard_exprs(), exported) == []


def test_a_misspelled_name_or_label_is_caught(exported: dict[str, set[str]]) -> None:
    assert _unknown(["delta(dsa110_image[1h]) > 0"], exported) == [
        "dsa110_image (in 'delta(dsa110_image[1h]) > 0')"
    ]
    assert _unknown(['dsa110_ms{state="imaged"}'], exported) == [
        "dsa110_ms has no label ['state'] (in 'dsa110_ms{state=\"imaged\"}')"
    ]
    assert _unknown(["rate(dsa110_http_requests[5m])"], exported)  # the counter is *_total


def test_rules_cover_the_promised_alerts_and_are_complete() -> None:
    rules = {rule["alert"]: rule for rule in _rules()}
    for name in (
        "DSA110ApiDown",
        "DSA110ApiErrors",
        "DSA110PipelineStalled",
        "DSA110DaemonDown",
        "DSA110JobsFailing",
        "DSA110CalibrationTooOld",
        "DSA110DiskLow",
        "DSA110DiskFull",
    ):
        assert name in rules, name
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert rule["annotations"]["summary"] and rule["for"]
    # The job the rules and the dashboard watch is the one the scrape config defines.
    watched = {
        job
        for expr in [r["expr"] for r in _rules()] + _dashboard_exprs()
        for job in re.findall(r'job\s*=\s*"([^"]*)"', expr)
    }
    assert watched and watched <= _job_names()
    assert _scrape_config()["rule_files"] == [f"/etc/prometheus/rules/{RULES.name}"]


def test_dashboard_panels_use_the_provisioned_datasource() -> None:
    datasources = yaml.safe_load(
        (GRAFANA / "provisioning" / "datasources" / "dsa110.yaml").read_text()
    )
    (uid,) = [ds["uid"] for ds in datasources["datasources"]]
    dashboard = json.loads(DASHBOARD.read_text())
    panels = _panels(dashboard)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    for panel in panels:
        assert panel["datasource"]["uid"] == uid
        assert all(t["datasource"]["uid"] == uid for t in panel["targets"])
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in (
        "throughput",
        "jobs by status",
        "groups by state",
        "heartbeat age",
        "noise",
        "calibration age",
        "latency",
        "error",
    ):
        assert topic in titles, topic
    providers = yaml.safe_load(
        (GRAFANA / "provisioning" / "dashboards" / "dsa110.yaml").read_text()
    )
    assert providers["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards/dsa110"


needs_promtool = pytest.mark.requires("promtool")


@needs_promtool
def test_promtool_accepts_the_rules_and_config(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool is not None
    rules = subprocess.run([promtool, "check", "rules", str(RULES)], capture_output=True, text=True)
    assert rules.returncode == 0, rules.stdout + rules.stderr
    # The config names the installed rule file; check it against the one here.
    shutil.copy(RULES, tmp_path / RULES.name)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        (PROMETHEUS / "prometheus.yml").read_text().replace("/etc/prometheus/rules", str(tmp_path))
    )
    checked = subprocess.run(
        [promtool, "check", "config", str(config)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


@needs_promtool
def test_alerts_fire_when_they_should_on_synthetic_series() -> None:
    tests = Path(__file__).parent / "promtool" / "dsa110-alerts.test.yml"
    result = subprocess.run(
        [shutil.which("promtool") or "promtool", "test", "rules", tests.name],
        capture_output=True,
        text=True,
        cwd=tests.parent,
    )
    assert result.returncode == 0, result.stdout + result.stderr
