"""Step 4: WSClean imaging, primary-beam correction, QA and previews."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dsa110_contimg.config import Settings
from dsa110_contimg.errors import InputDataError
from dsa110_contimg.pipeline.context import RunOptions, StepContext
from dsa110_contimg.pipeline.steps.common import beam_model_for, ms_row
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageOptions:
    """What the image step is asked to do.

    Attributes
    ----------
    images_dir : Path
        Folder of the images (``<images_dir>/<group>/``).
    tier : str
        Imaging tier name, scaled to the array and band before use.
    max_image_size : int
        Largest image side after scaling, pixels.
    data_column : str
        The MS column imaged (the calibrated data).
    beam_model : str
        ``airy`` or ``measured`` (the newest registered beam model valid then).
    tier_overrides : dict
        ``{tier name: {parameter: value}}`` applied to the tiers before
        scaling: the ``DSA110_IMAGING_TIERS`` file's, ``settings.imaging.tiers``
        on top.
    """

    images_dir: Path
    tier: str = "standard"
    max_image_size: int = 2400
    data_column: str = "CORRECTED_DATA"
    beam_model: str = "airy"
    tier_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, run: RunOptions) -> ImageOptions:
        """The settings' images folder and tier overrides with the run's tier and size limit."""
        return cls(
            images_dir=Path(settings.images_dir),
            tier=run.tier,
            max_image_size=run.max_image_size,
            beam_model=settings.beam_model,
            tier_overrides=settings.imaging.overrides(),
        )


def run(ctx: StepContext) -> dict[str, Any]:
    """WSClean on CORRECTED_DATA (tier scaled to the array), pb correction, QA, previews."""
    from dsa110_contimg.imaging import get_tier, image_ms, register_imaging
    from dsa110_contimg.imaging.msinfo import read_ms_summary
    from dsa110_contimg.imaging.stage import next_image_version
    from dsa110_contimg.imaging.tiers import scale_tier

    options = ImageOptions.from_settings(ctx.settings, ctx.options)
    ms = ms_row(ctx)
    with session_scope(ctx.factory) as session:
        if repo.current_image_of_ms(session, ms.id) is not None:
            return {"ms_path": ms.path, "skipped": True}
        version = next_image_version(session, ms.id)
        beam_model = beam_model_for(session, options.beam_model, ms.mjd_mid)
    if not ms.cal_applied:
        raise InputDataError(
            f"MS {ms.path} is not calibrated ({ms.note or 'no tables applied'})",
            hint="a group with no valid calibration is not imaged",
        )
    summary = read_ms_summary(ms.path)
    tier = scale_tier(
        get_tier(options.tier, options.tier_overrides),
        max_baseline_m=summary.max_baseline_m,
        freq_min_hz=float(summary.freqs_hz.min()),
        freq_max_hz=float(summary.freqs_hz.max()),
        max_size=options.max_image_size,
    )
    if ctx.options.imaging:  # a re-image with chosen parameters
        tier = type(tier).model_validate({**tier.model_dump(), **ctx.options.imaging})
    result = image_ms(
        ms.path,
        options.images_dir / ctx.group_id,
        tier=tier,
        data_column=options.data_column,
        version=version,
        beam_model=beam_model,
        catalog_db=ctx.settings.catalog_db,
    )
    with session_scope(ctx.factory) as session:
        rows = register_imaging(session, result, ms.id)
        ids = {r.image_type: r.id for r in rows}
    return {
        "ms_path": ms.path,
        "images": {k: str(v) for k, v in result.products.items()},
        "image_ids": ids,
        "qa": result.qa,
        "wsclean_seconds": result.wsclean_seconds,
        "beam_model_id": result.beam_model_id,
        "clean_mask": result.clean_mask,
    }
