"""Step 4: WSClean imaging, primary-beam correction, QA and previews."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.pipeline.runner import StageContext
from dsa110_contimg.pipeline.steps.common import ms_row
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import (
    ProductStatus,
)

log = logging.getLogger(__name__)


def run(ctx: StageContext) -> dict[str, Any]:
    """WSClean on CORRECTED_DATA (tier scaled to the array), pb correction, QA, previews."""
    from dsa110_contimg.imaging import get_tier, image_ms, register_imaging
    from dsa110_contimg.imaging.msinfo import read_ms_summary
    from dsa110_contimg.imaging.stage import next_image_version
    from dsa110_contimg.imaging.tiers import scale_tier
    from dsa110_contimg.products.models import Image

    ms = ms_row(ctx)
    with session_scope(ctx.factory) as session:
        current = session.scalars(
            sa.select(Image).where(Image.ms_id == ms.id, Image.status == ProductStatus.OK)
        ).first()
        if current is not None:
            return {"ms_path": ms.path, "skipped": True}
        version = next_image_version(session, ms.id)
    if not ms.cal_applied:
        raise InputDataError(
            f"MS {ms.path} is not calibrated ({ms.note or 'no tables applied'})",
            hint="a group with no valid calibration is not imaged",
        )
    summary = read_ms_summary(ms.path)
    tier = get_tier(ctx.options.get("tier", "standard"))
    tier = scale_tier(
        tier,
        max_baseline_m=summary.max_baseline_m,
        freq_min_hz=float(summary.freqs_hz.min()),
        freq_max_hz=float(summary.freqs_hz.max()),
        max_size=ctx.options.get("max_image_size", 2400),
    )
    result = image_ms(
        ms.path,
        ctx.settings.images_dir / ctx.group_id,
        tier=tier,
        data_column="CORRECTED_DATA",
        version=version,
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
    }
