"""Take a group through the stages, each as a job, the whole as a batch job.

A group is claimed atomically (complete / incomplete / queued -> processing),
so two workers never process it twice. Every stage is idempotent: it looks at
what the products DB already holds for the group and skips work that is
registered, and it registers its own products only once they are complete on
disk. So after a crash, :func:`recover` can simply put interrupted groups back
in the queue and the next run finishes them without duplicating anything.
"""

from __future__ import annotations

import enum
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.atomic import discard, find_partials
from dsa110_contimg.config import Settings
from dsa110_contimg.errors import DSA110Error
from dsa110_contimg.pipeline.context import RunOptions, StepContext, recorded_settings
from dsa110_contimg.pipeline.jobs import job_run
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import (
    GroupState,
    JobStatus,
)
from dsa110_contimg.tools.process import JobCancelled, Watch, group_alive, kill_group, watching

__all__ = ["Outcome", "RunOptions", "StepContext", "process_group", "recover", "run_group"]

log = logging.getLogger(__name__)

#: Group states a worker may pick up.
RUNNABLE = (GroupState.COMPLETE, GroupState.INCOMPLETE, GroupState.QUEUED)


Stage = Callable[[StepContext], dict[str, Any]]


def default_stages() -> list[tuple[str, Stage]]:
    """The pipeline's stages in order (imported lazily: heavy science modules)."""
    from dsa110_contimg.pipeline.steps import STEPS

    return STEPS


def claim_group(factory: sessionmaker[Session], group_id: str) -> bool:
    """Move a runnable group to processing; False if someone else has it or it is done."""
    with session_scope(factory) as session:
        return repo.claim_group(session, group_id, RUNNABLE)


class Outcome(enum.StrEnum):
    """How a group's run ended."""

    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"
    STOPPED = "stopped"  # the daemon is stopping: the group went back to the queue
    SKIPPED = "skipped"  # not claimed: taken, done or unknown


class CancelCheck:
    """Asks the products DB, at most every ``every_s`` seconds, whether a job was cancelled.

    The run ids it watches change as the run goes (the API batch, the group's
    batch, the running step); it returns who asked, or None.
    """

    def __init__(self, factory: sessionmaker[Session], *run_ids: str, every_s: float = 1.0):
        self._factory = factory
        self.run_ids = [r for r in run_ids if r]
        self._every_s = every_s
        self._last = -float("inf")
        self.who: str | None = None

    def __call__(self) -> str | None:
        if self.who is not None:
            return self.who
        now = time.monotonic()
        if now - self._last < self._every_s:
            return None
        self._last = now
        try:
            with session_scope(self._factory) as session:
                self.who = repo.cancel_request(session, self.run_ids)
        except Exception as exc:  # the DB may be briefly away: ask again next time
            log.warning("cancel check failed: %s", exc)
        return self.who


