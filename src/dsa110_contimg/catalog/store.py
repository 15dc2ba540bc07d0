"""The catalog store: survey catalogs in one SQLite file, indexed by position.

Separate from the products DB: catalogs are large, read-only reference data
that several pipelines may share.

Position index
--------------
Declination zones: every source carries ``zone = floor((dec + 90) / h)``
with ``h`` = :data:`ZONE_HEIGHT_DEG`, and the table has an index on
``(catalog, zone, ra_deg)``. A cone of radius ``r`` around (``ra0``,
``dec0``) reads, for each zone overlapping ``[dec0 - r, dec0 + r]``, the RA
range ``ra0 +- asin(sin r / cos dec0)`` (the exact RA half-width of a
spherical cap; the whole circle when the cap holds a pole; split in two at
RA 0/360), i.e. one index range scan per zone. The candidates are then cut
exactly on the great-circle distance. A strip query reads whole zones.

Rows are inserted sorted by (zone, RA) so the index is built in order.
Importing a catalog under a name that exists replaces it, in one
transaction: a failed import leaves the old one untouched.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsa110_contimg.catalog.naming import parse_name
from dsa110_contimg.catalog.readers import CATALOG_DTYPE, FIELDS, read_catalog
from dsa110_contimg.sky import separation_deg

ZONE_HEIGHT_DEG = 0.25
"""Height of a declination zone of the position index, degrees."""

RESULT_DTYPE = np.dtype([("id", "i8")] + CATALOG_DTYPE.descr + [("sep_deg", "f8")])
"""Structured dtype of query results: the catalog row, its id and its distance (deg)."""

_COLUMNS = ("id", "name") + FIELDS
_SCHEMA = """
CREATE TABLE IF NOT EXISTS catalogs (
    name TEXT PRIMARY KEY,
    source_path TEXT,
    imported_at TEXT NOT NULL,
    n_sources INTEGER NOT NULL,
    zone_height_deg REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sources (
    id INTEGER PRIMARY KEY,
    catalog TEXT NOT NULL REFERENCES catalogs(name) ON DELETE CASCADE,
    zone INTEGER NOT NULL,
    name TEXT,
    ra_deg REAL NOT NULL, dec_deg REAL NOT NULL,
    ra_err_arcsec REAL, dec_err_arcsec REAL,
    flux_mjy REAL NOT NULL, flux_err_mjy REAL,
    major_arcsec REAL, minor_arcsec REAL, pa_deg REAL
);
CREATE INDEX IF NOT EXISTS ix_sources_position ON sources(catalog, zone, ra_deg);
CREATE INDEX IF NOT EXISTS ix_sources_name ON sources(catalog, name);
"""


@dataclass(frozen=True)
class ImportReport:
    """What an import did: rows stored and bad rows skipped (``skip_bad``)."""

    catalog: str
    n_imported: int
    problems: list[str]


def _zone(dec_deg: np.ndarray | float) -> np.ndarray:
    return np.floor((np.asarray(dec_deg, float) + 90.0) / ZONE_HEIGHT_DEG).astype(np.int64)


def _ra_ranges(ra0: float, half_width: float) -> list[tuple[float, float]]:
    """RA intervals within ``half_width`` of ``ra0``, split at 0/360 (degrees)."""
    if half_width >= 180.0:
        return [(0.0, 360.0)]
    low, high = ra0 - half_width, ra0 + half_width
    if low < 0:
        return [(0.0, high), (low + 360.0, 360.0)]
    if high >= 360:
        return [(low, 360.0), (0.0, high - 360.0)]
    return [(low, high)]


class CatalogStore:
    """Survey catalogs in an SQLite file.

    Parameters
    ----------
    path : str or Path
        The SQLite file; created (with its folder) if missing.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the connection."""
        self._db.close()

    def __enter__(self) -> CatalogStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing --------------------------------------------------------------
    def import_rows(self, catalog: str, rows: np.ndarray, source_path: str | None = None) -> int:
        """Store rows (:data:`~dsa110_contimg.catalog.readers.CATALOG_DTYPE`) as ``catalog``.

        Replaces a catalog of the same name, atomically.

        Returns
        -------
        int
            Number of rows stored.
        """
        order = np.lexsort((rows["ra_deg"], _zone(rows["dec_deg"])))
        rows = rows[order]
        zones = _zone(rows["dec_deg"]).tolist()
        numeric = [np.where(np.isnan(rows[f]), None, rows[f]).tolist() for f in FIELDS]
        names = [n or None for n in rows["name"].tolist()]
        records = zip(itertools.repeat(catalog), zones, names, *numeric, strict=False)
        now = dt.datetime.now(dt.UTC).isoformat()
        with self._db:  # one transaction: all or nothing
            self._db.execute("DELETE FROM sources WHERE catalog = ?", (catalog,))
            self._db.execute("DELETE FROM catalogs WHERE name = ?", (catalog,))
            self._db.execute(
                "INSERT INTO catalogs VALUES (?, ?, ?, ?, ?)",
                (catalog, source_path, now, len(rows), ZONE_HEIGHT_DEG),
            )
            self._db.executemany(
                f"INSERT INTO sources (catalog, zone, name, {', '.join(FIELDS)}) "
                f"VALUES (?, ?, ?{', ?' * len(FIELDS)})",
                records,
            )
        return len(rows)

    def import_file(
        self, catalog: str, path: str | Path, *, skip_bad: bool = False
    ) -> ImportReport:
        """Read a catalog file (see :mod:`~dsa110_contimg.catalog.readers`) and store it.

        Parameters
        ----------
        catalog : str
            Name to store it under (e.g. ``"NVSS"``, ``"sim"``).
        path : str or Path
            The file.
        skip_bad : bool
            Import the good rows and report the bad (default: any bad row
            aborts the import, nothing is stored, every bad line is listed).

        Raises
        ------
        CatalogFormatError
            Bad rows (without ``skip_bad``) or an unreadable file.
        """
        table = read_catalog(path, skip_bad=skip_bad)
        n = self.import_rows(catalog, table.rows, source_path=str(path))
        return ImportReport(catalog, n, table.problems)

    # -- reading --------------------------------------------------------------
    def catalogs(self) -> dict[str, int]:
        """Names of the stored catalogs and their source counts."""
        return dict(self._db.execute("SELECT name, n_sources FROM catalogs ORDER BY name"))

    def _fetch(self, sql: str, params: list) -> np.ndarray:
        records = self._db.execute(
            f"SELECT {', '.join(_COLUMNS)} FROM sources WHERE {sql}", params
        ).fetchall()
        out = np.zeros(len(records), RESULT_DTYPE)
        if records:
            cols = list(zip(*records, strict=True))
            out["id"] = cols[0]
            out["name"] = [n or "" for n in cols[1]]
            for i, f in enumerate(FIELDS):
                out[f] = np.array(cols[i + 2], dtype=float)  # None -> nan
        return out

    def cone(
        self,
        catalog: str,
        ra_deg: float,
        dec_deg: float,
        radius_deg: float,
        *,
        min_flux_mjy: float | None = None,
    ) -> np.ndarray:
        """Sources within ``radius_deg`` of a position, nearest first.

        Parameters
        ----------
        catalog : str
            Catalog name.
        ra_deg, dec_deg : float
            Centre, degrees.
        radius_deg : float
            Radius, degrees.
        min_flux_mjy : float, optional
            Keep only sources at least this bright, mJy.

        Returns
        -------
        numpy.ndarray
            :data:`RESULT_DTYPE` rows, ``sep_deg`` filled, sorted by it.
        """
        dec_low, dec_high = dec_deg - radius_deg, dec_deg + radius_deg
        if dec_high >= 90 or dec_low <= -90:
            half_width = 180.0
        else:
            ratio = math.sin(math.radians(radius_deg)) / math.cos(math.radians(dec_deg))
            half_width = 180.0 if ratio >= 1 else math.degrees(math.asin(ratio)) + 1e-9
        zones = list(range(int(_zone(max(dec_low, -90))), int(_zone(min(dec_high, 90))) + 1))
        base = f"catalog = ? AND zone IN ({', '.join('?' * len(zones))}) AND ra_deg BETWEEN ? AND ?"
        if min_flux_mjy is not None:
            base += " AND flux_mjy >= ?"
        parts = []
        for low, high in _ra_ranges(ra_deg % 360.0, half_width):  # one index scan per range
            params: list = [catalog, *zones, low, high]
            params += [min_flux_mjy] if min_flux_mjy is not None else []
            parts.append(self._fetch(base, params))
        found = np.concatenate(parts)
        found["sep_deg"] = separation_deg(ra_deg, dec_deg, found["ra_deg"], found["dec_deg"])
        found = found[found["sep_deg"] <= radius_deg]
        return found[np.argsort(found["sep_deg"], kind="stable")]

    def strip(
        self,
        catalog: str,
        dec_min_deg: float,
        dec_max_deg: float,
        *,
        ra_min_deg: float | None = None,
        ra_max_deg: float | None = None,
        min_flux_mjy: float | None = None,
    ) -> np.ndarray:
        """Sources in a declination strip, optionally an RA range (may wrap 360 -> 0).

        Returns
        -------
        numpy.ndarray
            :data:`RESULT_DTYPE` rows ordered by zone then RA (``sep_deg`` NaN).
        """
        where = ["catalog = ? AND zone BETWEEN ? AND ? AND dec_deg BETWEEN ? AND ?"]
        params: list = [catalog, int(_zone(dec_min_deg)), int(_zone(dec_max_deg))]
        params += [dec_min_deg, dec_max_deg]
        if ra_min_deg is not None and ra_max_deg is not None:
            joiner = "AND" if ra_min_deg <= ra_max_deg else "OR"
            where.append(f"(ra_deg >= ? {joiner} ra_deg <= ?)")
            params += [ra_min_deg, ra_max_deg]
        if min_flux_mjy is not None:
            where.append("flux_mjy >= ?")
            params.append(min_flux_mjy)
        found = self._fetch(" AND ".join(where) + " ORDER BY zone, ra_deg", params)
        found["sep_deg"] = np.nan
        return found

    def lookup(self, catalog: str, name: str, *, tolerance_arcsec: float = 1.0) -> np.ndarray:
        """Find a source by name: the stored name, else the position the name encodes.

        Accepts any form :func:`~dsa110_contimg.catalog.naming.parse_name`
        reads (``DSA J...``, ``NVSS J...``, the older ``J1293249+525013``).
        The position match uses the name's precision plus ``tolerance_arcsec``.

        Returns
        -------
        numpy.ndarray
            Matching rows, nearest first (empty if none).
        """
        exact = self._fetch("catalog = ? AND name = ?", [catalog, name.strip()])
        if len(exact):
            exact["sep_deg"] = 0.0
            return exact
        stripped = name.strip()
        for prefix in (f"{catalog} ", f"{catalog}J"):  # "NVSS J..." stored as "J..."
            if stripped.upper().startswith(prefix.upper()):
                exact = self._fetch(
                    "catalog = ? AND name IN (?, ?)",
                    [catalog, stripped[len(prefix) :], stripped[len(catalog) :].strip()],
                )
                if len(exact):
                    exact["sep_deg"] = 0.0
                    return exact
        try:
            parsed = parse_name(name)
        except ValueError:
            return np.zeros(0, RESULT_DTYPE)
        radius = (parsed.precision_arcsec + tolerance_arcsec) / 3600.0
        return self.cone(catalog, parsed.ra_deg, parsed.dec_deg, radius)
