"""The disk guard and ENOSPC on a real small filesystem that fills up (a size-limited tmpfs).

Mounting needs root (``mount -t tmpfs -o size=64m``). Where mounting is refused
the tests skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsa110_contimg.atomic import atomic_output, find_partials
from dsa110_contimg.config import Settings, load_settings
from dsa110_contimg.ingest import IngestPolicy
from dsa110_contimg.pipeline.runner import default_stages, run_group
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import (
    Event,
    FileStatus,
    GroupState,
    Job,
    JobStatus,
    MeasurementSet,
    ObservationGroup,
    RawFile,
)
from dsa110_contimg.retention import Level, StorageGuard, folder_space
from dsa110_contimg.retention.guard import storage_allows_new_groups
from dsa110_contimg.simulate import preset_config, simulate

MB = 1 << 20


def _under_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A 64 MiB tmpfs mounted in tmp_path, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        reason = f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}"
        if _under_ci():
            pytest.fail(reason)
        pytest.skip(reason)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(folder: Path, leave_bytes: int) -> Path:
    """Fill ``folder``'s filesystem with one file until about ``leave_bytes`` are free."""
    filler = folder / "filler.bin"
    stats = os.statvfs(folder)
    size = stats.f_bavail * stats.f_frsize - leave_bytes
    with filler.open("wb") as fh:
        fh.truncate(0)
        block = b"\1" * MB
        while size > 0:
            fh.write(block[: min(size, MB)])
            size -= MB
    return filler


def _free(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def test_atomic_output_leaves_no_partial_when_the_disk_fills(small_fs: Path) -> None:
    before = _free(small_fs)
    final = small_fs / "big.fits"
    with pytest.raises(OSError) as caught:
        with atomic_output(final) as tmp, tmp.open("wb") as fh:
            for _ in range(100):  # 100 MiB into 64 MiB
                fh.write(b"\0" * MB)
                fh.flush()
    assert caught.value.errno == errno.ENOSPC
    assert not final.exists()
    assert find_partials([small_fs]) == []
    assert _free(small_fs) == before  # the temporary's blocks are back


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("disk-sim")
    truth = simulate(preset_config("test", n_epochs=1, targets_per_epoch=1, n_antennas=12), out)
    return out, truth


def _settings(tmp_path: Path, disk: Path, incoming: Path, **overrides) -> Settings:
    # Products on the small disk; the DB and the incoming files on the test's own disk,
    # whose folders get no threshold (default 0).
    values = {
        "data_root": disk,
        "state_dir": tmp_path / "state",
        "logs_dir": tmp_path / "logs",
        "incoming_dir": incoming,
        "disk_warn_free_gb": {"default": 0.0, "ms": 0.03},
        "disk_stop_free_gb": {"default": 0.0, "ms": 0.02},
        "retention_interval_s": 0,
        **overrides,
    }
    settings = load_settings(**values)
    settings.ensure_folders()
    upgrade(settings.db_url)
    return settings


def _copy_incoming(sim_dir: Path, tmp_path: Path) -> Path:
    incoming = tmp_path / "incoming"
    shutil.copytree(sim_dir / "incoming", incoming)
    return incoming


def _index(settings: Settings, factory) -> list[str]:
    from dsa110_contimg.ingest import index_folder

    index_folder(settings, factory, policy=IngestPolicy.from_settings(settings, settle_s=0.0))
    with factory() as session:
        return list(session.scalars(sa.select(ObservationGroup.id).order_by("start_mjd")))


def test_a_write_meeting_a_full_disk_registers_nothing_and_the_group_is_requeued(
    small_fs: Path, sim, tmp_path: Path
) -> None:
    sim_dir, _ = sim
    settings = _settings(tmp_path, small_fs, _copy_incoming(sim_dir, tmp_path))
    factory = make_session_factory(make_engine(settings.db_url))
    group_id = _index(settings, factory)[0]
    filler = _fill(settings.ms_dir, leave_bytes=32 * 1024)  # no room for an MS
    convert = [default_stages()[0]]
    assert convert[0][0] == "convert"

    run_group(settings, factory, group_id, stages=convert)

    with factory() as session:
        group = session.get(ObservationGroup, group_id)
        assert group.state == GroupState.FAILED
        # casacore reports ENOSPC as a write error with a wrong errno text
        assert "FiledesIO::write - write error" in group.error
        assert session.scalars(sa.select(MeasurementSet)).all() == []
        raw = session.scalars(sa.select(RawFile).where(RawFile.group_id == group_id)).all()
        assert {r.status for r in raw} == {FileStatus.INDEXED}  # not marked converted
    assert find_partials([small_fs]) == []
    assert sorted(p.name for p in settings.ms_dir.iterdir()) == ["filler.bin"]
    assert all(Path(r.path).exists() for r in raw)  # the raw files stay in incoming

    # Below the ms folder's stop threshold: no new group, and the failure waits.
    guard = StorageGuard(settings, factory)
    assert guard.allows_new_groups() is False
    with factory() as session:
        assert session.get(ObservationGroup, group_id).state == GroupState.FAILED
    # Space returns: the guard lets groups in again and requeues the failed group.
    filler.unlink()
    assert guard.allows_new_groups() is True
    with factory() as session:
        group = session.get(ObservationGroup, group_id)
        assert group.state == GroupState.QUEUED
        assert "disk was full" in group.error
        kinds = session.scalars(sa.select(Event.kind).where(Event.topic == "disk")).all()
        assert kinds == ["paused", "resumed"]
    assert guard.requeue_space_failures() == 0  # once, not in a loop
    run_group(settings, factory, group_id, stages=convert)
    with factory() as session:
        assert session.get(ObservationGroup, group_id).state == GroupState.DONE
        assert len(session.scalars(sa.select(MeasurementSet)).all()) == 1


def test_the_daemon_takes_no_group_below_stop_and_resumes_by_itself(
    small_fs: Path, sim, tmp_path: Path
) -> None:
    from dsa110_contimg.pipeline.stream import run_stream

    sim_dir, truth = sim
    incoming = _copy_incoming(sim_dir, tmp_path)
    settings = _settings(tmp_path, small_fs, incoming)
    factory = make_session_factory(make_engine(settings.db_url))
    filler = _fill(settings.ms_dir, leave_bytes=8 * MB)  # below stop (20 MB), above ENOSPC
    levels = {s.folder: s.level for s in folder_space(settings)}
    assert levels["ms"] is Level.STOP and levels["incoming"] is Level.OK

    stop = threading.Event()
    policy = IngestPolicy.from_settings(settings, settle_s=0.0)
    daemon = threading.Thread(
        target=run_stream,
        args=(settings, factory, stop),
        kwargs={"interval": 0.2, "policy": policy},
    )
    daemon.start()
    try:
        n_groups = len(truth["groups"])

        def states() -> list[str]:
            with factory() as session:
                return list(session.scalars(sa.select(ObservationGroup.state)))

        deadline = time.monotonic() + 60
        while len(states()) < n_groups and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.0)  # ten more cycles while paused
        assert sorted(states()) == ["complete"] * n_groups  # indexed, none taken
        with factory() as session:
            assert session.scalars(sa.select(Job)).all() == []  # no run started
            quarantined = session.scalars(
                sa.select(RawFile).where(RawFile.status == FileStatus.QUARANTINED)
            ).all()
            assert quarantined == []
            paused = session.scalars(
                sa.select(Event).where(Event.topic == "disk", Event.kind == "paused")
            ).all()
            assert len(paused) == 1
        assert len(list(incoming.iterdir())) == 16 * n_groups  # the files wait in incoming

        # A queued API batch writes products too: it waits while the disk is full.
        with factory() as session:
            first = session.scalars(sa.select(ObservationGroup.id)).first()
            batch = repo.create_batch(
                session, "reprocess", [("group", first)], requested_by="test"
            ).run_id
            session.commit()
        time.sleep(2.0)  # ten more cycles
        with factory() as session:
            held = session.scalars(sa.select(Job).where(Job.run_id == batch)).one()
            assert held.status == JobStatus.PENDING, held.status

        filler.unlink()  # space returns
        deadline = time.monotonic() + 120
        while "complete" in states() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert states().count("complete") < n_groups  # the daemon took a group by itself
    finally:
        stop.set()
        daemon.join(300)
    assert not daemon.is_alive()
    with factory() as session:
        resumed = session.scalars(
            sa.select(Event).where(Event.topic == "disk", Event.kind == "resumed")
        ).all()
        assert len(resumed) == 1
        assert session.scalars(sa.select(Job).where(Job.job_type == "convert")).all()


