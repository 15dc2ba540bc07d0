"""Indexing a folder: groups, incomplete groups, quarantine, duplicates, late files, re-runs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsa110_contimg.ingest.quarantine import REASON_SUFFIX
from dsa110_contimg.products import session_scope
from dsa110_contimg.products.models import FileStatus, GroupState, ObservationGroup, RawFile

from .conftest import IngestEnv


def _group(truth: dict, index: int) -> dict:
    return truth["groups"][index]


def _set_state(env: IngestEnv, group_id: str, state: GroupState) -> None:
    with session_scope(env.factory) as session:
        session.get(ObservationGroup, group_id).state = state


def test_stream_is_indexed_into_groups(env: IngestEnv, sim_stream: tuple[Path, dict]) -> None:
    source, truth = sim_stream
    env.copy_in(source)
    indexer = env.indexer()
    report = indexer.scan()

    whole = [g["group_id"] for g in truth["groups"][:3]]
    damaged = _group(truth, 3)["group_id"]
    assert sorted(report.completed) == whole
    assert len(report.indexed) == 3 * 16 + 13
    groups = env.groups()
    assert sorted(groups) == sorted([*whole, damaged])
    for gid in whole:
        assert groups[gid].state == GroupState.COMPLETE
        assert groups[gid].files_present == 16
        assert groups[gid].dec_deg == pytest.approx(truth["pointing_dec_of_date_deg"])
    files = env.files()
    for gid in whole:
        mine = [f for f in files if f.group_id == gid]
        assert sorted(f.subband for f in mine) == list(range(16))
        assert all(f.status == FileStatus.INDEXED and f.n_times == 6 for f in mine)

    # the damaged group: sb05 never came, sb07 truncated, sb09 garbage
    assert groups[damaged].state == GroupState.COLLECTING
    assert groups[damaged].files_present == 13
    reasons = dict(report.quarantined)
    assert "truncated" in reasons[str(env.incoming / f"{damaged}_sb07.hdf5")]
    assert "not an HDF5 file" in reasons[str(env.incoming / f"{damaged}_sb09.hdf5")]
    bad = {f.subband: f for f in files if f.status == FileStatus.QUARANTINED}
    assert sorted(bad) == [7, 9]
    for sb, row in bad.items():
        moved = env.quarantine / f"{damaged}_sb{sb:02d}.hdf5"
        assert row.path == str(moved) and moved.exists()
        assert row.group_id == damaged
        assert (
            row.quarantine_reason.splitlines()[0]
            in (moved.parent / (moved.name + REASON_SUFFIX)).read_text()
        )
        assert not (env.incoming / moved.name).exists()

    # the wait expires: processed with the missing subbands flagged (default policy)
    env.clock.advance(599)
    assert indexer.scan().incomplete == []
    env.clock.advance(2)
    report = indexer.scan()
    assert report.incomplete == [damaged]
    group = env.groups()[damaged]
    assert group.state == GroupState.INCOMPLETE
    assert "subbands 05, 07, 09 missing after waiting 600 s" in group.error
    assert "sb07 quarantined" in group.error

    # no half-registered file: each group's count matches its file rows
    with session_scope(env.factory) as session:
        for group in session.scalars(sa.select(ObservationGroup)):
            usable = session.scalar(
                sa.select(sa.func.count(sa.distinct(RawFile.subband))).where(
                    RawFile.group_id == group.id, RawFile.status != FileStatus.QUARANTINED
                )
            )
            assert usable == group.files_present

    # indexing again, even from a new process, records nothing twice
    before = len(env.files())
    for again in (indexer.scan(), env.indexer().scan()):
        assert not again.changed
        assert again.already_indexed == 3 * 16 + 13
    assert len(env.files()) == before


def test_fail_policy(lite: IngestEnv, sim_stream: tuple[Path, dict]) -> None:
    source, truth = sim_stream
    damaged = _group(truth, 3)
    lite.copy_in(source, [n for n in damaged["files"] if (source / n).exists()])
    indexer = lite.indexer(incomplete_policy="fail", group_wait_s=60)
    indexer.scan()
    assert lite.groups()[damaged["group_id"]].state == GroupState.COLLECTING
    lite.clock.advance(61)
    assert indexer.scan().failed == [damaged["group_id"]]
    group = lite.groups()[damaged["group_id"]]
    assert group.state == GroupState.FAILED
    assert "(incomplete policy: fail)" in group.error


def test_wait_runs_from_the_newest_arrival(lite: IngestEnv, sim_stream: tuple[Path, dict]) -> None:
    source, truth = sim_stream
    g = _group(truth, 0)
    lite.copy_in(source, g["files"][:14])
    indexer = lite.indexer(group_wait_s=300)
    indexer.scan()
    lite.clock.advance(250)
    lite.copy_in(source, [g["files"][14]])
    indexer.scan()
    lite.clock.advance(250)  # 500 s after the first files, 250 after the newest
    assert not indexer.scan().changed
    lite.clock.advance(51)
    assert indexer.scan().incomplete == [g["group_id"]]
    assert "subbands 15 missing" in lite.groups()[g["group_id"]].error


def test_missing_subband_arriving_late_completes_an_unclaimed_group(
    env: IngestEnv, sim_stream: tuple[Path, dict]
) -> None:
    source, truth = sim_stream
    g = _group(truth, 0)
    env.copy_in(source, g["files"][:15])
    indexer = env.indexer(group_wait_s=60)
    indexer.scan()
    env.clock.advance(61)
    assert indexer.scan().incomplete == [g["group_id"]]
    env.copy_in(source, [g["files"][15]])
    report = indexer.scan()
    assert report.completed == [g["group_id"]] and report.late == []
    group = env.groups()[g["group_id"]]
    assert group.state == GroupState.COMPLETE and group.files_present == 16
    assert "complete: the missing subbands arrived" in group.error


@pytest.mark.parametrize("state", [GroupState.PROCESSING, GroupState.DONE])
def test_late_file_for_a_claimed_group_is_recorded_not_added(
    env: IngestEnv, sim_stream: tuple[Path, dict], state: GroupState
) -> None:
    source, truth = sim_stream
    g = _group(truth, 0)
    env.copy_in(source, g["files"][:15])
    indexer = env.indexer(group_wait_s=60)
    indexer.scan()
    env.clock.advance(61)
    indexer.scan()
    _set_state(env, g["group_id"], state)  # what the runner does

    late = env.copy_in(source, [g["files"][15]])[0]
    report = indexer.scan()
    assert report.late == [str(late)] and report.indexed == []
    row = next(f for f in env.files() if f.path == str(late))
    assert row.group_id is None and row.status == FileStatus.INDEXED and row.subband == 15
    group = env.groups()[g["group_id"]]
    assert group.state == state and group.files_present == 15
    assert f"late: sb15 {late} arrived while the group was {state}" in group.error
    assert late.exists()
    assert not indexer.scan().changed


def test_duplicate_under_another_name_is_quarantined(
    env: IngestEnv, sim_stream: tuple[Path, dict]
) -> None:
    source, truth = sim_stream
    g = _group(truth, 0)
    original = env.copy_in(source, g["files"])[3]
    indexer = env.indexer()
    indexer.scan()
    stamp = g["group_id"][:-2] + f"{int(g['group_id'][-2:]) + 10 % 60:02d}"
    copy = env.incoming / f"{stamp}_sb03.hdf5"
    shutil.copy2(original, copy)
    report = indexer.scan()
    assert report.quarantined == [(str(copy), f"duplicate of {original}")]
    assert not copy.exists() and (env.quarantine / copy.name).exists()
    row = next(f for f in env.files() if f.path == str(env.quarantine / copy.name))
    assert row.status == FileStatus.QUARANTINED and row.group_id == g["group_id"]
    assert row.start_mjd is not None  # a readable duplicate keeps its header values
    assert env.groups()[g["group_id"]].files_present == 16


def test_a_good_copy_replaces_a_quarantined_file(
    lite: IngestEnv, sim_stream: tuple[Path, dict]
) -> None:
    source, truth = sim_stream
    damaged = _group(truth, 3)
    lite.copy_in(source, [n for n in damaged["files"] if (source / n).exists()])
    indexer = lite.indexer()
    indexer.scan()
    # the operator re-sends sb07 (here: another group's sb07 under the right name)
    resent = lite.incoming / damaged["files"][7]
    shutil.copy2(source / _group(truth, 2)["files"][7], resent)
    report = indexer.scan()
    assert report.indexed == [str(resent)]
    assert lite.groups()[damaged["group_id"]].files_present == 14


def test_quarantine_never_overwrites(lite: IngestEnv, sim_stream: tuple[Path, dict]) -> None:
    source, truth = sim_stream
    name = _group(truth, 3)["files"][9]
    stray = lite.quarantine / name
    stray.write_bytes(b"an earlier file")
    os.utime(stray, (lite.clock.now - 3600, lite.clock.now - 3600))
    lite.copy_in(source, [name])
    lite.indexer().scan()
    assert (lite.quarantine / name).read_bytes() == b"an earlier file"
    moved = lite.quarantine / name.replace(".hdf5", ".1.hdf5")
    assert moved.read_bytes() == (source / name).read_bytes()
    assert "not an HDF5" in (lite.quarantine / (moved.name + REASON_SUFFIX)).read_text()
    rows = {f.path: f for f in lite.files()}
    assert rows[str(moved)].subband == 9
    # the stray file found there is recorded too, reason unknown
    assert "without a reason file" in rows[str(lite.quarantine / name)].quarantine_reason


def test_names_that_do_not_parse_are_quarantined(
    lite: IngestEnv, sim_stream: tuple[Path, dict]
) -> None:
    source, truth = sim_stream
    good = source / _group(truth, 0)["files"][4]
    for name in ("garbage_sb04.hdf5", "2026-01-15T13:44:44_sb4.hdf5"):
        shutil.copy2(good, lite.incoming / name)
    (lite.incoming / "notes.txt").write_text("not a subband file: ignored")
    report = lite.indexer().scan()
    assert sorted(Path(p).name for p, _ in report.quarantined) == [
        "2026-01-15T13:44:44_sb4.hdf5",
        "garbage_sb04.hdf5",
    ]
    assert all("not a subband file name" in reason for _, reason in report.quarantined)
    assert (lite.incoming / "notes.txt").exists()
    (row,) = lite.files()  # "_sb4" gives no subband 0-15: moved, but cannot be a row
    assert row.path.endswith("garbage_sb04.hdf5") and row.group_id is None
    assert lite.groups() == {}


def test_grouping_tolerance(lite: IngestEnv, sim_stream: tuple[Path, dict]) -> None:
    source, truth = sim_stream
    g = _group(truth, 0)
    files = g["files"]
    base = g["group_id"][:-5]  # 'YYYY-MM-DDTHH:'
    stamps = {0: "20:00", 1: "20:30", 2: "21:00", 3: "21:01"}
    for sb, mmss in stamps.items():
        shutil.copy2(source / files[sb], lite.incoming / f"{base}{mmss}_sb{sb:02d}.hdf5")
    indexer = lite.indexer(group_tolerance_s=60)
    indexer.scan()
    # 20:59 is within 60 s of both groups: the nearest start wins
    shutil.copy2(source / files[4], lite.incoming / f"{base}20:59_sb04.hdf5")
    indexer.scan()
    members: dict[str, list[int]] = {}
    for f in lite.files():
        members.setdefault(f.group_id, []).append(f.subband)
    assert {k: sorted(v) for k, v in members.items()} == {
        f"{base}20:00": [0, 1, 2],
        f"{base}21:01": [3, 4],
    }


def test_file_being_written_is_not_read(
    lite: IngestEnv, sim_stream: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    source, truth = sim_stream
    name = _group(truth, 0)["files"][0]
    content = (source / name).read_bytes()
    target = lite.incoming / name
    opened: list[Path] = []
    from dsa110_contimg.ingest import index as index_module

    real = index_module.read_header
    monkeypatch.setattr(index_module, "read_header", lambda p: opened.append(p) or real(p))

    def write(data: bytes, mtime: float) -> None:
        target.write_bytes(data)
        os.utime(target, (mtime, mtime))

    clock = lite.clock
    indexer = lite.indexer(settle_s=30)
    write(content[: len(content) // 2], clock.now)  # half written, just now
    assert indexer.scan().pending == [str(target)]
    clock.advance(20)
    write(content, clock.now)  # still growing
    assert indexer.scan().pending == [str(target)]
    clock.advance(29)
    assert indexer.scan().pending == [str(target)]
    assert opened == [] and lite.files() == []
    clock.advance(2)  # mtime now 31 s old
    assert indexer.scan().indexed == [str(target)]
    assert opened == [target]

    # a writer whose clock runs ahead: two unchanged looks 30 s apart are enough
    other = lite.incoming / _group(truth, 0)["files"][1]
    shutil.copy2(source / other.name, other)
    os.utime(other, (clock.now + 3600, clock.now + 3600))
    assert indexer.scan().pending == [str(other)]
    clock.advance(30)
    assert indexer.scan().indexed == [str(other)]


def test_quarantined_but_unrecorded_file_is_recorded_later(
    lite: IngestEnv, sim_stream: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    from dsa110_contimg.ingest.index import Indexer

    source, truth = sim_stream
    name = _group(truth, 3)["files"][7]
    lite.copy_in(source, [name])

    def db_down(*args: object) -> None:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is down"))

    with monkeypatch.context() as m:
        m.setattr(Indexer, "_record_quarantined", db_down)
        report = lite.indexer().scan()
    assert [Path(p).name for p, _ in report.quarantined] == [name]
    assert (lite.quarantine / name).exists() and lite.files() == []

    # the next process records it, with the reason written beside it
    lite.clock.advance(31)
    report = lite.indexer().scan()
    (row,) = lite.files()
    assert row.path == str(lite.quarantine / name)
    assert row.status == FileStatus.QUARANTINED and "truncated" in row.quarantine_reason
    assert row.group_id == _group(truth, 3)["group_id"]
    assert not lite.indexer().scan().changed


def test_index_folder_looks_again_at_files_being_finished(
    lite: IngestEnv, sim_stream: tuple[Path, dict]
) -> None:
    from dsa110_contimg.ingest import IngestPolicy, index_folder

    source, truth = sim_stream
    (path,) = lite.copy_in(source, truth["groups"][0]["files"][:1])
    os.utime(path, (lite.clock.now, lite.clock.now))  # just written
    policy = IngestPolicy(settle_s=30)
    args = (lite.settings, lite.factory)
    report = index_folder(*args, policy=policy, clock=lite.clock)
    assert report.pending == [str(path)] and report.indexed == []
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        lite.clock.advance(seconds)

    report = index_folder(*args, policy=policy, clock=lite.clock, settle_wait=True, sleep=sleep)
    assert slept == [30] and report.indexed == [str(path)] and report.pending == []


def test_two_indexers_on_one_folder_record_each_file_once(
    env: IngestEnv, sim_stream: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two indexers scan one folder at once, in two threads: each file is indexed once.

    Both threads start on a barrier and meet again inside their first
    ``_record`` (the first file's header read, nothing written yet), so they
    write the same group and file rows at the same moment. What the race
    threatens: a file recorded twice, a file quarantined as a duplicate of
    itself, or an indexer dying on the other's write.
    """
    import threading

    from dsa110_contimg.ingest.index import Indexer

    source, truth = sim_stream
    g = _group(truth, 1)
    paths = {str(p) for p in env.copy_in(source, g["files"])}
    indexers = [env.indexer(), env.indexer()]

    meet = threading.Barrier(2, timeout=30)
    recorded = threading.local()
    record = Indexer._record

    def record_together(self: Indexer, info):  # type: ignore[no-untyped-def]
        if not getattr(recorded, "once", False):
            recorded.once = True
            meet.wait()  # both have read the first header; neither has written
        return record(self, info)

    monkeypatch.setattr(Indexer, "_record", record_together)
    start = threading.Barrier(2, timeout=30)
    reports: dict[int, list] = {0: [], 1: []}
    errors: list[BaseException] = []

    def run(k: int) -> None:
        try:
            start.wait()
            reports[k].append(indexers[k].scan())
            reports[k].append(indexers[k].scan())  # picks up what lost a write conflict
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads) and errors == []
    assert meet.n_waiting == 0 and not meet.broken  # they did meet

    indexed = [[p for r in reports[k] for p in r.indexed] for k in (0, 1)]
    assert sorted(indexed[0] + indexed[1]) == sorted(paths)  # each file once, by one of them
    assert all(r.quarantined == [] for k in (0, 1) for r in reports[k])
    assert sorted(f.path for f in env.files()) == sorted(paths)
    assert {f.group_id for f in env.files()} == {g["group_id"]}
    assert env.groups()[g["group_id"]].state == GroupState.COMPLETE
    assert all(Path(p).exists() for p in paths) and not any(env.quarantine.iterdir())


