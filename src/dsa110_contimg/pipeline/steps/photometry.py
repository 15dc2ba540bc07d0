"""Step 5: forced photometry, normalisation, light curves and candidates.

Read, compute, write (:mod:`dsa110_contimg.photometry.stage`): a short
session reads the image's inputs; the pixels, PyBDSF and the back-fill run
with no session open; a second short session writes the results. SQLite's
write lock is held only for the writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dsa110_contimg.config import Settings
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.photometry.forced import DEFAULT_FORCED_OPTIONS, ForcedOptions
from dsa110_contimg.photometry.records import DEFAULT_RULES, ReferenceRules
from dsa110_contimg.pipeline.context import RunOptions, StepContext
from dsa110_contimg.pipeline.jobs import describe_inputs
from dsa110_contimg.pipeline.steps.common import ms_row
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import Image, ProductStatus
from dsa110_contimg.variability.candidates import PRESETS, Preset
from dsa110_contimg.variability.new_sources import DEFAULT_NEW_SOURCE_OPTIONS, NewSourceOptions

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PhotometryOptions:
    """What the photometry step is asked to do.

    Attributes
    ----------
    blind : bool
        Also run PyBDSF blind finding and back-fill new sources (slow).
    preset : Preset
        Candidate preset: its thresholds, error floor and ESE options
        (``variability_preset`` with ``settings.variability``'s values).
    references : ReferenceRules
        How the epoch's flux references are chosen and used
        (``settings.photometry.normalisation``).
    forced : ForcedOptions
        The forced photometry's thresholds (``settings.photometry``).
    new_sources : NewSourceOptions
        Thresholds of the new-source candidates (``settings.variability.new_sources``).
    """

    blind: bool = False
    preset: Preset = PRESETS["conservative"]
    references: ReferenceRules = DEFAULT_RULES
    forced: ForcedOptions = DEFAULT_FORCED_OPTIONS
    new_sources: NewSourceOptions = DEFAULT_NEW_SOURCE_OPTIONS

    @classmethod
    def from_settings(cls, settings: Settings, options: RunOptions) -> PhotometryOptions:
        """The settings' values, with a run's ``blind`` option."""
        return cls(
            blind=options.blind,
            preset=settings.candidate_preset(),
            references=settings.photometry.rules(),
            forced=settings.photometry.forced(),
            new_sources=settings.variability.new_source_options(),
        )


def newest_pbcor_image(images: list[Image]) -> Image | None:
    """The newest version among an MS's usable primary-beam-corrected images."""
    usable = [i for i in images if i.status == ProductStatus.OK and i.pbcor]
    return max(usable, key=lambda i: i.version, default=None)


def run(ctx: StepContext) -> dict[str, Any]:
    """Forced photometry at catalog positions, normalisation, light curves, candidates."""
    from dsa110_contimg.photometry.field import read_inputs
    from dsa110_contimg.photometry.stage import compute_measurement, skipped
    from dsa110_contimg.photometry.store import write_measurement

    options = PhotometryOptions.from_settings(ctx.settings, ctx.options)
    ms = ms_row(ctx)
    with session_scope(ctx.factory) as session:  # read
        image_row = newest_pbcor_image(repo.images_of_ms(session, ms.id))
        if image_row is None:
            raise InputDataError(
                f"group {ctx.group_id} has no pb-corrected image", hint="run the image stage"
            )
        inputs = read_inputs(
            session, image_row, ctx.settings, blind=options.blind, rules=options.references
        )
    ctx.job.record_inputs(describe_inputs([inputs.image.path]))
    if inputs.n_measured:
        return skipped(inputs)
    measurement = compute_measurement(  # no session open
        inputs, blind=options.blind, forced=options.forced
    )
    with session_scope(ctx.factory) as session:  # write
        return write_measurement(
            session, measurement, preset=options.preset, new_sources=options.new_sources
        )
