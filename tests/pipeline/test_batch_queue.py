"""The API's batches: claimed once by racing processes, kept across restarts, cancels settled."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from dsa110_contimg.pipeline.runner import recover
from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import JobStatus

CLAIMER = textwrap.dedent(
    """
    import json, os, socket, sys, time
    from dsa110_contimg.products import make_engine, make_session_factory, session_scope
    from dsa110_contimg.products import repositories as repo
    engine = make_engine(sys.argv[1])
    factory = make_session_factory(engine)
    go = float(sys.argv[2])
    while time.time() < go:
        time.sleep(0.001)
    got = []
    while True:
        with session_scope(factory) as s:
            job = repo.claim_batch(s, host=socket.gethostname(), pid=os.getpid())
            if job is None:
                break
            got.append(job.run_id)
    print(json.dumps(got))
    """
)


def _batches(factory, n: int) -> list[str]:
    with session_scope(factory) as s:
        return [
            repo.create_batch(s, "reprocess", [("group", f"g{i}")], requested_by="t").run_id
            for i in range(n)
        ]


def test_two_processes_never_claim_the_same_batch(db_url: str) -> None:
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    run_ids = _batches(factory, 40)
    with session_scope(factory) as s:  # a cancel batch is not claimed: it is settled
        repo.create_batch(s, "cancel", [("job", run_ids[0])], requested_by="t")
    go = str(time.time() + 2.0)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CLAIMER, db_url, go], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    claimed = [json.loads(p.communicate(timeout=120)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    everything = claimed[0] + claimed[1]
    assert sorted(everything) == sorted(run_ids), "each batch claimed exactly once"
    assert not set(claimed[0]) & set(claimed[1])
    with session_scope(factory) as s:
        jobs = [repo.get_job(s, r) for r in run_ids]
        assert {j.status for j in jobs} == {JobStatus.RUNNING}
        assert len({j.worker_pid for j in jobs}) <= 2
        assert all(j.host == socket.gethostname() for j in jobs)
    engine.dispose()


def test_recover_keeps_pending_batches_and_requeues_a_dead_ones(pipeline_env) -> None:
    settings, factory, groups, _ = pipeline_env
    waiting, dead_run, live_run = _batches(factory, 3)
    sleeper = subprocess.Popen(["sleep", "60"])
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        with session_scope(factory) as s:
            for run_id, pid in ((dead_run, gone.pid), (live_run, sleeper.pid)):
                job = repo.get_job(s, run_id)
                job.status, job.host, job.worker_pid = JobStatus.RUNNING, socket.gethostname(), pid
                job.items[0].status = JobStatus.RUNNING
        report = recover(settings, factory)
        assert report["batches"] == 1
        with session_scope(factory) as s:
            pending = repo.get_job(s, waiting)
            assert pending.status is JobStatus.PENDING and pending.error is None
            requeued = repo.get_job(s, dead_run)
            assert requeued.status is JobStatus.PENDING
            assert requeued.attempt == 2
            assert "requeued: interrupted" in requeued.error
            assert f"pid {gone.pid}" in requeued.error
            assert requeued.items[0].status is JobStatus.PENDING
            # a batch another live process of this host runs is left to it
            assert repo.get_job(s, live_run).status is JobStatus.RUNNING
        # the next claims take them in order: the waiting one first, then the requeued one
        with session_scope(factory) as s:
            assert repo.claim_batch(s, host="h", pid=os.getpid()).run_id == waiting
            assert repo.claim_batch(s, host="h", pid=os.getpid()).run_id == dead_run
            assert repo.claim_batch(s, host="h", pid=os.getpid()) is None
    finally:
        sleeper.kill()
        sleeper.wait()


def test_settle_cancels(pipeline_env) -> None:
    _, factory, _, _ = pipeline_env
    pending, running, finished = _batches(factory, 3)
    with session_scope(factory) as s:
        repo.get_job(s, running).status = JobStatus.RUNNING
        repo.finish_job(s, finished, status=JobStatus.SUCCEEDED)
        cancel = repo.create_batch(
            s, "cancel", [("job", r) for r in (pending, running, finished)], requested_by="op-x"
        ).run_id
    with session_scope(factory) as s:
        assert repo.settle_cancels(s) == 2
        assert repo.get_job(s, pending).status is JobStatus.CANCELLED
        assert repo.get_job(s, pending).error == "cancelled by op-x"
        assert repo.cancel_request(s, [running]) == "op-x"
        assert repo.get_job(s, cancel).status is JobStatus.PENDING  # the running one waits
    with session_scope(factory) as s:  # the process running it honours the cancel
        assert repo.finish_job_if(
            s, running, [JobStatus.RUNNING], status=JobStatus.CANCELLED, error="cancelled by op-x"
        )
        assert not repo.finish_job_if(s, running, [JobStatus.RUNNING], status=JobStatus.FAILED)
        repo.settle_cancels(s, honoured=[running])
    with session_scope(factory) as s:
        job = repo.get_job(s, cancel)
        assert job.status is JobStatus.SUCCEEDED
        assert [i.status for i in job.items] == [JobStatus.SUCCEEDED] * 3
        assert "already succeeded" in job.items[2].error
        assert repo.cancel_request(s, [running]) is None


@pytest.mark.parametrize(
    "params",
    [{"extra_args": ["-foo"]}, {"niter": -1}, {"tier": "nope"}, {"weight": "x"}, {"size": 3}],
)
def test_imaging_parameters_are_checked(params) -> None:
    from dsa110_contimg.pipeline.operations import imaging_options

    with pytest.raises(repo.InvalidQueryError):
        imaging_options(params)


def test_imaging_parameters_reach_the_run() -> None:
    from dsa110_contimg.pipeline.operations import imaging_options

    options = imaging_options(
        {"niter": 50, "robust": -0.5, "from_step": "image", "tier": "quicklook"}
    )
    assert options.tier == "quicklook" and options.imaging == {"niter": 50, "robust": -0.5}


def test_recover_kills_a_recorded_process_group_that_survived(pipeline_env) -> None:
    settings, factory, _, _ = pipeline_env
    # an orphan of a dead daemon: its own process group, no parent-death signal
    orphan = subprocess.Popen(["sh", "-c", "sleep 600 & wait"], start_new_session=True)
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        with session_scope(factory) as s:
            job = repo.create_job(s, job_type="image")
            job.status, job.host = JobStatus.RUNNING, socket.gethostname()
            job.worker_pid, job.child_pgid = gone.pid, orphan.pid
            run_id = job.run_id
        report = recover(settings, factory)
        assert report["killed"] == 1
        assert orphan.wait(timeout=5) == -9
        with session_scope(factory) as s:
            job = repo.get_job(s, run_id)
            assert job.status is JobStatus.FAILED and "interrupted" in job.error
    finally:
        if orphan.poll() is None:
            os.killpg(orphan.pid, 9)
            orphan.wait()


RACER = textwrap.dedent(
    """
    import json, os, sys, time
    from dsa110_contimg.products import make_engine, make_session_factory, session_scope
    from dsa110_contimg.products import repositories as repo
    factory = make_session_factory(make_engine(sys.argv[1]))
    role, go, run_ids = sys.argv[2], float(sys.argv[3]), json.loads(sys.argv[4])
    while time.time() < go:
        time.sleep(0.001)
    out = []
    for run_id in run_ids:
        with session_scope(factory) as s:
            if role == "claim":
                job = repo.claim_batch(s, host="racer", pid=os.getpid())
                out.append(job.run_id if job else None)
            else:
                out.append(repo.request_cancel(s, [run_id], requested_by="op-r").run_id)
    print(json.dumps(out))
    """
)


def test_cancel_racing_a_claim_is_never_lost(db_url: str) -> None:
    """A cancel and a start race in two processes: the batch is cancelled or its worker is told."""
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    run_ids = _batches(factory, 30)
    go = str(time.time() + 2.0)
    procs = {
        role: subprocess.Popen(
            [sys.executable, "-c", RACER, db_url, role, go, json.dumps(run_ids)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for role in ("claim", "cancel")
    }
    out = {role: json.loads(p.communicate(timeout=120)[0]) for role, p in procs.items()}
    claimed = {r for r in out["claim"] if r}
    with session_scope(factory) as s:
        for run_id in run_ids:
            job = repo.get_job(s, run_id)
            if run_id in claimed:  # the worker won: it runs, and it is told to stop
                assert job.status is JobStatus.RUNNING, (run_id, job.status)
                assert repo.cancel_request(s, [run_id]) == "op-r"
            else:  # the cancel won: never started
                assert job.status is JobStatus.CANCELLED and job.started_at is None
                assert job.error == "cancelled by op-r"
    engine.dispose()