def test_file_this_user_cannot_read_is_left_in_place(
    lite: IngestEnv,
    sim_stream: tuple[Path, dict],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, truth = sim_stream
    (path,) = lite.copy_in(source, truth["groups"][0]["files"][:1])
    indexer = lite.indexer()
    with monkeypatch.context() as m:
        m.setattr(os, "access", lambda p, mode: False)  # as if owned by another user
        for _ in range(2):
            report = indexer.scan()
            assert report.pending == [str(path)] and report.quarantined == []
    assert path.exists() and lite.files() == []
    assert sum("not readable by this user" in r.message for r in caplog.records) == 1
    assert indexer.scan().indexed == [str(path)]


def test_runner_cannot_claim_a_group_while_a_file_is_being_added(
    env: IngestEnv, sim_stream: tuple[Path, dict]
) -> None:
    """The ingest's hold on an open group makes the runner's atomic claim wait for it."""
    import threading
    import time

    from dsa110_contimg.ingest import groups as ingest_groups
    from dsa110_contimg.pipeline.runner import claim_group

    source, truth = sim_stream
    g = _group(truth, 0)
    env.copy_in(source, g["files"][:15])
    indexer = env.indexer(group_wait_s=0)
    indexer.scan()
    assert env.groups()[g["group_id"]].state == GroupState.INCOMPLETE

    claimed: list[tuple[bool, float]] = []
    session = env.factory()
    try:
        assert ingest_groups.hold_open_group(session, g["group_id"])
        start = time.monotonic()
        runner = threading.Thread(
            target=lambda: claimed.append(
                (claim_group(env.factory, g["group_id"]), time.monotonic() - start)
            )
        )
        runner.start()
        time.sleep(0.5)
        assert claimed == []  # waiting for the ingest's transaction
        session.commit()
    finally:
        session.close()
    runner.join(timeout=30)
    assert claimed and claimed[0][0] and claimed[0][1] >= 0.5
    assert env.groups()[g["group_id"]].state == GroupState.PROCESSING
