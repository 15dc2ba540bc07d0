"""The run's typed options reach the steps; the services the CLI and the steps share."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from click.testing import CliRunner

from dsa110_contimg.cli import main
from dsa110_contimg.errors import NotFoundError, StageError
from dsa110_contimg.pipeline.context import RunOptions, StepContext
from dsa110_contimg.pipeline.runner import claim_group, process_group
from dsa110_contimg.pipeline.services import requeue_groups
from dsa110_contimg.pipeline.steps.image import ImageOptions
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products import session_scope
from dsa110_contimg.products.models import GroupState


def test_run_options_are_typed_checked_and_picklable() -> None:
    options = RunOptions.of({"tier": "quicklook", "blind": True})
    assert (options.tier, options.blind, options.max_image_size) == ("quicklook", True, 2400)
    assert RunOptions.of(options) is options and RunOptions.of(None) == RunOptions()
    assert pickle.loads(pickle.dumps(options)) == options  # batch workers get the same
    with pytest.raises(TypeError, match="unknown run option.*tire"):
        RunOptions.of({"tire": "deep"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.tier = "deep"  # type: ignore[misc]


def test_steps_get_the_run_options_as_a_record(pipeline_env) -> None:
    settings, factory, groups, _ = pipeline_env
    seen: list[StepContext] = []

    def spy(ctx: StepContext) -> dict:
        seen.append(ctx)
        return {"tier": ImageOptions.from_settings(ctx.settings, ctx.options).tier}

    assert process_group(
        settings, factory, groups[0], stages=[("spy", spy)], options={"tier": "deep"}
    )
    (ctx,) = seen
    assert ctx.options == RunOptions(tier="deep") and ctx.group_id == groups[0]
    image = ImageOptions.from_settings(ctx.settings, ctx.options)
    assert image == ImageOptions(images_dir=settings.images_dir, tier="deep", max_image_size=2400)
    assert ctx.state == {"spy": {"tier": "deep"}}


def test_every_step_has_its_options_record() -> None:
    """Each step of STEPS builds a frozen ``<Step>Options`` from the settings and the run."""
    import sys

    from dsa110_contimg.config import Settings
    from dsa110_contimg.pipeline.steps import STEPS

    settings = Settings()
    for name, run in STEPS:
        options_type = getattr(sys.modules[run.__module__], f"{name.capitalize()}Options")
        options = options_type.from_settings(settings, RunOptions())
        with pytest.raises(dataclasses.FrozenInstanceError):
            options.x = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("setting", "run", "expected"),
    [(True, None, True), (False, None, False), (True, False, False), (False, True, True)],
)
def test_calibrate_options_take_the_runs_tile_gains_over_the_settings(
    setting: bool, run: bool | None, expected: bool
) -> None:
    from dsa110_contimg.config import Settings
    from dsa110_contimg.pipeline.steps.calibrate import CalibrateOptions

    settings = Settings(tile_gains=setting)
    options = CalibrateOptions.from_settings(settings, RunOptions(tile_gains=run))
    assert options == CalibrateOptions(tile_gains=expected)


def _states(factory, ids) -> dict[str, GroupState]:
    with session_scope(factory) as s:
        return {g.id: g.state for g in repo.groups_by_id(s, ids)}


def test_requeue_groups_all_or_none(pipeline_env) -> None:
    settings, factory, groups, _ = pipeline_env
    assert process_group(settings, factory, groups[0], stages=[("noop", lambda ctx: {})])
    assert _states(factory, groups)[groups[0]] is GroupState.DONE

    with pytest.raises(NotFoundError, match="unknown groups: nope"):
        requeue_groups(factory, [groups[0], "nope"])
    assert _states(factory, groups)[groups[0]] is GroupState.DONE  # nothing changed

    assert claim_group(factory, groups[1])  # being processed now
    with pytest.raises(StageError, match="being processed"):
        requeue_groups(factory, groups)
    assert _states(factory, groups) == {
        groups[0]: GroupState.DONE,
        groups[1]: GroupState.PROCESSING,
    }

    assert requeue_groups(factory, [groups[0]]) == [groups[0]]
    assert _states(factory, groups)[groups[0]] is GroupState.QUEUED
    assert process_group(settings, factory, groups[0], stages=[("noop", lambda ctx: {})])


def test_reprocess_group_claims_it_and_clears_its_error(pipeline_env) -> None:
    from dsa110_contimg.pipeline.services import reprocess_group

    settings, factory, groups, _ = pipeline_env
    with session_scope(factory) as s:
        repo.set_group_state(s, groups[0], GroupState.FAILED, "wsclean crashed")
    done = reprocess_group(settings, factory, groups[0], from_step="convert", reason="test")
    assert (done.group_id, done.from_step) == (groups[0], "convert")
    with session_scope(factory) as s:
        group = repo.get_group(s, groups[0])
        assert (group.state, group.error) == (GroupState.PROCESSING, None)
    with pytest.raises(StageError, match="being processed now"):  # it is claimed
        reprocess_group(settings, factory, groups[0], from_step="convert", reason="again")


def test_reprocess_of_an_unknown_group_is_a_usage_error(pipeline_env, monkeypatch) -> None:
    settings, _, _, _ = pipeline_env
    monkeypatch.setenv("DSA110_DATA_ROOT", str(settings.data_root))
    result = CliRunner().invoke(main, ["reprocess", "no-such-group"])
    assert result.exit_code == 2, result.output
    assert "unknown group" in result.output and "no-such-group" in result.output