def process_group(
    settings: Settings,
    factory: sessionmaker[Session],
    group_id: str,
    *,
    stages: list[tuple[str, Stage]] | None = None,
    options: RunOptions | Mapping[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
    claimed: bool = False,
    parent_run_id: str | None = None,
) -> bool:
    """Run every stage on one group; True if it ended done (see :func:`run_group`)."""
    outcome = run_group(
        settings,
        factory,
        group_id,
        stages=stages,
        options=options,
        stop=stop,
        claimed=claimed,
        parent_run_id=parent_run_id,
    )
    return outcome is Outcome.DONE


def run_group(
    settings: Settings,
    factory: sessionmaker[Session],
    group_id: str,
    *,
    stages: list[tuple[str, Stage]] | None = None,
    options: RunOptions | Mapping[str, Any] | None = None,
    stop: Callable[[], bool] | None = None,
    claimed: bool = False,
    parent_run_id: str | None = None,
) -> Outcome:
    """Run every stage on one group, as a ``process`` batch job; how it ended.

    ``stop`` is asked before each stage: when it says so, the group goes back to
    the queue (its finished stages stay registered) and the batch is cancelled.
    A cancel requested through the API (a cancel batch naming this group's
    batch, its running step, or ``parent_run_id``: the API batch this run is an
    item of) is honoured between stages and while an external program runs
    (:mod:`dsa110_contimg.tools.process`): the group ends ``failed`` with
    "cancelled by ...", its jobs ``cancelled``. ``claimed``: the caller already
    moved the group to processing (a reprocess). ``options`` are the run's
    choices (:class:`RunOptions`, or a mapping of its field names); every step
    gets them as ``ctx.options``. The pid of each external program is recorded
    on the step's job while it runs. Each step's job ``params`` record the
    settings its results depend on, the run's options and their hash
    (:func:`~dsa110_contimg.pipeline.context.recorded_settings`).
    """
    if not claimed and not claim_group(factory, group_id):
        log.info("group %s is not runnable (taken, done or unknown): skipped", group_id)
        return Outcome.SKIPPED
    stages = stages if stages is not None else default_stages()
    run_options = RunOptions.of(options)
    with session_scope(factory) as session:
        batch = repo.create_batch(
            session,
            "process",
            [("stage", name) for name, _ in stages],
            params={"group_id": group_id},
            group_id=group_id,
            parent_run_id=parent_run_id,
        )
        batch_run_id = batch.run_id
        repo.start_job(session, batch_run_id, host=socket.gethostname())
    cancelled = CancelCheck(factory, batch_run_id, parent_run_id or "")
    base_ids = list(cancelled.run_ids)
    state: dict[str, Any] = {}
    for position, (name, stage) in enumerate(stages):
        if stop is not None and stop():
            reason = f"stopped before stage {name}"
            _requeue(factory, batch_run_id, group_id, reason, for_batch=parent_run_id)
            return Outcome.STOPPED
        if cancelled():
            _cancelled(factory, batch_run_id, group_id, cancelled.who, before=name)
            return Outcome.CANCELLED
        _set_item(factory, batch_run_id, position, JobStatus.RUNNING)
        try:
            with job_run(
                factory,
                settings.logs_dir,
                job_type=name,
                group_id=group_id,
                parent_run_id=batch_run_id,
                params=recorded_settings(settings, name, run_options),
            ) as handle:
                cancelled.run_ids = [*base_ids, handle.run_id]
                ctx = StepContext(settings, factory, group_id, handle, state, run_options)
                with watching(_child_watch(factory, handle.run_id, cancelled)):
                    handle.outputs = stage(ctx) or {}
                state[name] = handle.outputs
                _set_item(
                    factory, batch_run_id, position, JobStatus.SUCCEEDED, run_id=handle.run_id
                )
        except JobCancelled as exc:
            _set_item(factory, batch_run_id, position, JobStatus.CANCELLED, error=str(exc))
            _cancelled(
                factory,
                batch_run_id,
                group_id,
                exc.requested_by,
                before=None,
                honoured=cancelled.run_ids[len(base_ids) :],
            )
            return Outcome.CANCELLED
        except DSA110Error as exc:  # job_run wrapped anything else in StageError
            _set_item(factory, batch_run_id, position, JobStatus.FAILED, error=str(exc))
            _finish(factory, batch_run_id, group_id, ok=False, error=f"stage {name}: {exc}")
            log.error("group %s failed at %s: %s", group_id, name, exc)
            return Outcome.FAILED
        finally:
            cancelled.run_ids = list(base_ids)
    _finish(factory, batch_run_id, group_id, ok=True)
    return Outcome.DONE


def _child_watch(factory: sessionmaker[Session], run_id: str, cancelled: CancelCheck) -> Watch:
    """Record the step's external program on its job; stop it when the job is cancelled."""

    def record(pgid: int | None) -> None:
        try:
            with session_scope(factory) as session:
                repo.record_child(session, run_id, pgid)
        except Exception as exc:  # the parent-death signal still protects the child
            log.warning("child %s of job %s not recorded: %s", pgid, run_id, exc)

    return Watch(on_start=record, on_end=lambda pgid: record(None), stop=cancelled)


def _cancelled(
    factory: sessionmaker[Session],
    batch_run_id: str,
    group_id: str,
    who: str | None,
    *,
    before: str | None,
    honoured: list[str] | None = None,
) -> None:
    """End a group's run cancelled: its batch ``cancelled``, the group ``failed`` with who asked."""
    who = who or "unknown"
    # the parent API batch is settled by its executor, which still needs to see who asked
    honoured = [batch_run_id, *(honoured or [])]
    where = f" before stage {before}" if before else ""
    reason = f"cancelled by {who}{where}"
    with session_scope(factory) as session:
        repo.cancel_open_items(session, batch_run_id, reason)
        repo.finish_job(session, batch_run_id, status=JobStatus.CANCELLED, error=reason)
        repo.set_group_state(session, group_id, GroupState.FAILED, reason)
        repo.publish_event(
            session, "group", "finished", {"group_id": group_id, "state": "failed", "error": reason}
        )
        repo.settle_cancels(session, honoured=honoured)
    log.warning("group %s: %s", group_id, reason)


def _requeue(
    factory: sessionmaker[Session],
    batch_run_id: str,
    group_id: str,
    reason: str,
    *,
    for_batch: str | None = None,
) -> None:
    """Put a stopped group back in the queue; one an API batch was redoing waits for the batch."""
    with session_scope(factory) as session:
        repo.finish_job(session, batch_run_id, status=JobStatus.CANCELLED, error=reason)
        if for_batch is None:
            repo.requeue_group(session, repo.get_group(session, group_id), reason)
        else:  # not the stream's: the batch resumes it with its own parameters
            reason = f"{reason}; batch {for_batch} resumes it"
            repo.set_group_state(session, group_id, GroupState.FAILED, reason)
    log.info("group %s set aside: %s", group_id, reason)


def _set_item(
    factory: sessionmaker[Session],
    batch_run_id: str,
    position: int,
    status: JobStatus,
    *,
    run_id: str | None = None,
    error: str | None = None,
) -> None:
    with session_scope(factory) as session:
        repo.set_batch_item(session, batch_run_id, position, status, run_id=run_id, error=error)


def _finish(
    factory: sessionmaker[Session],
    batch_run_id: str,
    group_id: str,
    *,
    ok: bool,
    error: str | None = None,
) -> None:
    with session_scope(factory) as session:
        repo.finish_job(
            session,
            batch_run_id,
            status=JobStatus.SUCCEEDED if ok else JobStatus.FAILED,
            error=error,
        )
        group = repo.set_group_state(
            session, group_id, GroupState.DONE if ok else GroupState.FAILED, error
        )
        repo.publish_event(
            session, "group", "finished", {"group_id": group_id, "state": str(group.state)}
        )


def product_folders(settings: Settings) -> tuple[Path, ...]:
    """Every folder the pipeline (or the simulator) writes products into."""
    return (
        settings.incoming_dir,
        settings.ms_dir,
        settings.caltables_dir,
        settings.images_dir,
        settings.mosaics_dir,
        settings.quarantine_dir,
    )


def _process_alive(pid: int | None) -> bool:
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_api_batch(job: Any) -> bool:
    operation = (job.params or {}).get("operation")
    return (
        job.job_type == "batch"
        and job.parent_id is None
        and operation in (repo.EXECUTED_OPERATIONS)
    )


def recover(settings: Settings, factory: sessionmaker[Session]) -> dict[str, int]:
    """Clean up after a crash: end interrupted jobs, kill their orphans, requeue, drop partials.

    Only jobs marked running by a process that is gone are touched (this host's
    jobs whose ``worker_pid`` no longer exists, or rows without a pid): pending
    jobs (API batches waiting to be claimed) stay pending, and so do the jobs
    of another live daemon of this host, or of another host. For each:

    * a recorded external program (``child_pgid``) still alive is killed;
    * an API batch goes back to the queue with the reason
      (:func:`~dsa110_contimg.products.repositories.requeue_batch`); its next
      claim resumes it from its first unfinished item;
    * any other job (a group's run, a step) ends ``failed``
      ("interrupted: the process died"), and the groups it was processing are
      queued again.

    Partial outputs are the temporary folders and files the stages write before
    renaming into place (``.<name>.<hex>.tmp``, :mod:`dsa110_contimg.atomic`),
    found at any depth of every product folder (incoming, ms, caltables,
    images, mosaics, quarantine), including per-group image folders; nothing
    registered is touched. They are removed only when no live process of this
    host runs a job (its partials would be in use).
    """
    host = socket.gethostname()
    killed = requeued = 0
    live_elsewhere = False
    with session_scope(factory) as session:
        dead = []
        for job in repo.running_jobs(session):
            mine = job.host in (None, host)
            if not mine or _process_alive(job.worker_pid):
                live_elsewhere = live_elsewhere or mine
                continue
            dead.append(job)
        for job in dead:
            if job.child_pgid and group_alive(job.child_pgid):
                kill_group(job.child_pgid)
                killed += 1
                log.warning("killed process group %d left by job %s", job.child_pgid, job.run_id)
            reason = f"interrupted: the process (pid {job.worker_pid}) died"
            if _is_api_batch(job):
                repo.requeue_batch(session, job.run_id, f"requeued: {reason}")
                requeued += 1
            else:
                repo.finish_job(session, job.run_id, status=JobStatus.FAILED, error=reason)
        held = {j.group_id for j in repo.running_jobs(session) if j.group_id}
        # a group an API batch was redoing waits for the batch (which resumes it with its
        # parameters), not for the stream: it is set aside as failed with the reason
        batch_ids = {j.id: j.run_id for j in dead if _is_api_batch(j)}
        for_batch = {j.group_id: batch_ids[j.parent_id] for j in dead if j.parent_id in batch_ids}
        groups = [g for g in repo.groups_processing(session) if g.id not in held]
        for group in groups:
            if group.id in for_batch:
                reason = f"interrupted; batch {for_batch[group.id]} resumes it"
                repo.set_group_state(session, group.id, GroupState.FAILED, reason)
            else:
                repo.requeue_group(session, group, "requeued after an interrupted run")
        repo.settle_cancels(session)
    removed = 0
    if live_elsewhere:
        log.warning("another pipeline process of this host runs jobs: partials left alone")
    else:
        partials = find_partials(product_folders(settings))
        for partial in partials:
            discard(partial)
            log.warning("removed partial output %s", partial)
        removed = len(partials)
    if dead or groups or removed:
        log.warning(
            "recovered: %d interrupted jobs (%d batches requeued, %d orphan process groups "
            "killed), %d groups requeued, %d partial outputs removed",
            len(dead),
            requeued,
            killed,
            len(groups),
            removed,
        )
    return {
        "jobs": len(dead),
        "batches": requeued,
        "killed": killed,
        "groups": len(groups),
        "partials": removed,
    }
