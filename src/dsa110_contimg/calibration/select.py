"""Which calibration tables may be applied to an MS: the one rule, a pure function.

Every caller uses it: the calibrate step and ``dsa110 calibrate`` to choose
the tables they apply, the requeue of groups waiting for calibration, and the
API's calibrator matches. The products layer's SQL pre-filter
(:func:`dsa110_contimg.products.repositories.cal_table_candidates`) only
narrows the rows loaded to a superset of what this rule accepts.

A table is usable for an MS when

* its status is ``valid`` (not expired, superseded or rejected);
* the MS's mid time lies in its validity window (bandpass 24 h, gains 1 h by
  default, set when it is registered; both ends included);
* its declination is known and within :data:`MAX_DEC_OFFSET_DEG` of the MS's
  pointing declination (exactly at the limit is accepted). A table of unknown
  declination cannot be proven to belong to the MS's strip, so it is refused;
  so is every table when the MS's own declination is unknown.

Among usable tables of one type the one whose validity window is centred
nearest the MS time wins.

The same module says when a table is superseded (:func:`supersedes`) and when
it expires (:func:`expiry_cutoff_mjd`); the products layer marks them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dsa110_contimg.calibration.errors import DeclinationMismatchError

MAX_DEC_OFFSET_DEG = 1.5
"""Largest |Dec(table) - Dec(MS)| accepted, degrees.

Half the primary beam's FWHM at the bottom of the band (2.90 deg at
1311 MHz, ``telescope.beam_fwhm_deg``), rounded up. The dishes only move
between strips, so every table of the MS's own strip was solved at the same
pointing, up to the difference between the files' declination of date and
J2000 (at most ~0.15 deg); a table solved more than half a beam away saw a
different sky through a different part of the beam and belongs to another
strip. The earlier 5 deg limit would accept a neighbouring strip when strips
are spaced by about one beam (2.5-3 deg), which is how a drift scan tiles the
sky; applying another strip's tables gives flux ratios near 0.06
(``docs/dsa110.md`` §3).
"""

DEC_SLACK_DEG = 1e-9
"""Rounding allowance on the limit, so that a table exactly at it is accepted."""

BANDPASS_VALIDITY_DAYS = 1.0
"""Default validity of a bandpass table, days (24 h)."""

GAIN_VALIDITY_DAYS = 1.0 / 24.0
"""Default validity of a gain table, days (1 h)."""

EXPIRY_GRACE_DAYS = 2.0
"""How long after its validity ends a table stays ``valid``, days.

Counted back from the newest group, or from the oldest group that may still
be calibrated when that is older. Groups arrive and are processed out of
order (incomplete groups are held, waiting groups are requeued after a
transit); two days is longer than any hold and than the bandpass validity.
"""


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
        found); record it and leave the MS waiting for calibration.
    skipped : list of str
        One line per candidate not used, and why.
    usable : list
        Every candidate of a required type that passed the rule, in the order
        given (the chosen ones among them), also when ``reason`` is set.
    """

    tables: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    skipped: list[str] = field(default_factory=list)
    usable: list[Any] = field(default_factory=list)

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


def dec_matches(
    table_dec_deg: float | None,
    ms_dec_deg: float | None,
    max_dec_offset_deg: float = MAX_DEC_OFFSET_DEG,
) -> bool:
    """Whether a table solved at ``table_dec_deg`` belongs to the strip of ``ms_dec_deg``.

    False when either declination is unknown: the match cannot be proven.
    """
    if table_dec_deg is None or ms_dec_deg is None:
        return False
    return abs(table_dec_deg - ms_dec_deg) <= max_dec_offset_deg + DEC_SLACK_DEG


