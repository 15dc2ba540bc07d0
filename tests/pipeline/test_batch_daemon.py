"""The stream daemon executes the API's batches: kill -9 mid-WSClean, restart, cancel, re-image.

Through the API (a key, real HTTP): a re-image is cancelled while its WSClean
runs, and another runs to success while a WebSocket client on ``/api/ws``
sees the batch's progress and the new image announced.

Real processes throughout, no systemd: the daemon is ``dsa110 stream`` in a
subprocess, and ``wsclean`` on its PATH is a wrapper that logs its pid, notes
any other wrapper or WSClean still alive (two at once), sleeps (the delay is
read from a file, so each phase sets it) and then execs the real WSClean.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from websockets.sync.client import connect as ws_connect

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

from .conftest import n_transits, prepare_root

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
        # the disk guard's defaults (20 GB free to take a group, 200 GB or the disk is
        # "low") would hold or warn on a small test machine's disk
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
            assert m.n_epochs == n_transits(s, m.source_id)
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

        # a re-image posted through the API runs to success; a WebSocket client follows it
        paths["delay"].write_text("0")
        daemon = _reimage_followed_live(api, port, key, root, bin_dir, ms_path, factory)
    finally:
        for proc in (daemon, server):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not paths["overlap"].exists(), paths["overlap"].read_text()
    engine.dispose()


def _reimage_followed_live(
    api: str, port: int, key: dict, root: Path, bin_dir: Path, ms_path: str, factory
) -> subprocess.Popen:
    """POST a re-image, watch ``/api/ws`` while a daemon runs it, check the new image version.

    Returns the daemon process (ended) for the caller's clean-up.
    """
    with session_scope(factory) as s:
        ms_id = repo.get_ms(s, ms_path).id
        earlier = {
            i.id: i.version
            for i in s.scalars(
                sa.select(Image).where(Image.ms_id == ms_id, Image.image_type == "image-pb")
            )
        }
    posted = httpx.post(
        f"{api}/batch/reimage", json={"ms_paths": [ms_path], "params": {"niter": 80}}, headers=key
    )
    assert posted.status_code == 202, posted.text
    batch = posted.json()["run_id"]
    topic = f"job:{batch}"
    ws_url = f"ws://127.0.0.1:{port}/api/ws?topics={topic},image"
    messages: list[dict] = []
    with ws_connect(ws_url, open_timeout=10) as ws:
        hello = json.loads(ws.recv(timeout=10))
        assert hello["type"] == "subscribed", hello
        daemon = _daemon(root, bin_dir, "--once")
        ended: list[tuple[str, str]] = []
        reader = threading.Thread(target=lambda: ended.append(daemon.communicate()), daemon=True)
        reader.start()
        t0, exited_at = time.monotonic(), None
        while not (
            messages and messages[-1].get("topic") == topic and messages[-1]["kind"] == "finished"
        ):
            assert time.monotonic() - t0 < 600, f"no end of {batch} on the WebSocket: {messages}"
            if exited_at is None and daemon.poll() is not None:
                exited_at = time.monotonic()
            # once the daemon ended, its last events reach the socket within the API's poll
            assert exited_at is None or time.monotonic() - exited_at < 15, (messages, ended)
            try:
                message = json.loads(ws.recv(timeout=1))
            except TimeoutError:
                continue
            if message.get("type") == "event":
                messages.append(message)
    reader.join(120)
    assert daemon.returncode == 0, ended
    print(f"re-image {batch} done {time.monotonic() - t0:.1f} s after the daemon started")

    # the batch's own progress, as the WebSocket carried it
    mine = [m for m in messages if m["topic"] == topic]
    kinds = [m["kind"] for m in mine]
    # ("created" too when the socket subscribed before the API relayed it)
    assert "started" in kinds and "progress" in kinds, kinds
    assert kinds.index("started") < kinds.index("progress") < kinds.index("finished"), kinds
    assert kinds[-1] == "finished", kinds
    progress = [m["payload"] for m in mine if m["kind"] == "progress"]
    assert progress[-1]["progress"] == 1.0 and progress[-1]["message"] == f"{ms_path}: succeeded"
    assert mine[-1]["payload"]["status"] == "succeeded"
    assert httpx.get(f"{api}/jobs/{batch}").json()["status"] == "succeeded"

    # the products: a new pb-corrected version of the MS's image, the earlier ones superseded
    with session_scope(factory) as s:
        images = s.scalars(
            sa.select(Image).where(Image.ms_id == ms_id, Image.image_type == "image-pb")
        ).all()
        (new,) = [i for i in images if i.id not in earlier]
        assert new.status is ProductStatus.OK and new.version > max(earlier.values())
        assert all(i.status is ProductStatus.SUPERSEDED for i in images if i.id in earlier)
        assert any(" -niter 80 " in Path(p).read_text() for p in _wsclean_logs(new.path))
        assert s.scalar(sa.select(sa.func.count()).where(Photometry.image_id == new.id)) > 0
    announced = {
        m["payload"]["id"] for m in messages if m["topic"] == "image" and m["kind"] == "new"
    }
    assert new.id in announced, (new.id, announced)
    return daemon


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
