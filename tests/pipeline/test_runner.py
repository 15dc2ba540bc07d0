"""Groups through stages as jobs; failures recorded; crash recovery without duplicates."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from dsa110_contimg.pipeline.runner import claim_group, process_group, recover
from dsa110_contimg.pipeline.steps.convert import run as convert
from dsa110_contimg.products import session_scope
from dsa110_contimg.products.models import (
    BatchItem,
    GroupState,
    Job,
    JobStatus,
    MeasurementSet,
    ObservationGroup,
)


def _count(factory, model) -> int:
    with session_scope(factory) as s:
        return s.scalar(sa.select(sa.func.count()).select_from(model))


def test_convert_stage_as_jobs(pipeline_env) -> None:
    settings, factory, groups, _ = pipeline_env
    assert process_group(settings, factory, groups[0], stages=[("convert", convert)])
    with session_scope(factory) as s:
        group = s.get(ObservationGroup, groups[0])
        assert group.state is GroupState.DONE
        ms = s.scalars(sa.select(MeasurementSet)).one()
        assert Path(ms.path).exists() and ms.group_id == groups[0]
        jobs = {j.job_type: j for j in s.scalars(sa.select(Job))}
        assert jobs["batch"].status is JobStatus.SUCCEEDED
        job = jobs["convert"]
        assert job.status is JobStatus.SUCCEEDED and job.parent_id == jobs["batch"].id
        assert job.duration_s > 0 and job.software_version and job.host
        assert len(job.inputs) == 16 and all("size" in v for v in job.inputs.values())
        assert job.outputs["ms_path"] == ms.path
        assert "converted group" in Path(job.log_path).read_text()
        items = s.scalars(sa.select(BatchItem)).all()
        assert [(i.item_key, i.status) for i in items] == [("convert", JobStatus.SUCCEEDED)]
    # a done group is not processed again
    assert not process_group(settings, factory, groups[0], stages=[("convert", convert)])
    assert _count(factory, MeasurementSet) == 1


def test_stage_failure_marks_job_and_group_failed(pipeline_env) -> None:
    settings, factory, groups, _ = pipeline_env

    def broken(ctx):
        raise RuntimeError("wsclean exited with code 1")

    assert not process_group(
        settings, factory, groups[0], stages=[("convert", convert), ("image", broken)]
    )
    with session_scope(factory) as s:
        assert s.get(ObservationGroup, groups[0]).state is GroupState.FAILED
        image_job = s.scalars(sa.select(Job).where(Job.job_type == "image")).one()
        assert image_job.status is JobStatus.FAILED and "wsclean exited" in image_job.error
        assert "wsclean exited" in Path(image_job.log_path).read_text()
    # the next group goes on
    assert process_group(settings, factory, groups[1], stages=[("convert", convert)])


def test_recovery_after_a_crash(pipeline_env) -> None:
    settings, factory, groups, _ = pipeline_env
    # a crash: the group claimed, its job left running, a half-written MS on disk
    assert claim_group(factory, groups[0])
    with session_scope(factory) as s:
        s.add(
            Job(
                run_id="convert-dead",
                job_type="convert",
                status=JobStatus.RUNNING,
                group_id=groups[0],
            )
        )
    partial = settings.ms_dir / f".{groups[0]}.ms.deadbeef.tmp"
    partial.mkdir(parents=True)
    report = recover(settings, factory)
    assert report == {"jobs": 1, "batches": 0, "killed": 0, "groups": 1, "partials": 1}
    assert not partial.exists()
    with session_scope(factory) as s:
        assert (
            s.scalars(sa.select(Job).where(Job.run_id == "convert-dead")).one().status
            is JobStatus.FAILED
        )
        assert s.get(ObservationGroup, groups[0]).state is GroupState.QUEUED
    assert process_group(settings, factory, groups[0], stages=[("convert", convert)])
    assert _count(factory, MeasurementSet) == 1


def test_claim_is_exclusive(pipeline_env) -> None:
    _, factory, groups, _ = pipeline_env
    assert claim_group(factory, groups[1])
    assert not claim_group(factory, groups[1])
    assert not claim_group(factory, "1999-01-01T00:00:00")