def why_unusable(
    table: Any,
    ms_mid_mjd: float,
    ms_dec_deg: float | None,
    max_dec_offset_deg: float = MAX_DEC_OFFSET_DEG,
) -> str | None:
    """Why ``table`` may not be applied to the MS, or None when it may (the rule, per table)."""
    status = _value(table.status)
    if status != "valid":
        return f"status {status}"
    if not (table.valid_start_mjd <= ms_mid_mjd <= table.valid_end_mjd):
        return (
            f"not valid at MJD {ms_mid_mjd:.5f} "
            f"(window {table.valid_start_mjd:.5f}-{table.valid_end_mjd:.5f})"
        )
    if table.dec_deg is None:
        return "declination unknown: cannot be proven to be the MS's strip"
    if ms_dec_deg is None:
        return "the MS's declination is unknown: no strip to match"
    if not dec_matches(table.dec_deg, ms_dec_deg, max_dec_offset_deg):
        return (
            f"Dec {table.dec_deg:+.2f} deg is another strip "
            f"({abs(table.dec_deg - ms_dec_deg):.2f} deg from the MS; "
            f"limit {max_dec_offset_deg:.1f} deg)"
        )
    return None


def select_tables(
    candidates: Iterable[Any],
    ms_mid_mjd: float,
    ms_dec_deg: float | None,
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
    ms_dec_deg : float or None
        Pointing declination of the MS, degrees (None: unknown, nothing
        matches).
    required : sequence of str
        Table types needed, in apply order; candidates of other types are
        ignored.
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
        another declination strip. The products layer's pre-filter never
        passes such tables (so the pipeline waits for its own strip's
        transit); the error guards callers that pass tables directly.
    """
    out = Selection()
    by_type: dict[str, list[Any]] = {t: [] for t in required}
    wrong_strip: dict[str, list[Any]] = {t: [] for t in required}
    for c in candidates:
        kind = _value(c.table_type)
        if kind not in by_type:
            continue
        why = why_unusable(c, ms_mid_mjd, ms_dec_deg, max_dec_offset_deg)
        if why is None:
            by_type[kind].append(c)
            out.usable.append(c)
            continue
        out.skipped.append(f"{c.path}: {why}")
        if why_unusable(c, ms_mid_mjd, ms_dec_deg, max_dec_offset_deg=180.0) is None:
            wrong_strip[kind].append(c)  # usable but for its declination
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
                str(bad.path), float(bad.dec_deg), float(ms_dec_deg), max_dec_offset_deg
            )
        elif out.reason is None:
            where = "unknown Dec" if ms_dec_deg is None else f"Dec {ms_dec_deg:+.2f} deg"
            out.reason = f"no valid {kind} table for MJD {ms_mid_mjd:.5f} at {where}" + (
                f" ({len(out.skipped)} candidates rejected)" if out.skipped else ""
            )
    if out.reason is not None:
        out.tables = {}
    return out


def supersedes(new: Any, old: Any, max_dec_offset_deg: float = MAX_DEC_OFFSET_DEG) -> bool:
    """Whether table ``new``, registered after ``old``, supersedes it.

    Same type, same strip (both declinations known and matching) and a
    validity window that covers ``old``'s whole window: no MS that ``old``
    could calibrate is left without ``new``. A partial overlap supersedes
    nothing (the selection then picks the window centred nearer the MS).
    """
    return (
        _value(new.table_type) == _value(old.table_type)
        and dec_matches(new.dec_deg, old.dec_deg, max_dec_offset_deg)
        and new.valid_start_mjd <= old.valid_start_mjd
        and old.valid_end_mjd <= new.valid_end_mjd
    )


def expiry_cutoff_mjd(reference_mjd: float, grace_days: float = EXPIRY_GRACE_DAYS) -> float:
    """Tables whose validity ended before this MJD are expired.

    ``reference_mjd``: the newest group's start, or the oldest group still to
    be calibrated when that is older.
    """
    return reference_mjd - grace_days


def other_strip_note(
    table: Any, ms_dec_deg: float, max_dec_offset_deg: float = MAX_DEC_OFFSET_DEG
) -> str:
    """A line saying that ``table``, valid in time, is another strip's (for a waiting MS's reason)."""
    return (
        f"the nearest valid table is another strip's: {table.path} at Dec "
        f"{table.dec_deg:+.2f} deg, {abs(table.dec_deg - ms_dec_deg):.2f} deg from the MS "
        f"(limit {max_dec_offset_deg:.1f} deg)"
    )
