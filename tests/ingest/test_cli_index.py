"""``dsa110 index``: one indexing pass with a printed summary."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from dsa110_contimg.cli import main


def test_index_needs_an_upgraded_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSA110_DB_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    result = CliRunner().invoke(main, ["index", str(tmp_path)])
    assert result.exit_code == 3, result.output
    assert "upgrade" in result.output
    assert "Traceback" not in result.output


def test_index_prints_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim_stream: tuple[Path, dict]
) -> None:
    source, truth = sim_stream
    monkeypatch.setenv("DSA110_DATA_ROOT", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    incoming = tmp_path / "data" / "incoming"
    for g in truth["groups"][2:]:
        for name in g["files"]:
            if (source / name).exists():
                shutil.copy2(source / name, incoming / name)

    result = runner.invoke(main, ["index", "--wait", "0", "--policy", "fail"])
    assert result.exit_code == 0, result.output
    damaged = truth["groups"][3]["group_id"]
    assert f"indexed 29 file(s) from {incoming}" in result.output
    assert "quarantined 2 file(s):" in result.output
    assert f"\n  {damaged}_sb07.hdf5: truncated" in result.output
    assert f"\n  {damaged}_sb09.hdf5: not an HDF5 file" in result.output
    assert f"groups now failed: {damaged}" in result.output
    assert "groups in the DB: complete 1, failed 1" in result.output

    again = runner.invoke(main, ["index", str(incoming)])
    assert again.exit_code == 0, again.output
    assert "indexed 0 file(s)" in again.output and "(29 already indexed)" in again.output


def test_index_of_a_missing_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DSA110_DATA_ROOT", str(tmp_path / "data"))
    runner = CliRunner()
    assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
    result = runner.invoke(main, ["index", str(tmp_path / "nowhere")])
    assert result.exit_code == 4
    assert "does not exist" in result.output


def test_index_watch_stops_on_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim_stream: tuple[Path, dict]
) -> None:
    """`dsa110 index --watch` as systemd runs it: reports as files come, stops on SIGTERM."""
    source, truth = sim_stream
    monkeypatch.setenv("DSA110_DATA_ROOT", str(tmp_path / "data"))
    assert CliRunner().invoke(main, ["db", "upgrade"]).exit_code == 0
    incoming = tmp_path / "data" / "incoming"
    for name in truth["groups"][0]["files"]:
        shutil.copy2(source / name, incoming / name)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dsa110_contimg.cli", "index", "--watch", "0.1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=dict(os.environ),
    )
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True)
    reader.start()
    try:
        seen = []
        while not any("1 complete" in line for line in seen):
            seen.append(lines.get(timeout=60))  # queue.Empty fails the test, never hangs
        assert any("16 indexed" in line and "1 complete" in line for line in seen), seen
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
