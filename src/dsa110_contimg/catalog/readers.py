"""Read a user's survey catalog file into one standard table.

Accepted files
--------------
Text tables with a header line (comments start with ``#``), delimited by
tabs, commas, ``|`` or (when the header has none of those) white space:

* the simulator's ``catalog.csv`` and any plain CSV with the standard
  columns ``name, ra_deg, dec_deg, ra_err_arcsec, dec_err_arcsec, flux_mjy,
  flux_err_mjy, major_arcsec, minor_arcsec, pa_deg`` (name, errors and sizes
  may be empty);
* the NVSS catalog as VizieR serves it (VIII/65, TSV/CSV): ``NVSS``,
  ``RAJ2000`` / ``DEJ2000`` (sexagesimal ``hh mm ss.ss`` / ``+dd mm ss.s``,
  also with ``:`` or ``h m s`` / ``d ' "`` separators, or degrees),
  ``e_RAJ2000`` (seconds of time), ``e_DEJ2000`` (arcsec), ``S1.4`` and
  ``e_S1.4`` (mJy), ``MajAxis`` / ``MinAxis`` (arcsec, a leading ``<``
  marking an upper limit is dropped and the limit kept), ``PA`` (deg).
  A units line and a dashes line right after the header (VizieR's TSV
  layout) are read: units given there override the defaults.

FITS binary tables (first table HDU): the same VizieR names, or the NVSS
survey's own ``CATALOG.FIT`` columns ``RA(2000)``, ``DEC(2000)`` (deg),
``PEAK INT`` (Jy/beam), ``MAJOR AX``, ``MINOR AX`` (deg), ``POSANGLE`` (deg);
column units in the file override the defaults. ``CATALOG.FIT`` carries no
errors: they are stored empty (NaN).

Not accepted: the two-lines-per-source listing printed by ``NVSSlist``.

Validation and the bad-row policy
---------------------------------
Every row needs a finite RA in [0, 360) deg (or 0-24 h), Dec in [-90, 90]
deg and a flux > 0; errors and sizes, when given, must be finite and >= 0.
A row failing any check is reported as ``<file>:<line>: <what is wrong>``
(FITS: ``row N``). By default the import is all-or-nothing: one bad row
and nothing is returned, with every bad row listed in
:class:`CatalogFormatError`. With ``skip_bad=True`` the good rows are
returned and the problems listed beside them.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from astropy import units as u

from dsa110_contimg.errors import InputDataError

FIELDS: tuple[str, ...] = (
    "ra_deg",
    "dec_deg",
    "ra_err_arcsec",
    "dec_err_arcsec",
    "flux_mjy",
    "flux_err_mjy",
    "major_arcsec",
    "minor_arcsec",
    "pa_deg",
)
"""Numeric columns of a catalog table, in the store's units."""

CATALOG_DTYPE = np.dtype([("name", "U40")] + [(f, "f8") for f in FIELDS])
"""Structured dtype of a catalog table (missing values are NaN / '')."""

REQUIRED = ("ra_deg", "dec_deg", "flux_mjy")

