"""Run one unit of work as a job row: status, timings, provenance and its own log.

``job_run`` opens a job (pending -> running), sends every log record of the
package and the job's external tools into ``logs/<run_id>.log`` while it runs,
and closes it succeeded with its outputs, or failed with the reason. Each
state change is its own short transaction, so the API sees progress live.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import socket
import traceback
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg import __version__
from dsa110_contimg.errors import DSA110Error, StageError
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import JobStatus
from dsa110_contimg.tools.process import JobCancelled

log = logging.getLogger(__name__)


def describe_inputs(
    paths: Sequence[str | Path], checksum: bool = False
) -> dict[str, dict[str, Any]]:
    """Provenance of input files: size and mtime, and a SHA-256 when asked (slow for GBs)."""
    out: dict[str, dict[str, Any]] = {}
    for p in map(Path, paths):
        if not p.exists():
            out[str(p)] = {"missing": True}
            continue
        if p.is_dir():
            files = [f for f in p.rglob("*") if f.is_file()]
            out[str(p)] = {"size": sum(f.stat().st_size for f in files), "mtime": p.stat().st_mtime}
            continue
        entry: dict[str, Any] = {"size": p.stat().st_size, "mtime": p.stat().st_mtime}
        if checksum:
            digest = hashlib.sha256()
            with open(p, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
            entry["sha256"] = digest.hexdigest()
        out[str(p)] = entry
    return out


@dataclass
class JobHandle:
    """What a running stage can do with its job."""

    run_id: str
    log_path: Path
    factory: sessionmaker[Session]
    outputs: dict[str, Any] = field(default_factory=dict)

    def record_inputs(self, inputs: Mapping[str, Any]) -> None:
        """Store the provenance of the stage's inputs on its job row."""
        with session_scope(self.factory) as session:
            repo.get_job(session, self.run_id).inputs = dict(inputs)

    def progress(self, fraction: float, message: str | None = None) -> None:
        """Record and announce progress (0..1)."""
        with session_scope(self.factory) as session:
            repo.update_job_progress(session, self.run_id, min(max(fraction, 0.0), 1.0), message)


@contextlib.contextmanager
def job_run(
    factory: sessionmaker[Session],
    logs_dir: Path,
    *,
    job_type: str,
    group_id: str | None = None,
    parent_run_id: str | None = None,
    params: Mapping[str, Any] | None = None,
    inputs: Mapping[str, Any] | None = None,
) -> Iterator[JobHandle]:
    """Run the ``with`` body as a job; failures are recorded, then re-raised as StageError."""
    with session_scope(factory) as session:
        job = repo.create_job(
            session,
            job_type=job_type,
            group_id=group_id,
            parent_run_id=parent_run_id,
            params=dict(params or {}),
            inputs=dict(inputs or {}),
            software_version=__version__,
        )
        run_id = job.run_id
        log_path = Path(logs_dir) / f"{run_id}.log"
        repo.start_job(session, run_id, host=socket.gethostname(), log_path=str(log_path))
    log_path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(log_path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    package_logger = logging.getLogger("dsa110_contimg")
    package_logger.addHandler(handler)
    if package_logger.level == logging.NOTSET or package_logger.level > logging.INFO:
        package_logger.setLevel(logging.INFO)
    handle = JobHandle(run_id, log_path, factory)
    log.info("job %s (%s) started for group %s", run_id, job_type, group_id)
    try:
        yield handle
    except BaseException as exc:
        reason = f"{type(exc).__name__}: {exc}"
        log.error("job %s failed: %s\n%s", run_id, reason, traceback.format_exc())
        with session_scope(factory) as session:
            cancelled = isinstance(exc, KeyboardInterrupt | JobCancelled)
            status = JobStatus.CANCELLED if cancelled else JobStatus.FAILED
            repo.finish_job(session, run_id, status=status, error=reason)
        if isinstance(exc, DSA110Error) or not isinstance(exc, Exception):
            raise
        raise StageError(
            f"{job_type} failed for group {group_id}: {reason}", hint=f"log: {log_path}"
        ) from exc
    else:
        log.info("job %s (%s) succeeded", run_id, job_type)
        with session_scope(factory) as session:
            repo.finish_job(session, run_id, outputs=handle.outputs)
    finally:
        package_logger.removeHandler(handler)
        handler.close()
