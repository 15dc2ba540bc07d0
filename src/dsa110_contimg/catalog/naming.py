"""Source names: the one convention for new names, and a parser for old ones.

Convention for names this pipeline gives (``format_name``)
------------------------------------------------------------
IAU style with the ``DSA`` acronym, J2000 (ICRS) sexagesimal coordinates
*truncated* (never rounded, as the IAU recommends) to 0.01 s of RA and
0.1 arcsec of Dec::

    DSA J133108.28+303032.9

The name is an identifier, not a position: the position is kept in its own
columns. Truncation means the named position is the south-west corner of a
cell of 0.01 s x 0.1 arcsec, so the true position lies within 0.2 arcsec.

Accepted by ``parse_name``
--------------------------
* our own form and any IAU-like ``[PREFIX ]Jhhmm[ss[.s...]]+dd[mm[ss[.s...]]]``,
  e.g. ``NVSS J133108+303032`` (NVSS: truncated to 1 s / 1 arcsec),
  ``J1331+3030``, ``FIRST J133108.2+303032``;
* the older decimal-degree form of the operating pipeline, RA and Dec in
  degrees with the decimal point removed: 7 RA digits (3 integer + 4
  decimal) and 6 Dec digits (2 + 4), e.g. ``J1293249+525013`` = RA
  129.3249, Dec +52.5013. Seven RA digits never occur in the sexagesimal
  forms (``hhmmss`` is six, decimals carry a point), so the two cannot be
  confused;
* explicit decimal degrees with points, ``J129.3249+52.5013``.

The parser returns the position and its precision (the cell size implied by
the digits given), which a lookup uses as its match radius.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

PREFIX = "DSA"
"""Acronym of names given by this pipeline."""

_SEXA = re.compile(
    r"^(?:(?P<prefix>[A-Za-z][A-Za-z0-9]*)[ _-]?)?J"
    r"(?P<hh>\d{2})(?P<mm>\d{2})(?P<ss>\d{2}(?:\.\d+)?)?"
    r"(?P<sign>[+-])"
    r"(?P<dd>\d{2})(?P<dm>\d{2})?(?P<ds>\d{2}(?:\.\d+)?)?$"
)
_DECIMAL_NODOT = re.compile(
    r"^(?:(?P<prefix>[A-Za-z][A-Za-z0-9]*)[ _-]?)?J(?P<ra>\d{7})(?P<sign>[+-])(?P<dec>\d{6})$"
)
_DECIMAL_DOT = re.compile(
    r"^(?:(?P<prefix>[A-Za-z][A-Za-z0-9]*)[ _-]?)?J"
    r"(?P<ra>\d{1,3}\.\d+)(?P<sign>[+-])(?P<dec>\d{1,2}\.\d+)$"
)


@dataclass(frozen=True)
class ParsedName:
    """A position read from a source name.

    Attributes
    ----------
    ra_deg, dec_deg : float
        Position encoded in the name, degrees (the centre of the cell the
        digits define, so a truncated name points at its cell's middle).
    precision_arcsec : float
        Half-diagonal of that cell, arcsec: the true position of the named
        source lies within this distance (plus the catalog's own error).
    style : str
        ``"iau"`` (sexagesimal) or ``"decimal"``.
    prefix : str or None
        The catalog acronym before the ``J`` (``"DSA"``, ``"NVSS"``...).
    """

    ra_deg: float
    dec_deg: float
    precision_arcsec: float
    style: str
    prefix: str | None


def _truncate(value: float, decimals: int) -> str:
    """Digits of ``value`` truncated (not rounded) to ``decimals`` places."""
    scale = 10**decimals
    return f"{math.floor(value * scale + 1e-9) / scale:.{decimals}f}"


def format_name(ra_deg: float, dec_deg: float, prefix: str = PREFIX) -> str:
    """Return the pipeline's name for a new source.

    Parameters
    ----------
    ra_deg, dec_deg : float
        J2000 (ICRS) position, degrees.
    prefix : str
        Acronym before the ``J`` (default ``"DSA"``).

    Returns
    -------
    str
        E.g. ``"DSA J133108.28+303032.9"`` (RA to 0.01 s, Dec to 0.1 arcsec,
        both truncated).
    """
    if not -90.0 <= dec_deg <= 90.0:
        raise ValueError(f"declination {dec_deg} outside [-90, 90] deg")
    ra_s = (ra_deg % 360.0) / 15.0 * 3600.0  # seconds of time
    ra_s = math.floor(ra_s * 100 + 1e-6) / 100  # truncate to 0.01 s before splitting
    hh, rem = divmod(ra_s, 3600.0)
    mm, ss = divmod(rem, 60.0)
    sign = "-" if dec_deg < 0 else "+"
    dec_as = math.floor(abs(dec_deg) * 3600.0 * 10 + 1e-6) / 10
    dd, rem = divmod(dec_as, 3600.0)
    dm, ds = divmod(rem, 60.0)
    ra_txt = f"{int(hh) % 24:02d}{int(mm):02d}{_truncate(ss, 2):0>5}"
    dec_txt = f"{int(dd):02d}{int(dm):02d}{_truncate(ds, 1):0>4}"
    return f"{prefix} J{ra_txt}{sign}{dec_txt}"


def _field_step(text: str | None, unit: float) -> float:
    """Size of the last digit of a sexagesimal field, in units of ``unit``."""
    if text is None:
        return unit
    decimals = len(text.split(".")[1]) if "." in text else 0
    return unit * 10.0**-decimals


def parse_name(name: str) -> ParsedName:
    """Read the position encoded in a source name.

    Parameters
    ----------
    name : str
        A name in one of the forms listed in the module documentation;
        surrounding spaces are ignored.

    Returns
    -------
    ParsedName
        Position (degrees), precision (arcsec), style and prefix.

    Raises
    ------
    ValueError
        If the name encodes no position in a known form, or an impossible
        one (RA hours >= 24, minutes or seconds >= 60, |Dec| > 90).
    """
    text = name.strip()
    for pattern in (_DECIMAL_NODOT, _DECIMAL_DOT):
        match = pattern.match(text)
        if match:
            ra_txt, dec_txt = match["ra"], match["dec"]
            if "." in ra_txt:
                ra, dec = float(ra_txt), float(dec_txt)
                step_ra = 10.0 ** -len(ra_txt.split(".")[1])
                step_dec = 10.0 ** -len(dec_txt.split(".")[1])
            else:
                ra, dec = int(ra_txt) / 1e4, int(dec_txt) / 1e4
                step_ra = step_dec = 1e-4
            sign = -1.0 if match["sign"] == "-" else 1.0
            return _checked(
                ra, sign * dec, step_ra * 3600.0, step_dec * 3600.0, "decimal", match["prefix"]
            )
    match = _SEXA.match(text)
    if not match:
        raise ValueError(f"cannot read a position from source name {name!r}")
    hh, mm = int(match["hh"]), int(match["mm"])
    ss = float(match["ss"]) if match["ss"] else 0.0
    dd = int(match["dd"])
    dm = int(match["dm"]) if match["dm"] else 0
    ds = float(match["ds"]) if match["ds"] else 0.0
    if hh >= 24 or mm >= 60 or ss >= 60 or dm >= 60 or ds >= 60:
        raise ValueError(f"impossible sexagesimal field in source name {name!r}")
    step_ra_s = _field_step(match["ss"], 1.0) if match["ss"] else 60.0
    if match["ds"]:
        step_dec_as = _field_step(match["ds"], 1.0)
    else:
        step_dec_as = 60.0 if match["dm"] else 3600.0
    ra = 15.0 * (hh + mm / 60.0 + ss / 3600.0)
    dec = dd + dm / 60.0 + ds / 3600.0
    sign = -1.0 if match["sign"] == "-" else 1.0
    return _checked(
        ra, sign * dec, 15.0 * step_ra_s, step_dec_as, "iau", match["prefix"], truncated=True
    )


def _checked(
    ra: float,
    dec: float,
    step_ra_arcsec: float,
    step_dec_arcsec: float,
    style: str,
    prefix: str | None,
    truncated: bool = False,
) -> ParsedName:
    """Validate, move a truncated position to its cell centre, add the precision."""
    if not 0.0 <= ra < 360.0 or not -90.0 <= dec <= 90.0:
        raise ValueError(f"position RA {ra}, Dec {dec} deg out of range")
    cos_dec = max(math.cos(math.radians(dec)), 1e-6)
    if truncated:
        # IAU names truncate: the source lies in [value, value + step) away from zero.
        ra = (ra + step_ra_arcsec / 7200.0) % 360.0
        dec = float(np.clip(dec + math.copysign(step_dec_arcsec / 7200.0, dec or 1.0), -90, 90))
    # A truncated name's cell is centred above; a decimal one may have been
    # rounded or truncated, so allow the whole cell diagonal.
    scale = 0.5 if truncated else 1.0
    precision = scale * math.hypot(step_ra_arcsec * cos_dec, step_dec_arcsec)
    return ParsedName(ra, dec, precision, style, prefix)
