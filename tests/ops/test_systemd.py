"""The systemd units: each ExecStart is a real ``dsa110`` command, the settings file
validates, hardening and stop behaviour are there, and ``systemd-analyze verify`` passes."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
import pytest
from api_support import free_port, wait_for_health
from click.testing import CliRunner
from ops_support import DEPLOY, read_unit, unit_values

from dsa110_contimg.cli import main
from dsa110_contimg.config import load_settings

UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
ENV_FILE = DEPLOY / "systemd" / "dsa110.env"
#: Where the units expect the installed command (README, "Deployment").
INSTALLED = "/opt/dsa110/.venv/bin/dsa110"


def _commands(unit: dict) -> list[list[str]]:
    """The argument lists of every ExecStart/ExecStartPre/ExecStop... of a unit."""
    lines = [v for k, v in unit["Service"] if k.startswith("Exec")]
    return [shlex.split(line.lstrip("-@+!:")) for line in lines]


def _parse(args: list[str]) -> click.Context:
    """Resolve ``args`` down to a ``dsa110`` command and parse its options (no run)."""
    command: click.Command = main
    name, parent = "dsa110", None
    while True:
        ctx = command.make_context(name, list(args), parent=parent)
        if not isinstance(command, click.Group):
            return ctx
        protected = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
        name, found, args = command.resolve_command(ctx, [*protected, *ctx.args])
        assert name is not None and found is not None, args
        command, parent = found, ctx


def _env_file(path: Path, *, examples: bool = False) -> dict[str, str]:
    """``KEY=VALUE`` lines; with ``examples``, also the commented ``# DSA110_...=`` ones."""
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if examples and re.match(r"# DSA110_\w+=[^<]*$", line):
            line = line[2:]
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def test_there_is_a_unit_for_the_api_and_the_daemon() -> None:
    assert [u.name for u in UNITS] == ["dsa110-api.service", "dsa110-stream.service"]


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_every_exec_line_is_a_dsa110_command_with_real_options(path: Path) -> None:
    for args in _commands(read_unit(path)):
        assert args[0] == INSTALLED
        ctx = _parse(args[1:])  # unknown options, bad values, extra arguments raise
        result = CliRunner().invoke(main, [*args[1:], "--help"])
        assert result.exit_code == 0, result.output
        assert ctx.command.name in result.output.split("\n")[0]


def test_the_api_listens_on_loopback_port_8000_behind_nginx() -> None:
    (serve,) = [c for c in _commands(read_unit(DEPLOY / "systemd" / "dsa110-api.service"))]
    params = _parse(serve[1:]).params
    assert (params["host"], params["port"], params["workers"]) == ("127.0.0.1", 8000, 1)
    nginx = (DEPLOY / "nginx" / "dsa110.conf").read_text()
    assert "server 127.0.0.1:8000;" in nginx


@pytest.mark.parametrize("path", UNITS, ids=lambda p: p.name)
def test_units_run_hardened_as_their_own_user_with_settings_from_the_env_file(
    path: Path,
) -> None:
    unit = read_unit(path)
    service = dict(unit["Service"])
    assert service["User"] == service["Group"] == "dsa110"
    assert unit_values(unit, "Service", "EnvironmentFile") == ["/etc/dsa110/dsa110.env"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "CapabilityBoundingSet": "",
        "Restart": "on-failure",
    }.items():
        assert service.get(key) == value, key
    # The data root is the one writable place (besides the unit's own state/cache dirs).
    data_root = _env_file(ENV_FILE)["DSA110_DATA_ROOT"]
    assert unit_values(unit, "Service", "ReadWritePaths") == [data_root]
    # No secrets in units: settings come from the env file only.
    for value in unit_values(unit, "Service", "Environment"):
        assert "DSA110_" not in value
    after = " ".join(unit_values(unit, "Unit", "After")).split()
    assert {"network-online.target", "postgresql.service"} <= set(after)
    assert unit_values(unit, "Install", "WantedBy") == ["multi-user.target"]


def test_the_daemon_stops_between_stages() -> None:
    unit = read_unit(DEPLOY / "systemd" / "dsa110-stream.service")
    service = dict(unit["Service"])
    # SIGTERM to the daemon alone (not to WSClean), then time for a stage to finish.
    assert service["KillMode"] == "mixed"
    assert service["KillSignal"] == "SIGTERM"
    assert service["TimeoutStopSec"] == "20min"


