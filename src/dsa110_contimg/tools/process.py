"""Start external programs (WSClean, CASA helpers) so that none outlives its job.

Every child is started by :func:`run_child`, which

* puts it in its own process group (session), so the whole tree it spawns is
  signalled at once (``os.killpg``);
* sets the Linux parent-death signal (``prctl(PR_SET_PDEATHSIG, SIGKILL)``)
  in the child before it execs: when the daemon dies, even by ``kill -9``,
  the kernel kills the child. (The signal follows the *thread* that started
  the child; the pipeline starts children from long-lived threads only.)
* tells the current job its process-group id (:func:`watching`), which the
  runner records on the job row, so :func:`~dsa110_contimg.pipeline.runner.recover`
  can kill a group that survived (say, a grandchild that left the group's
  parent-death protection);
* polls a stop request while it waits: a cancel stops the child within
  ``poll_s`` plus a short grace period (SIGTERM, then SIGKILL) and raises
  :class:`JobCancelled`.
"""

from __future__ import annotations

import contextlib
import contextvars
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from dsa110_contimg.errors import StageError

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1

#: Seconds between SIGTERM and SIGKILL when a child is stopped.
GRACE_S = 2.0


class JobCancelled(StageError):
    """The job was cancelled on request while it ran (``requested_by`` says who)."""

    def __init__(self, message: str, *, requested_by: str | None = None) -> None:
        super().__init__(message)
        self.requested_by = requested_by


@dataclass
class Watch:
    """What the running job wants to know about its children.

    Attributes
    ----------
    on_start, on_end : callable
        Told the child's process-group id when it starts and when it has ended.
    stop : callable
        Asked every ``poll_s`` while a child runs; returns who asked for a
        cancel (a non-empty string) or a false value to carry on.
    """

    on_start: Callable[[int], None] | None = None
    on_end: Callable[[int], None] | None = None
    stop: Callable[[], str | bool | None] | None = None


_watch: contextvars.ContextVar[Watch | None] = contextvars.ContextVar("child_watch", default=None)


@contextlib.contextmanager
def watching(watch: Watch) -> Iterator[Watch]:
    """Let :func:`run_child` calls inside the ``with`` body report to ``watch``."""
    token = _watch.set(watch)
    try:
        yield watch
    finally:
        _watch.reset(token)


def _libc() -> Any:
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _preexec(parent_pid: int) -> Callable[[], None]:
    libc = _libc()  # loaded before the fork: nothing to look up in the child

    def setup() -> None:
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            os._exit(111)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(112)

    return setup


def die_with_parent(parent_pid: int) -> None:
    """Give this process the parent-death signal (SIGKILL when ``parent_pid`` dies).

    The initializer of ``dsa110 process``'s pool workers: without it a worker of
    a killed parent goes on with its group, and its WSClean (whose own
    parent-death signal follows the worker) with it.
    """
    _preexec(parent_pid)()


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Signal a process group; False if it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        log.warning("process group %d belongs to someone else: not signalled", pgid)
        return False
    return True


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group, from ``/proc``."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        # after the command: state, ppid, pgrp, ...
        if fields[0] != "Z" and int(fields[2]) == pgid:
            members.append(int(entry.name))
    return members


def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process of the group still exists."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return bool(group_members(pgid)) if os.path.isdir("/proc/self") else True


def stop_group(proc: subprocess.Popen, grace_s: float = GRACE_S) -> None:
    """SIGTERM the child's process group, SIGKILL it after ``grace_s``; reap the child."""
    kill_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    kill_group(proc.pid, signal.SIGKILL)
    proc.wait()


def run_child(
    cmd: Sequence[str],
    *,
    stdout: IO[Any] | int | None = None,
    stderr: IO[Any] | int | None = None,
    env: dict[str, str] | None = None,
    cwd: str | os.PathLike[str] | None = None,
    timeout: float | None = None,
    poll_s: float = 0.5,
    text: bool = False,
) -> subprocess.CompletedProcess[Any]:
    """Run ``cmd`` to its end as a protected child; return its exit code and output.

    ``stdout``/``stderr`` as for :class:`subprocess.Popen` (``subprocess.PIPE``
    captures). The child's output pipes are read by ``communicate`` in slices
    of ``poll_s`` so that a stop request is seen while it runs.

    Raises
    ------
    subprocess.TimeoutExpired
        After ``timeout`` seconds (the whole process group is killed first).
    JobCancelled
        When the current job was cancelled (the group is stopped first).
    """
    watch = _watch.get() or Watch()
    proc = subprocess.Popen(
        list(cmd),
        stdout=stdout,
        stderr=stderr,
        env=env if env is not None else os.environ.copy(),
        cwd=cwd,
        text=text,
        start_new_session=True,
        preexec_fn=_preexec(os.getpid()),
    )
    pgid = proc.pid
    if watch.on_start:
        watch.on_start(pgid)
    t0 = time.monotonic()
    out: Any = None
    err: Any = None
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=poll_s)
                break
            except subprocess.TimeoutExpired:
                pass
            if timeout is not None and time.monotonic() - t0 > timeout:
                stop_group(proc, grace_s=0.0)
                raise subprocess.TimeoutExpired(list(cmd), timeout)
            who = watch.stop() if watch.stop else None
            if who:
                log.warning("stopping %s (pid %d): cancelled by %s", cmd[0], pgid, who)
                stop_group(proc)
                raise JobCancelled(
                    f"cancelled by {who} while {os.path.basename(cmd[0])} ran",
                    requested_by=str(who),
                )
    except BaseException:
        if proc.poll() is None:
            stop_group(proc, grace_s=0.0)
        raise
    finally:
        # the leader has ended; anything it left in its group goes too
        kill_group(pgid, signal.SIGKILL)
        if watch.on_end:
            watch.on_end(pgid)
    return subprocess.CompletedProcess(list(cmd), proc.returncode, out, err)
