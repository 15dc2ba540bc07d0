"""Step 5: forced photometry, normalisation, light curves and candidates."""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.pipeline.jobs import describe_inputs
from dsa110_contimg.pipeline.runner import StageContext
from dsa110_contimg.pipeline.steps.common import ms_row
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import (
    ProductStatus,
)

log = logging.getLogger(__name__)


def run(ctx: StageContext) -> dict[str, Any]:
    """Forced photometry at catalog positions, normalisation, light curves, candidates."""
    from dsa110_contimg.photometry.stage import measure_image
    from dsa110_contimg.products.models import Image

    ms = ms_row(ctx)
    with session_scope(ctx.factory) as session:
        image_row = session.scalars(
            sa.select(Image)
            .where(Image.ms_id == ms.id, Image.status == ProductStatus.OK, Image.pbcor.is_(True))
            .order_by(Image.version.desc())
        ).first()
        if image_row is None:
            raise InputDataError(
                f"group {ctx.group_id} has no pb-corrected image", hint="run the image stage"
            )
        ctx.job.record_inputs(describe_inputs([image_row.path]))
        return measure_image(
            session, image_row, ctx.settings, blind=ctx.options.get("blind", False)
        )
