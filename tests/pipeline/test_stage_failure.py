"""A real stage failure: WSClean crashes on the first group; the stream records it and goes on.

The `wsclean` found on PATH is a wrapper that fails once (as WSClean does
when it runs out of memory: a message and exit 134) and then hands over to
Debian's WSClean. The image stage, the job rows and the stream are the real
ones; only the external tool's failure is injected.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa

from dsa110_contimg.ingest import IngestPolicy
from dsa110_contimg.pipeline.stream import run_stream
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import GroupState, Image, Job, JobStatus, ObservationGroup

from .conftest import prepare_root

REAL_WSCLEAN = shutil.which("wsclean")


@pytest.mark.requires("wsclean")
def test_wsclean_crash_fails_the_group_and_the_stream_goes_on(
    tmp_path: Path, sim_two_groups, monkeypatch: pytest.MonkeyPatch
) -> None:
    sim_dir, truth = sim_two_groups
    settings = prepare_root(tmp_path / "root", sim_dir)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    marker = tmp_path / "crashed-once"
    wrapper = bin_dir / "wsclean"
    wrapper.write_text(
        "#!/bin/sh\n"
        f'if [ -e "{marker}" ]; then exec "{REAL_WSCLEAN}" "$@"; fi\n'
        f'touch "{marker}"\n'
        'echo "Error: std::bad_alloc while gridding (injected)" >&2\n'
        "exit 134\n"
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    outcomes: list[tuple[str, bool]] = []
    engine = make_engine(settings.db_url)
    factory = make_session_factory(engine)
    try:
        run_stream(
            settings,
            factory,
            threading.Event(),
            interval=0.0,
            once=True,
            policy=IngestPolicy.from_settings(settings, settle_s=0.0),
            on_group=lambda gid, ok: outcomes.append((gid, ok)),
            options={"tier": "quicklook"},
        )
        assert [ok for _, ok in outcomes] == [False, True], outcomes
        (failed, _), (done, _) = outcomes
        with session_scope(factory) as s:
            assert s.get(ObservationGroup, failed).state is GroupState.FAILED
            assert s.get(ObservationGroup, done).state is GroupState.DONE
            job = s.scalars(
                sa.select(Job).where(Job.job_type == "image", Job.group_id == failed)
            ).one()
            assert job.status is JobStatus.FAILED
            assert "wsclean failed" in job.error and "exit 134" in job.error
            assert "bad_alloc" in job.error  # the tool's own words, not just a code
            assert "bad_alloc" in Path(job.log_path).read_text()
            # nothing half-made registered for the failed group; the next one imaged
            images = s.scalars(sa.select(Image)).all()
            assert images and all(failed not in img.path for img in images)
            # the daemon's sign of life, which /api/health and /metrics report
            beat = repo.last_heartbeat(s)
            assert beat is not None and beat.payload["pid"] == os.getpid()
    finally:
        engine.dispose()
    assert len(truth["groups"]) == 2
