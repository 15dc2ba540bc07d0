"""Which groups hold a calibrator's transit.

A calibrator transits a group when it crosses the meridian (hour angle 0)
between the group's first and last integration and lies within
``max_offset_deg`` of the strip's pointing declination.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import astropy.units as u
from astropy.coordinates import HADec, SkyCoord
from astropy.time import Time

from dsa110_contimg.catalog.calibrators import Calibrator, primary_calibrators
from dsa110_contimg.config import Settings
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import ObservationGroup
from dsa110_contimg.telescope import GROUP_DURATION_S, site_location

#: How far from the pointing declination a calibrator may transit and still be used.
MAX_OFFSET_DEG = 1.5


@dataclass(frozen=True)
class Transit:
    """A calibrator crossing the meridian during a group."""

    calibrator: Calibrator
    mjd: float
    offset_deg: float  # from the pointing declination


def group_span_mjd(group: ObservationGroup) -> tuple[float, float]:
    """First and last MJD of a group's data (from its files, else a nominal duration)."""
    ends = [f.end_mjd for f in group.files if f.end_mjd is not None]
    end = max(ends) if ends else group.start_mjd + GROUP_DURATION_S / 86400
    return group.start_mjd, end


def find_transits(
    start_mjd: float,
    end_mjd: float,
    dec_deg: float | None,
    calibrators: Sequence[Calibrator] | None = None,
    max_offset_deg: float = MAX_OFFSET_DEG,
) -> list[Transit]:
    """Calibrators transiting between two times within ``max_offset_deg`` of ``dec_deg``."""
    if dec_deg is None:
        return []
    cals = [
        c
        for c in (calibrators or primary_calibrators())
        if abs(c.dec_deg - dec_deg) <= max_offset_deg + 0.5
    ]
    if not cals:
        return []
    times = Time([start_mjd, end_mjd], format="mjd")
    coords = SkyCoord(ra=[c.ra_deg for c in cals] * u.deg, dec=[c.dec_deg for c in cals] * u.deg)
    hadec = coords[:, None].transform_to(HADec(obstime=times[None, :], location=site_location()))
    ha = hadec.ha.wrap_at(180 * u.deg).deg  # (Ncal, 2)
    out = []
    for k, cal in enumerate(cals):
        ha0, ha1 = ha[k]
        offset = abs(float(hadec.dec.deg[k, 0]) - dec_deg)
        if ha0 <= 0 <= ha1 and offset <= max_offset_deg:
            frac = -ha0 / (ha1 - ha0) if ha1 != ha0 else 0.5
            out.append(Transit(cal, start_mjd + frac * (end_mjd - start_mjd), offset))
    return out


def transits_in_group(group: ObservationGroup) -> list[Transit]:
    """Calibrator transits during a group (pointing declination from the group row)."""
    start, end = group_span_mjd(group)
    return find_transits(start, end, group.dec_deg)


def split_calibrator_groups(
    settings: Settings, group_ids: Sequence[str]
) -> tuple[list[str], list[str]]:
    """(groups holding a calibrator transit, the others), each in the given order."""
    engine = make_engine(settings.db_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            with_cal = {
                gid
                for gid in group_ids
                if (g := repo.group_or_none(session, gid)) is not None and transits_in_group(g)
            }
    finally:
        engine.dispose()
    return [g for g in group_ids if g in with_cal], [g for g in group_ids if g not in with_cal]
