"""Step 1: the group's subband files into one Measurement Set."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dsa110_contimg.config import Settings
from dsa110_contimg.conversion.convert import convert_group
from dsa110_contimg.pipeline.context import RunOptions, StepContext
from dsa110_contimg.pipeline.jobs import describe_inputs
from dsa110_contimg.pipeline.steps.common import group_files, group_ms
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.db import session_scope
from dsa110_contimg.products.models import MSStage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ConvertOptions:
    """What the convert step is asked to do.

    Attributes
    ----------
    ms_dir : Path
        Folder of the Measurement Sets (``<ms_dir>/<group>.ms``).
    """

    ms_dir: Path

    @classmethod
    def from_settings(cls, settings: Settings, run: RunOptions) -> ConvertOptions:
        """The settings' MS folder (a run has no convert choices)."""
        return cls(ms_dir=Path(settings.ms_dir))


def run(ctx: StepContext) -> dict[str, Any]:
    """Group files -> ``<ms_dir>/<group>.ms``, registered in ms_index."""
    options = ConvertOptions.from_settings(ctx.settings, ctx.options)
    with session_scope(ctx.factory) as session:
        existing = group_ms(session, ctx.group_id)
        if existing is not None:
            log.info("group %s already converted: %s", ctx.group_id, existing.path)
            return {"ms_path": existing.path, "skipped": True}
        paths = group_files(session, ctx.group_id)
        # a reprocessed group's superseded MS keeps its path: the new one is <group>.r<n>.ms
        out = Path(repo.next_ms_path(session, str(options.ms_dir / f"{ctx.group_id}.ms")))
    ctx.job.record_inputs(describe_inputs(paths))
    out.parent.mkdir(parents=True, exist_ok=True)
    # overwrite: an MS on disk without a row is a leftover of a crash between
    # rename and registration; it is redone rather than trusted.
    result = convert_group(paths, out, overwrite=True)
    with session_scope(ctx.factory) as session:
        ms = repo.register_ms(
            session,
            path=result.ms_path,
            mjd_start=result.mjd_start,
            mjd_mid=result.mjd_mid,
            mjd_end=result.mjd_end,
            group_id=ctx.group_id,
            pointing_ra_deg=result.phase_ra_deg,
            pointing_dec_deg=result.pointing_dec_deg,
            phase_ra_deg=result.phase_ra_deg,
            phase_dec_deg=result.phase_dec_deg,
            field_name=f"meridian_{ctx.group_id}",
            n_rows=result.n_rows,
            n_channels=result.n_channels,
            stage=MSStage.CONVERTED,
            size_bytes=result.size_bytes,
            note=f"missing subbands {result.missing_subbands}" if result.missing_subbands else None,
        )
        repo.mark_files_converted(session, [str(p) for p in paths])
        out_dict = {**result.as_dict(), "ms_id": ms.id}
    return out_dict