def test_the_env_file_validates_and_holds_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for examples in (False, True):  # the settings given, then also the commented examples
        values = _env_file(ENV_FILE, examples=examples)
        assert all(key.startswith("DSA110_") for key in values)
        with monkeypatch.context() as env:
            for key, value in values.items():
                env.setenv(key, value)
            settings = load_settings()  # as the services read it, from the environment
        assert settings.data_root == Path("/data/dsa110")
        assert len(values) >= (8 if examples else 4)
    active = _env_file(ENV_FILE)
    assert "DSA110_API_KEYS" not in active and "DSA110_REDIS_URL" not in active
    assert not re.search(r"://[^/@\s]*:[^/@\s]*@", ENV_FILE.read_text())  # no URL password


def _as_systemd_runs(path: Path, tmp_path: Path) -> tuple[list[list[str]], dict[str, str]]:
    """A unit's Exec commands and environment as systemd would give them, moved to ``tmp_path``.

    The environment is systemd's minimal one plus the env file and the unit's
    ``Environment=``; only the data root and the unit's state/cache dirs are
    moved into ``tmp_path``, and the command is this virtualenv's ``dsa110``.
    """
    unit = read_unit(path)
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "ASTROPY_IERS_AUTO_DOWNLOAD": "0",  # tests never reach for the network
        **_env_file(ENV_FILE),
    }
    moved = {
        "/var/lib/dsa110": str(tmp_path / "state"),
        "/var/cache/dsa110": str(tmp_path / "cache"),
    }
    for assignments in unit_values(unit, "Service", "Environment"):
        for assignment in shlex.split(assignments):
            key, _, value = assignment.partition("=")
            for old, new in moved.items():
                value = value.replace(old, new)
            env[key] = value
    env["DSA110_DATA_ROOT"] = str(tmp_path / "data")
    (tmp_path / "data").mkdir()  # the one folder the README has the operator create
    here = str(Path(sys.executable).with_name("dsa110"))
    commands = [[here if a == INSTALLED else a for a in args] for args in _commands(unit)]
    return commands, env


def _catches_sigterm(pid: int) -> bool:
    """Whether process ``pid`` has its own SIGTERM handler yet (Linux ``SigCgt`` mask)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    return False


def _stop_seconds(process: subprocess.Popen) -> float:
    """SIGTERM, as ``systemctl stop`` sends it; seconds until the process exited cleanly.

    Clean for systemd: exit code 0, or death by the SIGTERM itself (uvicorn
    re-raises it after its graceful shutdown).
    """
    start = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    return time.monotonic() - start


def test_the_daemon_starts_as_systemd_runs_it_and_stops_on_sigterm(tmp_path: Path) -> None:
    (upgrade, stream), env = _as_systemd_runs(
        DEPLOY / "systemd" / "dsa110-stream.service", tmp_path
    )
    subprocess.run(upgrade, env=env, check=True, capture_output=True, timeout=120)
    process = subprocess.Popen(stream, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _catches_sigterm(process.pid):
            assert process.poll() is None and time.monotonic() < deadline, process.stdout
            time.sleep(0.1)
        assert _stop_seconds(process) < 10  # idle: no stage to finish
        assert process.returncode == 0
    finally:
        if process.poll() is None:
            process.kill()
    output = process.communicate()[0].decode()
    assert "stream stopped; 0 groups done" in output


def test_the_api_starts_as_systemd_runs_it_and_stops_on_sigterm(tmp_path: Path) -> None:
    (serve,), env = _as_systemd_runs(DEPLOY / "systemd" / "dsa110-api.service", tmp_path)
    port = free_port()  # not 8000: this machine may be serving there
    serve[serve.index("--port") + 1] = str(port)
    log = tmp_path / "api.log"
    with log.open("wb") as output:
        process = subprocess.Popen(serve, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        health = wait_for_health(port, process)
        assert health.status_code == 200, log.read_text()
        timeout = dict(read_unit(DEPLOY / "systemd" / "dsa110-api.service")["Service"])
        assert _stop_seconds(process) < int(timeout["TimeoutStopSec"])
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.requires("systemd-analyze")
def test_systemd_analyze_verify_accepts_the_units(tmp_path: Path) -> None:
    # The units name the installed command; point them at this virtualenv's.
    here = str(Path(sys.executable).with_name("dsa110"))
    for unit in UNITS:
        (tmp_path / unit.name).write_text(unit.read_text().replace(INSTALLED, here))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *sorted(map(str, tmp_path.iterdir()))],
        capture_output=True,
        text=True,
        env={**os.environ, "SYSTEMD_LOG_TARGET": "console", "SYSTEMD_LOG_LEVEL": "warning"},
        cwd=tmp_path,
        timeout=60,
    )
    # Unknown keys and unparsable values are warnings that still exit 0.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )
