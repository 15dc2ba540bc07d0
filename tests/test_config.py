"""Settings from defaults, environment and TOML, with secrets masked."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from dsa110_contimg.config import load_settings
from dsa110_contimg.errors import ConfigError

KEY = "k3y-that-is-long-enough"


def test_defaults_live_under_the_data_root(tmp_path: Path) -> None:
    s = load_settings()
    root = tmp_path / "data"
    assert s.data_root == root
    assert s.ms_dir == root / "ms"
    assert s.quarantine_dir == root / "quarantine"
    assert s.db_url == f"sqlite:///{root / 'state' / 'products.sqlite3'}"
    assert (s.api_host, s.api_port, s.workers) == ("127.0.0.1", 8000, 2)
    assert s.api_keys == [] and s.redis_url is None


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DSA110_ALLOWED_IPS", "203.0.113.0/24, 198.51.100.7")
    monkeypatch.setenv("DSA110_API_KEYS", KEY)
    monkeypatch.setenv("DSA110_WORKERS", "8")
    monkeypatch.setenv("DSA110_IMAGES_DIR", "/srv/images")
    s = load_settings()
    assert s.allowed_ips == [
        ipaddress.ip_network("203.0.113.0/24"),
        ipaddress.ip_network("198.51.100.7/32"),
    ]
    assert ipaddress.ip_network("127.0.0.0/8") in s.allowed_networks
    assert ipaddress.ip_network("203.0.113.0/24") in s.allowed_networks
    assert s.api_keys[0].get_secret_value() == KEY
    assert s.workers == 8
    assert s.images_dir == Path("/srv/images")


def test_toml_file_and_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "dsa110.toml"
    cfg.write_text(
        f'data_root = "{tmp_path / "root"}"\nworkers = 4\napi_port = 9000\n'
        'allowed_ips = ["192.0.2.0/24"]\n'
    )
    monkeypatch.delenv("DSA110_DATA_ROOT")
    monkeypatch.setenv("DSA110_API_PORT", "9100")  # the environment wins over the file
    s = load_settings(cfg)
    assert s.data_root == tmp_path / "root"
    assert s.workers == 4
    assert s.api_port == 9100
    assert s.allowed_ips == [ipaddress.ip_network("192.0.2.0/24")]
    assert load_settings(cfg, workers=1).workers == 1  # explicit overrides win over all


def test_masked_hides_every_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSA110_API_KEYS", f"{KEY},{KEY}2")
    monkeypatch.setenv("DSA110_DB_URL", "postgresql://pipe:hunter2@db.local/products")
    monkeypatch.setenv("DSA110_REDIS_URL", "redis://:s3cret@localhost:6379/0")
    masked = load_settings().masked()
    text = repr(masked)
    for secret in (KEY, "hunter2", "s3cret"):
        assert secret not in text
    assert masked["api_keys"] == ["***", "***"]
    assert "pipe" in masked["db_url"] and "db.local" in masked["db_url"]


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("DSA110_WORKERS", "0"),
        ("DSA110_API_PORT", "70000"),
        ("DSA110_ALLOWED_IPS", "not-a-network"),
        ("DSA110_API_KEYS", "short"),
        ("DSA110_LOG_LEVEL", "LOUD"),
        ("DSA110_API_CACHE_TTL_S", "-1"),
        ("DSA110_API_CACHE_MAX_BYTES", "0"),
        ("DSA110_API_GRAPHQL_MAX_COST", "0"),
        ("DSA110_API_EVENT_POLL_S", "0"),
        ("DSA110_API_MAX_BODY_BYTES", "10"),
        ("DSA110_API_CACHE_CHECK_S", "nan"),
    ],
)
def test_bad_values_are_config_errors(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match="invalid settings"):
        load_settings()


def test_unknown_key_in_file_and_missing_file(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text("wrokers = 3\n")
    with pytest.raises(ConfigError, match="wrokers"):
        load_settings(cfg)
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml")


def test_api_tunables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    s = load_settings()
    assert (s.api_cache_ttl_s, s.api_cache_max_bytes, s.api_cors_origins) == (30.0, 64 << 20, [])
    monkeypatch.setenv("DSA110_API_CACHE_TTL_S", "0")
    monkeypatch.setenv("DSA110_API_CORS_ORIGINS", "https://dash.example, https://ops.example")
    cfg = tmp_path / "api.toml"
    cfg.write_text("api_cache_ttl_s = 120.0\napi_gauge_ttl_s = 1.5\n")
    s = load_settings(cfg)
    assert s.api_cache_ttl_s == 0.0  # the environment wins over the file
    assert s.api_gauge_ttl_s == 1.5
    assert s.api_cors_origins == ["https://dash.example", "https://ops.example"]
    assert s.masked()["api_cors_origins"] == s.api_cors_origins
    for name, field in type(s).model_fields.items():
        if name.startswith("api_") and name not in {"api_host", "api_port", "api_keys"}:
            assert field.description, f"{name} needs a description"
