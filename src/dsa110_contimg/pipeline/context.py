"""What a step gets: :class:`StepContext`, the run's :class:`RunOptions`, and the options pattern.

A run (``dsa110 process``, the stream, the demo, a requeue from the API)
chooses a few things beyond the settings: the imaging tier, the largest image
size, blind finding, tile gains. They travel as one frozen :class:`RunOptions`
in :attr:`StepContext.options`
(picklable, so batch workers in other processes get the same).

Each step turns the settings and the run's choices into its own frozen
options record in its first line, then reads only that record::

    @dataclass(frozen=True)
    class ImageOptions:
        tier: str = "standard"
        max_image_size: int = 2400

        @classmethod
        def from_settings(cls, settings: Settings, run: RunOptions) -> ImageOptions:
            return cls(tier=run.tier, max_image_size=run.max_image_size)

    def run(ctx: StepContext) -> dict[str, Any]:
        options = ImageOptions.from_settings(ctx.settings, ctx.options)

so a step is testable with a hand-made record and what it was asked to do is
written in one place. A new run-level choice is a new field here.

What a step reads of the settings is named in :data:`STEP_SETTINGS`; the
runner records those values, the run's options and a short hash of both in
the step's job ``params`` (:func:`recorded_settings`), so the provenance of
every product says which thresholds made it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from dsa110_contimg.config import Settings
from dsa110_contimg.pipeline.jobs import JobHandle


@dataclass(frozen=True)
class RunOptions:
    """A run's choices for its steps, beyond the settings.

    Attributes
    ----------
    tier : str
        Imaging tier name (:func:`dsa110_contimg.imaging.get_tier`).
    max_image_size : int
        Largest image side in pixels after the tier is scaled to the array.
    blind : bool
        Also run PyBDSF blind finding and back-fill new sources (slow).
    tile_gains : bool or None
        Solve tile gains between transits; None takes ``settings.tile_gains``.
    imaging : dict
        Imaging parameters that override the tier's after it is scaled to the
        array (a re-image with chosen parameters; checked by
        :func:`dsa110_contimg.pipeline.operations.imaging_options`).
    """

    tier: str = "standard"
    max_image_size: int = 2400
    blind: bool = False
    tile_gains: bool | None = None
    imaging: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, value: RunOptions | Mapping[str, Any] | None) -> RunOptions:
        """A run's options from a record, a mapping of field names (CLI, API, tests) or None.

        Raises
        ------
        TypeError
            For a name that is not a run option (a typo would otherwise be ignored).
        """
        if isinstance(value, RunOptions):
            return value
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = set(value or {}) - fields
        if unknown:
            raise TypeError(f"unknown run option(s): {', '.join(sorted(unknown))}")
        return cls(**dict(value or {}))


#: The settings each step's results depend on (science sections and plain settings).
STEP_SETTINGS: dict[str, tuple[str, ...]] = {
    "flag": ("flagging",),
    "calibrate": ("solve", "tile_gains", "beam_model"),
    "image": ("imaging", "beam_model"),
    "photometry": ("photometry", "variability", "variability_preset"),
}


def settings_hash(values: Mapping[str, Any]) -> str:
    """A short (12 hex digits) SHA-256 of JSON values, keys sorted: equal values, equal hash."""
    text = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def recorded_settings(
    settings: Settings, step: str, options: RunOptions | None = None
) -> dict[str, Any]:
    """What a step's job records of what shaped its results, for its ``params``.

    ``{"settings": {name: value}, "options": {...}, "settings_hash": "..."}``:
    the settings of :data:`STEP_SETTINGS` (a step not listed records none),
    the run's options, and a hash of both (two jobs with the same hash ran
    with the same thresholds). For the image step ``imaging`` holds the
    tier overrides in effect (``DSA110_IMAGING_TIERS``'s file, then
    ``settings.imaging.tiers``) and the run's tier with them applied
    (``tier``, before scaling to the array).
    """
    values = settings.science(*STEP_SETTINGS.get(step, ()))
    run = dataclasses.asdict(options) if options is not None else {}
    if step == "image" and options is not None:
        from dsa110_contimg.imaging import get_tier

        overrides = settings.imaging.overrides()
        tier = get_tier(options.tier, overrides).model_dump(mode="json")
        values["imaging"] = {"tiers": overrides, "tier": tier}
    recorded = {"settings": values, "options": run}
    return {**recorded, "settings_hash": settings_hash(recorded)}


@dataclass
class StepContext:
    """What a step gets from the runner.

    Attributes
    ----------
    settings : Settings
        Folders, thresholds and defaults.
    factory : sessionmaker
        Opens short sessions on the products DB (read, then write; none held
        while computing).
    group_id : str
        The observation group the step works on.
    job : JobHandle
        The step's job row (inputs, outputs, log).
    state : dict
        What earlier steps of this run returned, by step name.
    options : RunOptions
        The run's choices; each step derives its own options record from them.
    """

    settings: Settings
    factory: sessionmaker[Session]
    group_id: str
    job: JobHandle
    state: dict[str, Any] = field(default_factory=dict)
    options: RunOptions = field(default_factory=RunOptions)

    def __post_init__(self) -> None:
        self.options = RunOptions.of(self.options)