# Normalised column name (lower case, alphanumerics only) -> (field, default unit).
_ALIASES: dict[str, tuple[str, str]] = {
    "name": ("name", ""),
    "nvss": ("name", ""),
    "id": ("name", ""),
    "radeg": ("ra_deg", "deg"),
    "raj2000": ("ra_deg", "hourangle"),
    "ra2000": ("ra_deg", "deg"),
    "ra": ("ra_deg", "deg"),
    "decdeg": ("dec_deg", "deg"),
    "dej2000": ("dec_deg", "deg"),
    "decj2000": ("dec_deg", "deg"),
    "dec2000": ("dec_deg", "deg"),
    "dec": ("dec_deg", "deg"),
    "raerrarcsec": ("ra_err_arcsec", "arcsec"),
    "eraj2000": ("ra_err_arcsec", "s"),
    "decerrarcsec": ("dec_err_arcsec", "arcsec"),
    "edej2000": ("dec_err_arcsec", "arcsec"),
    "fluxmjy": ("flux_mjy", "mJy"),
    "s14": ("flux_mjy", "mJy"),
    "peakint": ("flux_mjy", "Jy"),
    "fluxerrmjy": ("flux_err_mjy", "mJy"),
    "es14": ("flux_err_mjy", "mJy"),
    "majorarcsec": ("major_arcsec", "arcsec"),
    "majaxis": ("major_arcsec", "arcsec"),
    "majorax": ("major_arcsec", "deg"),
    "minorarcsec": ("minor_arcsec", "arcsec"),
    "minaxis": ("minor_arcsec", "arcsec"),
    "minorax": ("minor_arcsec", "deg"),
    "padeg": ("pa_deg", "deg"),
    "pa": ("pa_deg", "deg"),
    "posangle": ("pa_deg", "deg"),
}
_TARGET_UNIT = {
    "ra_deg": "deg",
    "dec_deg": "deg",
    "ra_err_arcsec": "arcsec",
    "dec_err_arcsec": "arcsec",
    "flux_mjy": "mJy",
    "flux_err_mjy": "mJy",
    "major_arcsec": "arcsec",
    "minor_arcsec": "arcsec",
    "pa_deg": "deg",
}
_SEXA_SPLIT = re.compile(r"[\s:hmsd'\"]+")


class CatalogFormatError(InputDataError):
    """A catalog file has bad rows or cannot be read.

    Attributes
    ----------
    problems : list of str
        One ``<file>:<line>: <message>`` entry per bad row.
    """

    def __init__(self, message: str, problems: list[str] | None = None, **kw: str) -> None:
        self.problems = problems or []
        shown = "\n  ".join(self.problems[:20])
        more = f"\n  ... and {len(self.problems) - 20} more" if len(self.problems) > 20 else ""
        super().__init__(message + (f":\n  {shown}{more}" if shown else ""), **kw)


@dataclass
class CatalogTable:
    """Rows read from a catalog file.

    Attributes
    ----------
    rows : numpy.ndarray
        Structured array of :data:`CATALOG_DTYPE`.
    problems : list of str
        Bad rows skipped (only non-empty with ``skip_bad=True``).
    """

    rows: np.ndarray
    problems: list[str] = field(default_factory=list)


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _sexagesimal(text: str) -> float:
    """``"13 31 08.29"`` / ``"-05:02:03"`` / ``"13h31m08s"`` -> value in h or deg."""
    stripped = text.strip()
    parts = [p for p in _SEXA_SPLIT.split(stripped) if p]
    if len(parts) == 1:
        return float(parts[0])
    if not 2 <= len(parts) <= 3:
        raise ValueError(f"cannot read {text!r} as sexagesimal")
    values = [abs(float(p)) for p in parts] + [0.0]
    if values[1] >= 60 or values[2] >= 60:
        raise ValueError(f"minutes or seconds >= 60 in {text!r}")
    sign = -1.0 if stripped.startswith("-") else 1.0
    return sign * (values[0] + values[1] / 60.0 + values[2] / 3600.0)


def _unit_factor(unit: str, target: str) -> float:
    if unit in ("", "h:m:s", "d:m:s", "hourangle"):
        return 1.0
    return float(u.Unit(unit).to(target))


def _convert_column(
    values: list[str] | np.ndarray,
    fieldname: str,
    unit: str,
    where: list[str],
    problems: dict[int, str],
) -> np.ndarray:
    """Strings (or, from FITS, numbers) to floats in the store's unit; bad cells recorded."""
    if isinstance(values, np.ndarray) and values.dtype.kind == "f":
        out = values.astype(float)  # numeric FITS column: nothing to parse
        sexa = False
    else:
        cleaned = [v.strip().lstrip("<") for v in values]
        sexa = fieldname in ("ra_deg", "dec_deg") and any(
            _SEXA_SPLIT.search(v) for v in cleaned[:50] if v
        )
        out = np.full(len(cleaned), np.nan)
        try:
            if sexa:
                raise ValueError  # sexagesimal always takes the per-cell path
            out[:] = np.asarray([v if v else "nan" for v in cleaned], dtype=float)
        except ValueError:
            for i, v in enumerate(cleaned):
                if not v:
                    continue
                try:
                    out[i] = _sexagesimal(v) if sexa else float(v)
                except ValueError:
                    problems.setdefault(i, f"{where[i]}: {fieldname}: cannot read {values[i]!r}")
    hours = fieldname == "ra_deg" and (sexa or unit in ("hourangle", "h:m:s", "h"))
    if hours:
        out *= 15.0
    elif fieldname == "ra_err_arcsec" and unit == "s":
        out *= 15.0  # seconds of time; made arcsec on the sky below with cos(dec)
    elif unit:
        out *= _unit_factor(unit, _TARGET_UNIT[fieldname])
    return out


