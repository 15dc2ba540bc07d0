"""Step 2: flag RFI in the MS (AOFlagger)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from dsa110_contimg.config import Settings
from dsa110_contimg.flagging.flag import FlagParams
from dsa110_contimg.pipeline.context import RunOptions, StepContext
from dsa110_contimg.pipeline.steps.common import ms_row
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FlagOptions:
    """What the flag step is asked to do.

    Attributes
    ----------
    params : FlagParams
        The flagging recipe (steps, thresholds, AOFlagger strategy).
    """

    params: FlagParams = FlagParams()

    @classmethod
    def from_settings(cls, settings: Settings, run: RunOptions) -> FlagOptions:
        """The recipe of ``settings.flagging`` (a run does not change it)."""
        return cls(params=settings.flagging.params())


def run(ctx: StepContext) -> dict[str, Any]:
    """Autocorrelations, zeros, AOFlagger, MAD clip, extension, dead antennas (in place)."""
    from dsa110_contimg.flagging import flag_ms

    options = FlagOptions.from_settings(ctx.settings, ctx.options)
    ms = ms_row(ctx)
    if ms.flag_fraction is not None:
        return {"ms_path": ms.path, "skipped": True, "flag_fraction": ms.flag_fraction}
    result = flag_ms(ms.path, options.params)
    log.info("flagged MS %d (%s): %s", ms.id, ms.path, result.summary())
    qa = result.qa()
    fraction = float(qa["total"])
    with session_scope(ctx.factory) as session:
        repo.record_flagging(session, ms.id, fraction, qa)
    return {"ms_path": ms.path, "flag_fraction": fraction}
