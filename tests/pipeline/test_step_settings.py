"""A real step runs with the settings' science section and its job records them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from dsa110_contimg.config import load_settings
from dsa110_contimg.pipeline.context import RunOptions, recorded_settings
from dsa110_contimg.pipeline.runner import process_group
from dsa110_contimg.pipeline.steps.convert import run as convert
from dsa110_contimg.pipeline.steps.flag import run as flag
from dsa110_contimg.products import session_scope
from dsa110_contimg.products.models import Job, MeasurementSet


def test_flag_step_uses_and_records_the_flagging_section(
    pipeline_env, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, factory, groups, _ = pipeline_env
    monkeypatch.setenv("DSA110_FLAGGING__AOFLAGGER", "false")
    monkeypatch.setenv("DSA110_FLAGGING__MAD_SIGMA", "6.5")
    changed = load_settings(data_root=settings.data_root)
    assert process_group(changed, factory, groups[0], stages=[("convert", convert), ("flag", flag)])
    with session_scope(factory) as s:
        jobs = {j.job_type: j for j in s.scalars(sa.select(Job))}
        recorded = jobs["flag"].params
        qa = s.scalars(sa.select(MeasurementSet)).one().qa_metrics["flagging"]
    assert recorded["settings"]["flagging"]["aoflagger"] is False
    assert recorded["settings"]["flagging"]["mad_sigma"] == 6.5
    assert recorded == recorded_settings(changed, "flag", RunOptions(**recorded["options"]))
    assert recorded["settings_hash"] != recorded_settings(settings, "flag")["settings_hash"]
    # the step ran the recipe it recorded: no AOFlagger pass, the MAD clip at 6.5 sigma
    assert "aoflagger" not in qa["steps"] and "mad_clip" in qa["steps"]
    assert jobs["convert"].params["settings"] == {}