def _validate(rows: np.ndarray, where: list[str], problems: dict[int, str]) -> None:
    """Record range problems per row (first problem per row wins)."""
    checks = [
        (
            ~np.isfinite(rows["ra_deg"]) | (rows["ra_deg"] < 0) | (rows["ra_deg"] >= 360),
            "ra_deg missing or outside [0, 360)",
        ),
        (
            ~np.isfinite(rows["dec_deg"]) | (np.abs(rows["dec_deg"]) > 90),
            "dec_deg missing or outside [-90, 90]",
        ),
        (~(rows["flux_mjy"] > 0), "flux_mjy missing or not > 0"),
    ]
    for name in FIELDS[2:]:
        if name == "flux_mjy":
            continue
        col = rows[name]
        given = ~np.isnan(col)
        bad = given & (~np.isfinite(col) | ((col < 0) & (name != "pa_deg")))
        checks.append((bad, f"{name} must be finite and >= 0"))
    for mask, message in checks:
        for i in np.flatnonzero(mask):
            problems.setdefault(int(i), f"{where[i]}: {message} ({_row_text(rows[i])})")


def _row_text(row: np.void) -> str:
    return ", ".join(f"{k}={row[k]}" for k in ("ra_deg", "dec_deg", "flux_mjy"))


def _assemble(
    columns: dict[str, tuple[list[str], str]],
    where: list[str],
    path: Path,
    skip_bad: bool,
    early: dict[int, str] | None = None,
) -> CatalogTable:
    missing = [r for r in REQUIRED if r not in columns]
    if missing:
        raise CatalogFormatError(
            f"{path}: no column for {', '.join(missing)} (found: {', '.join(columns) or 'none'})",
            hint="see dsa110_contimg.catalog.readers for the accepted column names",
        )
    n = len(where)
    problems: dict[int, str] = dict(early or {})
    rows = np.zeros(n, CATALOG_DTYPE)
    for name in FIELDS:
        rows[name] = np.nan
    for fieldname, (values, unit) in columns.items():
        if fieldname == "name":
            rows["name"] = [v.strip() for v in values]
        else:
            rows[fieldname] = _convert_column(values, fieldname, unit, where, problems)
    if columns.get("ra_err_arcsec", ("", ""))[1] == "s":
        rows["ra_err_arcsec"] *= np.cos(np.radians(rows["dec_deg"]))
    _validate(rows, where, problems)
    messages = [problems[i] for i in sorted(problems)]
    if messages and not skip_bad:
        raise CatalogFormatError(
            f"{path}: {len(messages)} bad row(s), nothing imported",
            messages,
            hint="fix the rows, or import with skip_bad to keep the good ones",
        )
    keep = np.ones(n, bool)
    keep[list(problems)] = False
    return CatalogTable(rows[keep], messages)


def _pick_columns(header: list[str], units: list[str] | None) -> dict[str, tuple[int, str]]:
    chosen: dict[str, tuple[int, str]] = {}
    for idx, title in enumerate(header):
        alias = _ALIASES.get(_norm(title))
        if alias is None or alias[0] in chosen:
            continue
        unit = alias[1]
        if units is not None and idx < len(units) and units[idx].strip():
            unit = units[idx].strip()
        chosen[alias[0]] = (idx, unit)
    return chosen


def _looks_like_units(cells: list[str]) -> bool:
    for cell in cells:
        text = cell.strip()
        if not text:
            continue
        try:
            float(text)
            return False
        except ValueError:
            pass
        if any(ch.isdigit() for ch in text) and not re.fullmatch(r"[a-zA-Z0-9:/.()]+", text):
            return False
    return True


