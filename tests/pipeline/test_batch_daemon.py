"""The stream daemon executes the API's batches: kill -9 mid-WSClean, restart, cancel.

Real processes throughout, no systemd: the daemon is ``dsa110 stream`` in a
subprocess, and ``wsclean`` on its PATH is a wrapper that logs its pid, notes
any other wrapper or WSClean still alive (two at once), sleeps (the delay is
read from a file, so each phase sets it) and then execs the real WSClean.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from dsa110_contimg.atomic import find_partials
from dsa110_contimg.pipeline.runner import product_folders
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    Event,
    GroupState,
    Image,
    Job,
    JobStatus,
    MeasurementSet,
    ObservationGroup,
    Photometry,
    ProductStatus,
    VariabilityMetrics,
)
from dsa110_contimg.simulate import preset_config, simulate

from .conftest import prepare_root

WRAPPER = """#!/bin/sh
for p in $(cut -d' ' -f1 {log} 2>/dev/null); do
  if [ -r /proc/$p/stat ] && [ "$(cut -d' ' -f3 /proc/$p/stat)" != Z ] \\
     && grep -q wsclean /proc/$p/cmdline 2>/dev/null; then
    echo "$$ $p" >> {overlap}
  fi
done
echo "$$ $(date +%s.%N)" >> {log}
sleep "$(cat {delay})"
exec {real} "$@"
"""


@pytest.fixture
def slow_wsclean(tmp_path: Path, require_tool):
    require_tool("wsclean")
    real = shutil.which("wsclean")
    folder = tmp_path / "bin"
    folder.mkdir()
    paths = {k: tmp_path / f"wsclean.{k}" for k in ("log", "overlap", "delay")}
    paths["delay"].write_text("0")
    script = folder / "wsclean"
    script.write_text(WRAPPER.format(real=real, **paths))
    script.chmod(0o755)
    return folder, paths


def _daemon(root: Path, bin_dir: Path, *extra: str) -> subprocess.Popen:
    env = {
        **os.environ,
        "DSA110_DATA_ROOT": str(root),
        "DSA110_LOG_LEVEL": "WARNING",
        "DSA110_INCOMING_DIR": str(root.parent / "sim" / "incoming"),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        # the disk guard's defaults (100 GB free to take a group) exceed a test machine's disk
        "DSA110_DISK_WARN_FREE_GB": '{"default": 0.2}',
        "DSA110_DISK_STOP_FREE_GB": '{"default": 0.1}',
    }
    cmd = [sys.executable, "-m", "dsa110_contimg.cli", "stream", "--interval", "0.2"]
    cmd += ["--settle", "0", "--tier", "quicklook", *extra]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _pids(log: Path) -> list[int]:
    return [int(line.split()[0]) for line in log.read_text().splitlines()] if log.exists() else []


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None):
    t0 = time.monotonic()
    while True:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"daemon ended while waiting for {what}: {proc.stderr.read()}")
        assert time.monotonic() - t0 < timeout, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_batches_survive_kill_and_cancel(tmp_path: Path, slow_wsclean) -> None:
    bin_dir, paths = slow_wsclean
    sim = tmp_path / "sim"
    simulate(preset_config("test", n_epochs=1, targets_per_epoch=1, n_antennas=10), sim)
    root = tmp_path / "root"
    settings = prepare_root(root, sim)
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)

    # the stream processes the night once
    first = _daemon(root, bin_dir, "--once")
    _, err = first.communicate(timeout=900)
    assert first.returncode == 0, err
    with session_scope(factory) as s:
        groups = s.scalars(sa.select(ObservationGroup)).all()
        assert groups and all(g.state is GroupState.DONE for g in groups), [
            (g.id, g.state, g.error) for g in groups
        ]
        target = s.scalars(
            sa.select(MeasurementSet).join(Image).where(Image.image_type == "image-pb")
        ).first()
        ms_path, ms_id, group_id = target.path, target.id, target.group_id
        old_pb = s.scalars(
            sa.select(Image).where(Image.ms_id == ms_id, Image.image_type == "image-pb")
        ).one()
        old_pb_id, old_pb_path = old_pb.id, old_pb.path
        assert s.scalar(sa.select(sa.func.count()).where(Photometry.image_id == old_pb_id)) > 0
        # a re-image with other parameters, queued through the products layer as the API does
        batch = repo.create_batch(
            s, "reimage", [("ms", ms_path)], params={"niter": 120}, requested_by="astro-1"
        ).run_id
    n_before = len(_pids(paths["log"]))

    # kill -9 the daemon while the batch's WSClean runs
    paths["delay"].write_text("600")
    daemon = _daemon(root, bin_dir)
    try:
        child = _wait(lambda: (_pids(paths["log"])[n_before:] or [None])[0], 120, "wsclean", daemon)
        with session_scope(factory) as s:
            running = _wait(
                lambda: s.scalars(
                    sa.select(Job).where(Job.job_type == "image", Job.child_pgid.is_not(None))
                ).first(),
                10,
                "the pid on the job",
            )
            assert running.child_pgid == child and running.worker_pid == daemon.pid
            assert repo.get_job(s, batch).status is JobStatus.RUNNING
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=30)
        t0 = time.monotonic()
        _wait(lambda: not _alive(child), 5.0, "the orphan WSClean to die")
        print(f"orphan gone {time.monotonic() - t0:.2f} s after the SIGKILL")
    finally:
        if daemon.poll() is None:
            daemon.kill()

    # restart: the batch is requeued with the reason, then resumed; one WSClean at a time
    paths["delay"].write_text("1")
    again = _daemon(root, bin_dir, "--once")
    _, err = again.communicate(timeout=900)
    assert again.returncode == 0, err
    assert not paths["overlap"].exists(), paths["overlap"].read_text()
    assert not find_partials(product_folders(settings))
    with session_scope(factory) as s:
        done = repo.get_job(s, batch)
        assert done.status is JobStatus.SUCCEEDED, (done.error, [i.error for i in done.items])
        assert done.attempt == 2 and done.requested_by == "astro-1"
        events = s.scalars(
            sa.select(Event).where(Event.topic == f"job:{batch}").order_by(Event.id)
        ).all()
        assert any(e.kind == "requeued" and "interrupted" in e.payload["error"] for e in events)
        # what the WebSocket topic job:<run_id> carries: start, progress per item, the end
        kinds = [e.kind for e in events]
        assert {"started", "progress", "finished"} <= set(kinds)
        assert events[-1].kind == "finished" and events[-1].payload["status"] == "succeeded"
        # the old image is superseded, not overwritten; the new version has the parameters
        old = s.get(Image, old_pb_id)
        assert old.status is ProductStatus.SUPERSEDED and Path(old_pb_path).exists()
        new = s.scalars(
            sa.select(Image).where(
                Image.ms_id == ms_id,
                Image.image_type == "image-pb",
                Image.status == ProductStatus.OK,
            )
        ).one()
        assert new.version > old.version and new.path != old.path
        assert any(" -niter 120 " in Path(p).read_text() for p in _wsclean_logs(new.path))
        # the light curves follow: no measurement of the superseded image, the new one measured
        assert s.scalar(sa.select(sa.func.count()).where(Photometry.image_id == old_pb_id)) == 0
        n_new = s.scalar(sa.select(sa.func.count()).where(Photometry.image_id == new.id))
        assert n_new > 0
        # and the metrics count only the measurements still in the light curves
        for m in s.scalars(sa.select(VariabilityMetrics)):
            n = s.scalar(sa.select(sa.func.count()).where(Photometry.source_id == m.source_id))
            assert m.n_epochs == n
        assert s.get(ObservationGroup, group_id).state is GroupState.DONE

    # through the API (a key, real HTTP): re-image, follow the job, cancel it while WSClean runs
    paths["delay"].write_text("600")
    port = _free_port()
    server = _serve(root, port)
    daemon = None
    try:
        api = f"http://127.0.0.1:{port}/api"
        _wait(lambda: _healthy(api), 60, "the API", server)
        key = {"X-API-Key": API_KEY}
        posted = httpx.post(
            f"{api}/batch/reimage",
            json={"ms_paths": [ms_path], "params": {"niter": 60}},
            headers=key,
        )
        assert posted.status_code == 202, posted.text
        batch2 = posted.json()["run_id"]
        assert httpx.get(f"{api}/jobs/{batch2}").json()["status"] == "pending"
        n_before = len(_pids(paths["log"]))
        daemon = _daemon(root, bin_dir)
        child = _wait(lambda: (_pids(paths["log"])[n_before:] or [None])[0], 120, "wsclean", daemon)
        assert httpx.get(f"{api}/jobs/{batch2}").json()["status"] == "running"
        cancelled = httpx.post(f"{api}/batch/cancel", json={"run_ids": [batch2]}, headers=key)
        assert cancelled.status_code == 202, cancelled.text
        t0 = time.monotonic()
        _wait(lambda: not _alive(child), 10.0, "the cancelled WSClean to stop")
        stopped_s = time.monotonic() - t0
        _wait(
            lambda: httpx.get(f"{api}/jobs/{batch2}").json()["status"] == "cancelled",
            20,
            "the batch cancelled",
        )
        ended = httpx.get(f"{api}/jobs/{batch2}").json()
        with session_scope(factory) as s:
            who = repo.get_job(s, cancelled.json()["run_id"]).requested_by
            assert who and ended["error"] == f"cancelled by {who}"
            image_job = s.scalars(
                sa.select(Job).where(Job.job_type == "image").order_by(Job.id.desc())
            ).first()
            assert image_job.status is JobStatus.CANCELLED and image_job.child_pgid is None
            assert f"cancelled by {who}" in image_job.error
        _wait(
            lambda: (
                httpx.get(f"{api}/jobs/{cancelled.json()['run_id']}").json()["status"]
                == "succeeded"
            ),
            10,
            "the cancel batch done",
        )
        print(f"cancelled WSClean gone {stopped_s:.2f} s after the request")
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    finally:
        for proc in (daemon, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not paths["overlap"].exists(), paths["overlap"].read_text()
    engine.dispose()


API_KEY = "daemon-test-key-0123456789"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(root: Path, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DSA110_DATA_ROOT": str(root),
        "DSA110_API_PORT": str(port),
        "DSA110_API_KEYS": API_KEY,
        "DSA110_LOG_LEVEL": "WARNING",
    }
    cmd = [sys.executable, "-m", "dsa110_contimg.cli", "serve"]
    return subprocess.Popen(
        cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )


def _healthy(api: str) -> bool:
    try:
        return httpx.get(f"{api}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wsclean_logs(image_path: str) -> list[Path]:
    return list(Path(image_path).parent.rglob("*.wsclean.log"))
