"""Step 2: flag RFI in the MS (AOFlagger)."""

from __future__ import annotations

import logging
from typing import Any

from dsa110_contimg.pipeline.runner import StageContext
from dsa110_contimg.pipeline.steps.common import ms_row
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import (
    MeasurementSet,
    MSStage,
)

log = logging.getLogger(__name__)


def run(ctx: StageContext) -> dict[str, Any]:
    """Autocorrelations, zeros, AOFlagger, MAD clip, extension, dead antennas (in place)."""
    from dsa110_contimg.flagging import flag_ms

    ms = ms_row(ctx)
    if ms.flag_fraction is not None:
        return {"ms_path": ms.path, "skipped": True, "flag_fraction": ms.flag_fraction}
    result = flag_ms(ms.path)
    qa = result.qa()
    fraction = float(qa["total"])
    with session_scope(ctx.factory) as session:
        row = session.get(MeasurementSet, ms.id)
        row.flag_fraction, row.stage = fraction, MSStage.FLAGGED
        row.qa_metrics = {**(row.qa_metrics or {}), "flagging": qa}
    return {"ms_path": ms.path, "flag_fraction": fraction}