def read_text_catalog(path: str | Path, *, skip_bad: bool = False) -> CatalogTable:
    """Read a delimited text catalog (CSV, TSV, ``|`` or white space).

    Parameters
    ----------
    path : str or Path
        The file.
    skip_bad : bool
        Return the good rows when some are bad (default: raise, import none).

    Returns
    -------
    CatalogTable

    Raises
    ------
    CatalogFormatError
        Missing required columns, or bad rows with ``skip_bad=False``.
    """
    path = Path(path)
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        numbered = [
            (i + 1, line.rstrip("\r\n"))
            for i, line in enumerate(handle)
            if line.strip() and not line.lstrip().startswith("#")
        ]
    if not numbered:
        raise CatalogFormatError(f"{path}: no header line")
    head = numbered[0][1]
    delimiter = next((d for d in ("\t", ",", "|") if d in head), None)
    lines = [text for _, text in numbered]
    if delimiter is None:
        records = [text.split() for text in lines]
    else:
        records = list(csv.reader(lines, delimiter=delimiter))
    header, body, numbers = records[0], records[1:], [n for n, _ in numbered[1:]]
    units = None
    if body and _looks_like_units(body[0]):
        units, body, numbers = body[0], body[1:], numbers[1:]
    while body and all(set(c.strip()) <= {"-", "="} for c in body[0]):
        body, numbers = body[1:], numbers[1:]
    chosen = _pick_columns(header, units)
    where = [f"{path}:{n}" for n in numbers]
    problems_short: dict[int, str] = {}
    width = len(header)
    for i, rec in enumerate(body):
        if len(rec) != width:
            problems_short[i] = f"{where[i]}: {len(rec)} fields, header has {width}"
    padded = [rec + [""] * (width - len(rec)) if len(rec) < width else rec for rec in body]
    columns = {f: ([rec[idx] for rec in padded], unit) for f, (idx, unit) in chosen.items()}
    return _assemble(columns, where, path, skip_bad, problems_short)


def read_fits_catalog(path: str | Path, *, skip_bad: bool = False) -> CatalogTable:
    """Read a FITS binary-table catalog (VizieR NVSS or the NVSS ``CATALOG.FIT``).

    Parameters and behaviour as :func:`read_text_catalog`; rows are named
    ``row N`` (1-based) in messages.
    """
    from astropy.table import Table

    path = Path(path)
    try:
        table = Table.read(path, format="fits")
    except Exception as exc:  # astropy raises many types for corrupt files
        raise CatalogFormatError(f"{path}: not a readable FITS table ({exc})") from exc
    header = list(table.colnames)
    units = [str(table[c].unit) if table[c].unit is not None else "" for c in header]
    chosen = _pick_columns(header, units)
    columns = {}
    for fieldname, (idx, unit) in chosen.items():
        col = table[header[idx]]
        if fieldname != "name" and col.dtype.kind in "fiu":
            values = np.ma.filled(np.ma.asarray(col, dtype=float), np.nan)
        else:
            values = ["" if np.ma.is_masked(v) else str(v).strip() for v in col]
        columns[fieldname] = (values, unit)
    where = [f"{path}:row {i + 1}" for i in range(len(table))]
    return _assemble(columns, where, path, skip_bad)


def read_catalog(path: str | Path, *, skip_bad: bool = False) -> CatalogTable:
    """Read a catalog file of any accepted kind (FITS by its magic bytes, else text).

    Parameters
    ----------
    path : str or Path
        NVSS (VizieR text or FITS, or ``CATALOG.FIT``) or a standard CSV.
    skip_bad : bool
        Keep the good rows when some are bad (default all-or-nothing).

    Returns
    -------
    CatalogTable
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogFormatError(f"{path}: no such file")
    with path.open("rb") as handle:
        magic = handle.read(6)
    if magic == b"SIMPLE":
        return read_fits_catalog(path, skip_bad=skip_bad)
    return read_text_catalog(path, skip_bad=skip_bad)
