"""Execute the batch operations the API queued: reprocess, rerun, re-image (and settle cancels).

The API records a request as a pending batch job (``job_type='batch'``,
``params.operation``) with one item per target and answers 202; a pipeline
process (the stream daemon, ``dsa110 process``) claims it here, one
conditional update (:func:`~dsa110_contimg.products.repositories.claim_batch`),
so two daemons never run the same batch, and executes its items in order:

* ``reprocess`` (items: groups): supersede the group's products from
  ``params.from_step`` (default: calibrate when new tables exist, else convert)
  and run it again (:func:`dsa110_contimg.pipeline.services.reprocess_group`);
* ``rerun`` (items: jobs): a step's job redoes its group from that step; a
  group's run redoes the group (what failed, or all of it when it had
  succeeded); an API batch is queued again as a new batch;
* ``reimage`` (items: MS paths): the MS's group from the image step, with
  the imaging parameters of ``params`` (:func:`imaging_options`);
* ``mosaic`` (one item): a mosaic of a declination strip over an MJD range
  (``params``: ``dec_deg``, ``mjd_start``, ``mjd_end``, optional
  ``strip_width_deg``), versioned like the daemon's (a new version
  supersedes the strip and range's previous one), or of chosen images
  (``params.image_ids``), by :mod:`dsa110_contimg.pipeline.steps.mosaic`;
* ``cancel``: not claimed; every process settles the open cancels each cycle
  (:func:`~dsa110_contimg.products.repositories.settle_cancels`), and the one
  running a cancelled job stops it between steps or kills its external
  program (:mod:`dsa110_contimg.tools.process`).

Each item runs as a group's ``process`` batch whose parent is the API batch,
so ``/api/jobs/{run_id}`` and the WebSocket topic ``job:<run_id>`` show its
progress. A daemon stopped (SIGTERM) between items puts the batch back in the
queue; one killed is found by ``recover()``, which does the same.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings
from dsa110_contimg.errors import ConfigError, DSA110Error
from dsa110_contimg.pipeline.context import RunOptions
from dsa110_contimg.pipeline.runner import Outcome, run_group
from dsa110_contimg.pipeline.services import reprocess_group
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import JobStatus

log = logging.getLogger(__name__)

#: Imaging parameters a re-image may set (fields of ImagingTier; no free-form arguments).
IMAGING_PARAMETERS = frozenset(
    {
        "size",
        "cell_arcsec",
        "weight",
        "robust",
        "niter",
        "threshold_jy",
        "min_uv_lambda",
        "max_uv_lambda",
        "auto_mask",
        "auto_threshold",
        "mgain",
        "channels_out",
        "spectral_pol",
        "baseline_averaging_lambda",
    }
)
WEIGHTINGS = ("briggs", "natural", "uniform")
#: Run-level choices a batch's params may carry (besides the imaging parameters).
RUN_PARAMETERS = frozenset({"tier", "max_image_size", "blind", "tile_gains"})
#: Keys of a batch's params that are not run options.
BATCH_KEYS = frozenset({"from_step", "mjd_start", "mjd_end", "operation", "reason"})


def imaging_options(params: Mapping[str, Any] | None, base: RunOptions | None = None) -> RunOptions:
    """The run options of a batch's ``params``: tier, size, blind, tile gains, imaging parameters.

    Raises
    ------
    InvalidQueryError
        For an unknown key, an unknown tier or a value out of range (the API
        answers 422 when it checks a request with this).
    """
    from pydantic import ValidationError

    from dsa110_contimg.imaging import get_tier

    params = {k: v for k, v in dict(params or {}).items() if k not in BATCH_KEYS}
    unknown = set(params) - IMAGING_PARAMETERS - RUN_PARAMETERS
    if unknown:
        raise repo.InvalidQueryError(
            f"unknown parameter(s): {', '.join(sorted(unknown))}; allowed: "
            f"{', '.join(sorted(IMAGING_PARAMETERS | RUN_PARAMETERS))}"
        )
    run = {k: params[k] for k in RUN_PARAMETERS & set(params)}
    imaging = {k: params[k] for k in IMAGING_PARAMETERS & set(params)}
    if "weight" in imaging and imaging["weight"] not in WEIGHTINGS:
        raise repo.InvalidQueryError(f"weight must be one of {', '.join(WEIGHTINGS)}")
    for name, allowed in (("blind", (True, False)), ("tile_gains", (True, False, None))):
        if name in run and not any(run[name] is v for v in allowed):
            choices = " or ".join(str(v).lower().replace("none", "null") for v in allowed)
            raise repo.InvalidQueryError(f"{name} must be {choices}, not {run[name]!r}")
    base = base or RunOptions()
    try:
        tier = get_tier(run.get("tier", base.tier))
    except (ConfigError, TypeError) as exc:
        raise repo.InvalidQueryError(f"tier: {exc}") from None
    try:
        type(tier).model_validate({**tier.model_dump(), **imaging})
    except ValidationError as exc:
        raise repo.InvalidQueryError(f"invalid imaging parameters: {_described(exc)}") from None
    size = run.get("max_image_size", base.max_image_size)
    if type(size) is not int or not 16 <= size <= 20000:
        raise repo.InvalidQueryError(
            f"max_image_size must be an integer within 16..20000, not {size!r}"
        )
    return RunOptions(
        tier=tier.name,
        max_image_size=size,
        blind=bool(run.get("blind", base.blind)),
        tile_gains=run.get("tile_gains", base.tile_gains),
        imaging={**base.imaging, **imaging},
    )


def _described(exc: Any) -> str:
    """A pydantic ValidationError as ``name: what it must be (got value)``, one per field."""
    return "; ".join(
        f"{'.'.join(map(str, e['loc'])) or 'params'}: {e['msg']} (got {e.get('input')!r})"
        for e in exc.errors()
    )


def check_batch_params(operation: str, params: Mapping[str, Any] | None) -> RunOptions:
    """Refuse a batch's ``params`` that its execution would refuse; the run options otherwise.

    The API calls this before it answers 202, so a request the pipeline could
    not run is a 422 at once instead of a batch that fails in the worker:
    ``from_step`` must name a step (:func:`~dsa110_contimg.products.repositories.check_from_step`;
    a re-image always starts at ``image``; absent or null, a reprocess starts
    where :func:`~dsa110_contimg.pipeline.services.default_from_step` says when
    it runs) and the rest must pass :func:`imaging_options`.

    Raises
    ------
    InvalidQueryError
        Naming the parameter and the values or range it allows.
    """
    params = dict(params or {})
    step = params.get("from_step")
    if step is not None:  # None: the default (services.default_from_step)
        if operation == "reimage" and step != "image":
            raise repo.InvalidQueryError(
                f"from_step: a re-image starts at the image step, not {step!r}; "
                "reprocess the group to start from another step"
            )
        if not isinstance(step, str):
            raise repo.InvalidQueryError(
                f"from_step must be one of {', '.join(repo.REPROCESS_STEPS)}, not {step!r}"
            )
        try:
            repo.check_from_step(step)
        except repo.InvalidQueryError as exc:
            raise repo.InvalidQueryError(f"from_step: {exc}") from None
    return imaging_options(params)


@dataclass
class ItemResult:
    """How one batch item ended."""

    status: JobStatus
    error: str | None = None
    run_id: str | None = None


class BatchExecutor:
    """Claims and executes the API's batches for one pipeline process."""

    def __init__(
        self,
        settings: Settings,
        factory: sessionmaker[Session],
        *,
        stop: threading.Event | None = None,
        options: RunOptions | Mapping[str, Any] | None = None,
        on_item: Callable[[str, str, JobStatus], None] | None = None,
    ) -> None:
        self.settings = settings
        self.factory = factory
        self.stop = stop or threading.Event()
        self.options = RunOptions.of(options)
        self.on_item = on_item
        self.host = socket.gethostname()
        self.pid = os.getpid()

    # -- the queue ----------------------------------------------------------
    def settle_cancels(self) -> int:
        """Settle the open cancel requests (pending targets cancelled, ended ones noted)."""
        with session_scope(self.factory) as session:
            return repo.settle_cancels(session)

    def pending(self) -> int:
        """How many batches wait."""
        with session_scope(self.factory) as session:
            return len(repo.pending_batch_ids(session))

    def run_next(self) -> str | None:
        """Claim the oldest pending batch and execute it; its run id, or None if none waited."""
        with session_scope(self.factory) as session:
            batch = repo.claim_batch(session, host=self.host, pid=self.pid)
            run_id = batch.run_id if batch is not None else None
        if run_id is None:
            return None
        log.info("claimed batch %s", run_id)
        try:
            self.execute(run_id)
        except Exception as exc:  # e.g. the DB went away mid-batch: back to the queue
            log.error("batch %s interrupted: %s", run_id, exc)
            try:
                with session_scope(self.factory) as session:
                    repo.requeue_batch(session, run_id, f"requeued: interrupted: {exc}")
            except Exception:  # still away: recover() at the next start requeues it
                log.exception("batch %s could not be requeued", run_id)
            raise
        return run_id

    def run_all(self, limit: int | None = None) -> list[str]:
        """Execute pending batches until none waits (or ``limit`` ran, or a stop)."""
        done: list[str] = []
        while not self.stop.is_set() and (limit is None or len(done) < limit):
            run_id = self.run_next()
            if run_id is None:
                break
            done.append(run_id)
        return done

    # -- one batch ----------------------------------------------------------
    def execute(self, batch_run_id: str) -> JobStatus:
        """Run a claimed batch's unfinished items in order; how the batch ended."""
        with session_scope(self.factory) as session:
            batch = repo.get_job(session, batch_run_id)
            params = dict(batch.params or {})
            operation = str(params.get("operation", ""))
            items = [
                (i.position, i.item_type, i.item_key, i.status)
                for i in repo.job_items(session, batch.id)
            ]
        handler = self._handlers().get(operation)
        todo = [it for it in items if it[3] in (JobStatus.PENDING, JobStatus.RUNNING)]
        for n, (position, kind, key, _) in enumerate(todo):
            if self.stop.is_set():
                with session_scope(self.factory) as session:
                    repo.requeue_batch(session, batch_run_id, "requeued: the daemon stopped")
                return JobStatus.PENDING
            with session_scope(self.factory) as session:
                who = repo.cancel_request(session, [batch_run_id])
            if who:
                return self._cancel_rest(batch_run_id, who)
            self._set_item(batch_run_id, position, JobStatus.RUNNING)
            if handler is None:
                result = ItemResult(JobStatus.FAILED, f"unknown operation {operation!r}")
            else:
                try:
                    result = handler(batch_run_id, kind, key, params)
                except DSA110Error as exc:
                    result = ItemResult(JobStatus.FAILED, exc.message)
                except Exception as exc:  # one bad item must not stop the batch or the daemon
                    log.exception("batch %s item %s failed", batch_run_id, key)
                    result = ItemResult(JobStatus.FAILED, f"{type(exc).__name__}: {exc}")
            self._set_item(batch_run_id, position, result.status, result.error, result.run_id)
            if self.on_item:
                self.on_item(batch_run_id, key, result.status)
            with session_scope(self.factory) as session:
                repo.update_job_progress(
                    session, batch_run_id, (n + 1) / len(todo), f"{key}: {result.status}"
                )
            if result.status is JobStatus.CANCELLED:
                with session_scope(self.factory) as session:
                    who = repo.cancel_request(session, [batch_run_id]) or "unknown"
                return self._cancel_rest(batch_run_id, who)
        return self._finish(batch_run_id)

    def _handlers(self) -> dict[str, Callable[[str, str, str, dict], ItemResult]]:
        return {
            "reprocess": self._reprocess,
            "reimage": self._reimage,
            "rerun": self._rerun,
            "mosaic": self._mosaic,
        }

    def _run_group(
        self,
        batch_run_id: str,
        group_id: str,
        from_step: str | None,
        options: RunOptions,
        reason: str,
    ) -> ItemResult:
        done = reprocess_group(
            self.settings,
            self.factory,
            group_id,
            from_step=from_step,
            reason=f"{reason} ({batch_run_id})",
        )
        outcome = run_group(
            self.settings,
            self.factory,
            group_id,
            options=options,
            stop=self.stop.is_set,
            claimed=True,
            parent_run_id=batch_run_id,
        )
        note = f"from {done.from_step}: {outcome}"
        status = {
            Outcome.DONE: JobStatus.SUCCEEDED,
            Outcome.CANCELLED: JobStatus.CANCELLED,
            Outcome.STOPPED: JobStatus.PENDING,
        }.get(outcome, JobStatus.FAILED)
        return ItemResult(status, None if status is JobStatus.SUCCEEDED else note)

    def _reprocess(self, batch_run_id: str, kind: str, key: str, params: dict) -> ItemResult:
        if kind != "group":
            return ItemResult(JobStatus.FAILED, f"reprocess takes groups, not {kind}")
        options = imaging_options(params, self.options)
        return self._run_group(
            batch_run_id, key, params.get("from_step"), options, "reprocess requested"
        )

    def _reimage(self, batch_run_id: str, kind: str, key: str, params: dict) -> ItemResult:
        if kind != "ms":
            return ItemResult(JobStatus.FAILED, f"reimage takes Measurement Sets, not {kind}")
        options = imaging_options(params, self.options)
        with session_scope(self.factory) as session:
            ms = repo.get_ms(session, key)
            group_id, status = ms.group_id, ms.status
        if group_id is None:
            return ItemResult(JobStatus.FAILED, f"MS {key} belongs to no group")
        if status != "ok":
            return ItemResult(JobStatus.FAILED, f"MS {key} is {status}: re-image its group's MS")
        return self._run_group(batch_run_id, group_id, "image", options, "re-image requested")

    def _mosaic(self, batch_run_id: str, kind: str, key: str, params: dict) -> ItemResult:
        from dsa110_contimg.mosaic import make_mosaic
        from dsa110_contimg.pipeline.steps.mosaic import PeriodMosaic, make_period_mosaic, strip_of

        if kind != "mosaic":
            return ItemResult(JobStatus.FAILED, f"mosaic takes a selection, not {kind}")
        out_dir = self.settings.mosaics_dir
        if params.get("image_ids"):
            ids = [int(i) for i in params["image_ids"]]
            name = f"mosaic-{batch_run_id}"
            mosaic_id, _ = make_mosaic(self.factory, name, out_dir, image_ids=ids)
            return ItemResult(JobStatus.SUCCEEDED, f"mosaic {mosaic_id}")
        width = float(params.get("strip_width_deg") or self.settings.mosaic_strip_width_deg)
        start, end = float(params["mjd_start"]), float(params["mjd_end"])
        plan = PeriodMosaic(
            strip_dec_deg=strip_of(float(params["dec_deg"]), width),
            period=f"{round(end - start, 6):g}d",
            mjd_start=start,
            mjd_end=end,
            strip_width_deg=width,
        )
        mosaic_id = make_period_mosaic(
            self.settings, self.factory, plan, out_dir, parent_run_id=batch_run_id
        )
        return ItemResult(JobStatus.SUCCEEDED, f"mosaic {mosaic_id}")

    def _rerun(self, batch_run_id: str, kind: str, key: str, params: dict) -> ItemResult:
        if kind != "job":
            return ItemResult(JobStatus.FAILED, f"rerun takes jobs, not {kind}")
        with session_scope(self.factory) as session:
            job = repo.get_job(session, key)
            job_type, group_id, status = job.job_type, job.group_id, job.status
            job_params = dict(job.params or {})
            operation = job_params.get("operation")
            if job_type == "batch" and job.parent_id is None and operation != "process":
                if operation not in repo.EXECUTED_OPERATIONS:
                    return ItemResult(JobStatus.FAILED, f"a {operation} batch cannot be rerun")
                again = repo.create_batch(
                    session,
                    operation,
                    [(i.item_type, i.item_key) for i in job.items],
                    params={k: v for k, v in job_params.items() if k != "operation"},
                    requested_by=repo.get_job(session, batch_run_id).requested_by,
                )
                return ItemResult(JobStatus.SUCCEEDED, f"queued again as {again.run_id}")
        if status in (JobStatus.PENDING, JobStatus.RUNNING):
            return ItemResult(JobStatus.FAILED, f"job {key} is still {status}")
        if group_id is None:
            return ItemResult(JobStatus.FAILED, f"job {key} ({job_type}) belongs to no group")
        if job_type in repo.REPROCESS_STEPS:
            from_step: str | None = job_type
        elif status is JobStatus.SUCCEEDED:
            from_step = None  # a whole group's run that succeeded: redo it
        else:
            from_step = _first_failed_step(self.factory, key)
        return self._run_group(batch_run_id, group_id, from_step, self.options, f"rerun of {key}")

    # -- bookkeeping ----------------------------------------------------------
    def _set_item(
        self,
        batch_run_id: str,
        position: int,
        status: JobStatus,
        error: str | None = None,
        run_id: str | None = None,
    ) -> None:
        with session_scope(self.factory) as session:
            repo.set_batch_item(session, batch_run_id, position, status, run_id=run_id, error=error)

    def _cancel_rest(self, batch_run_id: str, who: str) -> JobStatus:
        reason = f"cancelled by {who}"
        with session_scope(self.factory) as session:
            repo.cancel_open_items(session, batch_run_id, reason)
            repo.finish_job_if(
                session,
                batch_run_id,
                [JobStatus.RUNNING],
                status=JobStatus.CANCELLED,
                error=reason,
            )
            repo.settle_cancels(session, honoured=[batch_run_id])
        log.warning("batch %s %s", batch_run_id, reason)
        return JobStatus.CANCELLED

    def _finish(self, batch_run_id: str) -> JobStatus:
        with session_scope(self.factory) as session:
            batch = repo.get_job(session, batch_run_id)
            items = repo.job_items(session, batch.id)
            failed = [i for i in items if i.status is not JobStatus.SUCCEEDED]
            status = JobStatus.FAILED if failed else JobStatus.SUCCEEDED
            error = (
                f"{len(failed)} of {len(items)} items failed: "
                + "; ".join(f"{i.item_key}: {i.error}" for i in failed[:5])
                if failed
                else None
            )
            repo.finish_job(session, batch_run_id, status=status, error=error)
        log.info("batch %s %s", batch_run_id, status)
        return status


def _first_failed_step(factory: sessionmaker[Session], process_run_id: str) -> str | None:
    """The step a failed group run stopped at (None: redo the whole group)."""
    with session_scope(factory) as session:
        job = repo.get_job(session, process_run_id)
        for item in repo.job_items(session, job.id):
            if item.status is JobStatus.FAILED and item.item_key in repo.REPROCESS_STEPS:
                return item.item_key
    return None
