"""What several steps look up: a group's files and its registered MS."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from dsa110_contimg.errors import InputDataError
from dsa110_contimg.pipeline.context import StepContext
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import MeasurementSet

if TYPE_CHECKING:
    from dsa110_contimg.telescope.beam import PrimaryBeamModel

log = logging.getLogger(__name__)


def group_files(session: Session, group_id: str) -> list[Path]:
    """Paths of a group's usable (not quarantined or purged) subband files, by subband."""
    rows = repo.usable_files_of_group(session, group_id)
    if not rows:
        raise InputDataError(
            f"group {group_id} has no usable files (none indexed, or quarantined, or purged"
            " by retention)",
            hint="run `dsa110 index` first; a purged group can only be reprocessed from its MS",
        )
    return [Path(r.path) for r in rows]


def group_ms(session: Session, group_id: str) -> MeasurementSet | None:
    """The group's registered, existing MS, if any."""
    ms = repo.usable_ms_of_group(session, group_id)
    return ms if ms is not None and Path(ms.path).exists() else None


def ms_row(ctx: StepContext) -> MeasurementSet:
    """The group's registered, existing MS (detached from its session), or :class:`InputDataError`."""
    with session_scope(ctx.factory) as session:
        ms = group_ms(session, ctx.group_id)
        if ms is None:
            raise InputDataError(
                f"group {ctx.group_id} has no registered MS", hint="run the convert stage"
            )
        session.expunge(ms)
        return ms


def beam_model_for(session: Session, setting: str, mjd: float) -> PrimaryBeamModel | None:
    """The primary-beam model of a step: None (the Airy) unless ``setting`` is ``measured``.

    ``measured``: the newest current registered model valid at ``mjd``; the
    Airy (with a warning) when none is. Calibration's sky model and the
    images' pb correction both take it, so they see one beam.
    """
    from dsa110_contimg.telescope.beam import PrimaryBeamModel

    if setting != "measured":
        return None
    row = repo.current_beam_model(session, at_mjd=mjd)
    if row is None:
        log.warning("beam_model is 'measured' but no beam model is valid at MJD %.5f: "
                    "using the Airy", mjd)  # fmt: skip
        return None
    return PrimaryBeamModel.from_record(row)
