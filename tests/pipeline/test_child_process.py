"""External programs die with their parent, are recorded, and stop on a cancel (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from dsa110_contimg.tools.process import JobCancelled, Watch, group_alive, run_child, watching


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead for our purpose (it waits to be reaped by init)
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][0] != "Z"


def _wait_gone(pid: int, timeout: float) -> float:
    t0 = time.monotonic()
    while _alive(pid):
        assert time.monotonic() - t0 < timeout, f"pid {pid} still alive after {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - t0


def _wait_file(path: Path, timeout: float = 30.0) -> str:
    t0 = time.monotonic()
    while not (path.exists() and path.read_text().strip()):
        assert time.monotonic() - t0 < timeout, f"{path} never written"
        time.sleep(0.05)
    return path.read_text().strip()


def test_child_dies_with_a_killed_parent(tmp_path: Path) -> None:
    """SIGKILL of the parent (no cleanup code runs) kills the child: the parent-death signal."""
    pidfile = tmp_path / "child.pid"
    code = textwrap.dedent(
        f"""
        import sys
        from dsa110_contimg.tools.process import run_child
        run_child(["sh", "-c", "echo $$ > {pidfile}; exec sleep 600"])
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        child = int(_wait_file(pidfile))
        assert _alive(child)
        assert os.getpgid(child) == child, "the child leads its own process group"
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        _wait_gone(child, timeout=5.0)
    finally:
        if parent.poll() is None:
            parent.kill()


def test_plain_popen_child_would_survive(tmp_path: Path) -> None:
    """The control: without the helper, a SIGKILLed parent leaves its child running."""
    pidfile = tmp_path / "child.pid"
    code = textwrap.dedent(
        f"""
        import subprocess
        subprocess.Popen(["sh", "-c", "echo $$ > {pidfile}; exec sleep 600"],
                         start_new_session=True).wait()
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", code])
    child = int(_wait_file(pidfile))
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=10)
    time.sleep(1.0)
    try:
        assert _alive(child)
    finally:
        os.killpg(child, signal.SIGKILL)


POOL_PARENT = """
import sys, time
from dsa110_contimg.config import load_settings
from dsa110_contimg.pipeline.batch import open_executor

if __name__ == "__main__":
    with open_executor(load_settings(data_root=sys.argv[1]), "local", 2, None) as wave:
        pool = wave.args[0]  # the ProcessPoolExecutor of `dsa110 process --executor local`
        busy = [pool.submit(time.sleep, 600) for _ in range(2)]
        time.sleep(600)
"""


def _pool_workers(pid: int) -> list[int]:
    """Live (not zombie) multiprocessing workers whose parent is ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            worker = b"spawn_main" in (entry / "cmdline").read_bytes()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[1]) == pid and worker:
            found.append(int(entry.name))
    return found


def test_pool_workers_die_with_a_killed_parent(tmp_path: Path) -> None:
    """kill -9 of `dsa110 process` (local pool): its workers, busy with a task, die too."""
    script = tmp_path / "parent.py"  # a file, not -c: spawn re-imports the main module
    script.write_text(POOL_PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path / "root")])
    workers: list[int] = []
    try:
        t0 = time.monotonic()
        while len(workers) < 2:
            assert parent.poll() is None and time.monotonic() - t0 < 60, "no pool workers"
            time.sleep(0.1)
            workers = _pool_workers(parent.pid)
        time.sleep(1.0)  # the workers past their initializer, each in its task
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        for worker in workers:
            _wait_gone(worker, timeout=5.0)
    finally:
        if parent.poll() is None:
            parent.kill()
        for worker in filter(_alive, workers):
            os.kill(worker, signal.SIGKILL)


def test_cancel_stops_the_whole_group_and_records_it(tmp_path: Path) -> None:
    grandchild = tmp_path / "grandchild.pid"
    seen: list[tuple[str, int]] = []
    asked = {"who": None}

    def stop() -> str | None:
        return asked["who"]

    watch = Watch(
        on_start=lambda pgid: seen.append(("start", pgid)),
        on_end=lambda pgid: seen.append(("end", pgid)),
        stop=stop,
    )
    # the child starts a grandchild in its group, then waits
    cmd = ["sh", "-c", f"sleep 600 & echo $! > {grandchild}; wait"]
    t0 = time.monotonic()
    with watching(watch):
        import threading

        def later() -> None:
            _wait_file(grandchild)
            asked["who"] = "operator-x"

        threading.Thread(target=later, daemon=True).start()
        with pytest.raises(JobCancelled) as info:
            run_child(cmd, poll_s=0.2)
    elapsed = time.monotonic() - t0
    assert info.value.requested_by == "operator-x"
    assert "cancelled by operator-x" in str(info.value)
    assert elapsed < 10.0
    assert [k for k, _ in seen] == ["start", "end"] and seen[0][1] == seen[1][1]
    assert not group_alive(seen[0][1])
    _wait_gone(int(grandchild.read_text()), timeout=3.0)


def test_timeout_kills_the_group() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        run_child(["sleep", "30"], timeout=0.5, poll_s=0.1)


def test_exit_code_and_output() -> None:
    done = run_child(
        ["sh", "-c", "echo out; echo err >&2; exit 3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")
