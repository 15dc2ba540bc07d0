"""Which calibration tables may be applied to an MS: a pure function of the candidates.

Rules (``docs/dsa110.md`` §3): a table is usable when its status is
``valid`` and the MS's mid time lies in its validity window (bandpass 24 h,
gains 1 h by default, set when it is registered); a table solved more than
``max_dec_offset_deg`` (5 deg) from the MS's declination belongs to another
strip and must never be applied. Among usable tables of one type the one
whose validity window is centred nearest the MS time wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dsa110_contimg.calibration.errors import DeclinationMismatchError

MAX_DEC_OFFSET_DEG = 5.0
"""Largest |Dec(table) - Dec(MS)| accepted, degrees."""

BANDPASS_VALIDITY_DAYS = 1.0
"""Default validity of a bandpass table, days (24 h)."""

GAIN_VALIDITY_DAYS = 1.0 / 24.0
"""Default validity of a gain table, days (1 h)."""


@dataclass(frozen=True)
class TableCandidate:
    """A registered calibration table, as the selection sees it.

    Any object with the same attributes (e.g. a ``CalTable`` row) works too.

    Attributes
    ----------
    path : str
        Table path.
    table_type : str
        ``"bandpass"`` or ``"gain"``.
    valid_start_mjd, valid_end_mjd : float
        Validity window, MJD (UTC days).
    dec_deg : float or None
        Declination the table was solved at, degrees.
    status : str
        ``"valid"``, ``"expired"``, ``"rejected"``, ``"superseded"``.
    """

    path: str
    table_type: str
    valid_start_mjd: float
    valid_end_mjd: float
    dec_deg: float | None
    status: str = "valid"


@dataclass
class Selection:
    """Outcome of :func:`select_tables`.

    Attributes
    ----------
    tables : dict
        Chosen table per type (``{"bandpass": ..., "gain": ...}``), in
        apply order.
    reason : str or None
        Why the MS cannot be calibrated (None when every required type was
        found); record it and leave the MS uncalibrated.
    skipped : list of str
        One line per candidate not used, and why.
    """

    tables: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    skipped: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every required table type was found."""
        return self.reason is None

    @property
    def paths(self) -> list[str]:
        """Chosen table paths in apply order."""
        return [str(t.path) for t in self.tables.values()]


def _value(x: Any) -> str:
    return str(getattr(x, "value", x))


def select_tables(
    candidates: Iterable[Any],
    ms_mid_mjd: float,
    ms_dec_deg: float,
    *,
    required: Sequence[str] = ("bandpass", "gain"),
    max_dec_offset_deg: float = MAX_DEC_OFFSET_DEG,
) -> Selection:
    """Choose the calibration tables to apply to an MS.

    Parameters
    ----------
    candidates : iterable
        :class:`TableCandidate` or objects with the same attributes.
    ms_mid_mjd : float
        Middle of the MS's time range, MJD.
    ms_dec_deg : float
        Pointing declination of the MS, degrees.
    required : sequence of str
        Table types needed, in apply order.
    max_dec_offset_deg : float
        Declination tolerance, degrees.

    Returns
    -------
    Selection
        ``reason`` says why not, when a required type has no usable table.

    Raises
    ------
    DeclinationMismatchError
        When the only tables valid in time for a required type come from
        another declination strip: applying them would be wrong, and it
        signals a pipeline mix-up rather than a gap in calibration.
    """
    out = Selection()
    by_type: dict[str, list[Any]] = {t: [] for t in required}
    wrong_strip: dict[str, list[Any]] = {t: [] for t in required}
    for c in candidates:
        kind = _value(c.table_type)
        if kind not in by_type:
            continue
        status = _value(c.status)
        if status != "valid":
            out.skipped.append(f"{c.path}: status {status}")
        elif not (c.valid_start_mjd <= ms_mid_mjd <= c.valid_end_mjd):
            out.skipped.append(
                f"{c.path}: not valid at MJD {ms_mid_mjd:.5f} "
                f"(window {c.valid_start_mjd:.5f}-{c.valid_end_mjd:.5f})"
            )
        elif c.dec_deg is None:
            out.skipped.append(f"{c.path}: declination unknown")
        elif abs(c.dec_deg - ms_dec_deg) > max_dec_offset_deg:
            out.skipped.append(f"{c.path}: Dec {c.dec_deg:+.2f} deg is another strip")
            wrong_strip[kind].append(c)
        else:
            by_type[kind].append(c)
    for kind in required:
        usable = by_type[kind]
        if usable:
            out.tables[kind] = min(
                usable,
                key=lambda c: abs(0.5 * (c.valid_start_mjd + c.valid_end_mjd) - ms_mid_mjd),
            )
        elif wrong_strip[kind]:
            bad = wrong_strip[kind][0]
            raise DeclinationMismatchError(
                str(bad.path), float(bad.dec_deg), ms_dec_deg, max_dec_offset_deg
            )
        elif out.reason is None:
            out.reason = (
                f"no valid {kind} table for MJD {ms_mid_mjd:.5f} at Dec {ms_dec_deg:+.2f} deg"
                + (f" ({len(out.skipped)} candidates rejected)" if out.skipped else "")
            )
    if out.reason is not None:
        out.tables = {}
    return out