def test_the_module_level_guard_is_one_per_daemon(tmp_path: Path) -> None:
    settings = load_settings(
        data_root=tmp_path / "d", disk_warn_free_gb={"default": 0}, disk_stop_free_gb={"default": 0}
    )
    settings.ensure_folders()
    upgrade(settings.db_url)
    factory = make_session_factory(make_engine(settings.db_url))
    assert storage_allows_new_groups(settings, factory) is True
    with session_scope(factory) as session:
        assert repo.groups_failed_for_space(session) == []


def test_the_disk_gauges_follow_the_filesystem(small_fs: Path, tmp_path: Path) -> None:
    import httpx
    from api_support import LiveServer, make_settings
    from prometheus_client.parser import text_string_to_metric_families

    from dsa110_contimg.api import create_app

    base = _settings(tmp_path, small_fs, tmp_path / "incoming")
    settings = make_settings(
        small_fs,
        base.db_url,
        state_dir=base.state_dir,
        logs_dir=base.logs_dir,
        incoming_dir=base.incoming_dir,
        disk_warn_free_gb=base.disk_warn_free_gb,
        disk_stop_free_gb=base.disk_stop_free_gb,
    )

    def gauges(url: str) -> dict[tuple[str, str], float]:
        text = httpx.get(f"{url}/metrics").text
        return {
            (s.name, s.labels["folder"]): s.value
            for family in text_string_to_metric_families(text)
            if family.name.startswith("dsa110_disk_")
            for s in family.samples
        }

    with LiveServer(create_app(settings)) as api:
        before = gauges(api.url)
        assert before[("dsa110_disk_level", "ms")] == 0
        assert before[("dsa110_disk_stop_bytes", "ms")] == 0.02e9
        filler = _fill(settings.ms_dir, leave_bytes=25 * MB)  # below warn (30 MB)
        assert gauges(api.url)[("dsa110_disk_level", "ms")] == 1
        filler.unlink()
        filler = _fill(settings.ms_dir, leave_bytes=5 * MB)  # below stop (20 MB)
        low = gauges(api.url)
        assert low[("dsa110_disk_level", "ms")] == 2
        assert low[("dsa110_disk_free_bytes", "ms")] < 20e6
        assert low[("dsa110_disk_level", "incoming")] == 0  # another disk, no threshold
        filler.unlink()
        assert gauges(api.url)[("dsa110_disk_level", "ms")] == 0
