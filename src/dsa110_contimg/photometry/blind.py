"""Blind source finding with PyBDSF, and matching detections to a catalog.

:func:`find_sources` runs PyBDSF's ``process_image`` on a FITS image with
the operating pipeline's thresholds (islands flooded to 6 sigma from 7 sigma
seeds), quietly, without plots, in a temporary folder (PyBDSF writes its log
and products beside the image it reads, so it reads a symbolic link there),
and returns the Gaussian-list sources as a structured array.

:func:`match_to_catalog` pairs detections with catalog positions (nearest
within a radius); the unmatched ones are new-source candidates.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from dsa110_contimg.errors import InputDataError, ToolMissingError
from dsa110_contimg.telescope.constants import BAND_HIGH_HZ, BAND_LOW_HZ

BAND_CENTRE_HZ = 0.5 * (BAND_LOW_HZ + BAND_HIGH_HZ)

INSTALL_HINT = "install it with: .venv/bin/pip install bdsf"

DETECTION_DTYPE = np.dtype(
    [
        ("ra_deg", "f8"),
        ("dec_deg", "f8"),
        ("ra_err_arcsec", "f8"),
        ("dec_err_arcsec", "f8"),
        ("peak_jy", "f8"),
        ("peak_err_jy", "f8"),
        ("flux_jy", "f8"),
        ("flux_err_jy", "f8"),
        ("major_arcsec", "f8"),
        ("minor_arcsec", "f8"),
        ("pa_deg", "f8"),
        ("local_rms_jy", "f8"),
    ]
)
"""Structured dtype of a detection list: position (deg, errors arcsec), peak
(Jy/beam) and total flux density (Jy) with errors, fitted size (FWHM arcsec,
PA deg), local rms (Jy/beam)."""


def _import_bdsf():
    try:
        import bdsf  # noqa: PLC0415  (optional, heavy: imported on use)
    except ImportError as exc:
        raise ToolMissingError(
            f"PyBDSF (bdsf) is not importable: {exc}", hint=INSTALL_HINT
        ) from exc
    return bdsf


def find_sources(
    image_path: str | Path,
    *,
    thresh_isl: float = 6.0,
    thresh_pix: float = 7.0,
    frequency_hz: float | None = None,
    **bdsf_options: object,
) -> np.ndarray:
    """Find sources in a FITS image with PyBDSF.

    Parameters
    ----------
    image_path : str or Path
        FITS image (Jy/beam) with BMAJ/BMIN/BPA in its header.
    thresh_isl, thresh_pix : float
        Island (flood) and peak (seed) thresholds in sigma (default 6 and 7).
    frequency_hz : float, optional
        Observing frequency, Hz, for images whose header has none (no FREQ
        axis, no RESTFRQ); default the DSA-110 band centre.
    **bdsf_options
        Passed to ``bdsf.process_image`` (e.g. ``rms_box=(60, 15)``).

    Returns
    -------
    numpy.ndarray
        :data:`DETECTION_DTYPE` rows, one per PyBDSF source (empty if none).

    Raises
    ------
    ToolMissingError
        If ``bdsf`` cannot be imported (the message says how to install it).
    InputDataError
        If the image is missing or PyBDSF fails on it.
    """
    bdsf = _import_bdsf()
    image_path = Path(image_path).resolve()
    if not image_path.is_file():
        raise InputDataError(f"{image_path}: no such image")
    with tempfile.TemporaryDirectory(prefix="bdsf_") as tmp:
        link = Path(tmp) / image_path.name
        os.symlink(image_path, link)
        options = dict(quiet=True, thresh_isl=thresh_isl, thresh_pix=thresh_pix)
        if frequency_hz is not None or not _header_has_frequency(image_path):
            options["frequency"] = frequency_hz or BAND_CENTRE_HZ
        options.update(bdsf_options)
        try:
            img = bdsf.process_image(str(link), **options)
        except Exception as exc:  # PyBDSF raises bare RuntimeErrors and more
            raise InputDataError(f"{image_path}: PyBDSF failed: {exc}") from exc
        if img.nsrc == 0:
            return np.zeros(0, DETECTION_DTYPE)
        out = Path(tmp) / "sources.fits"
        img.write_catalog(outfile=str(out), format="fits", catalog_type="srl", clobber=True)
        return _read_srl(out)


def _header_has_frequency(path: Path) -> bool:
    from astropy.io import fits

    header = fits.getheader(path)
    ctypes = [str(header.get(f"CTYPE{i}", "")) for i in range(1, header.get("NAXIS", 0) + 1)]
    return any(c.startswith("FREQ") for c in ctypes) or "RESTFRQ" in header or "RESTFREQ" in header


def _read_srl(path: Path) -> np.ndarray:
    from astropy.table import Table

    table = Table.read(path)
    rows = np.zeros(len(table), DETECTION_DTYPE)
    columns = {
        "ra_deg": ("RA", 1.0),
        "dec_deg": ("DEC", 1.0),
        "ra_err_arcsec": ("E_RA", 3600.0),
        "dec_err_arcsec": ("E_DEC", 3600.0),
        "peak_jy": ("Peak_flux", 1.0),
        "peak_err_jy": ("E_Peak_flux", 1.0),
        "flux_jy": ("Total_flux", 1.0),
        "flux_err_jy": ("E_Total_flux", 1.0),
        "major_arcsec": ("Maj", 3600.0),
        "minor_arcsec": ("Min", 3600.0),
        "pa_deg": ("PA", 1.0),
        "local_rms_jy": ("Isl_rms", 1.0),
    }
    for name, (column, scale) in columns.items():
        rows[name] = (
            np.asarray(table[column], float) * scale if column in table.colnames else np.nan
        )
    return rows


@dataclass
class CatalogMatch:
    """Detections paired with catalog positions.

    Attributes
    ----------
    detection_index : numpy.ndarray
        Indices of matched detections, int.
    catalog_index : numpy.ndarray
        Index of the catalog position each matched detection pairs with.
    separation_arcsec : numpy.ndarray
        Their distances, arcsec.
    unmatched : numpy.ndarray
        Indices of detections with no catalog position within the radius:
        the new-source candidates.
    """

    detection_index: np.ndarray
    catalog_index: np.ndarray
    separation_arcsec: np.ndarray
    unmatched: np.ndarray


def _unit_vectors(ra_deg: np.ndarray, dec_deg: np.ndarray) -> np.ndarray:
    ra, dec = np.radians(ra_deg), np.radians(dec_deg)
    return np.c_[np.cos(dec) * np.cos(ra), np.cos(dec) * np.sin(ra), np.sin(dec)]


def match_to_catalog(
    detections: np.ndarray,
    catalog_positions: np.ndarray | tuple[np.ndarray, np.ndarray],
    radius_arcsec: float,
) -> CatalogMatch:
    """Pair each detection with its nearest catalog position within a radius.

    Parameters
    ----------
    detections : numpy.ndarray
        Rows with ``ra_deg`` and ``dec_deg`` fields (e.g. :func:`find_sources`).
    catalog_positions : numpy.ndarray or (ra, dec) tuple
        Catalog rows with ``ra_deg``/``dec_deg`` fields, an (N, 2) array of
        (RA, Dec), or a tuple of two arrays, degrees.
    radius_arcsec : float
        Largest separation of a match, arcsec.

    Returns
    -------
    CatalogMatch
        Several detections may match the same catalog position (a resolved
        source split in pieces); each detection matches at most one.
    """
    if isinstance(catalog_positions, tuple):
        cat_ra, cat_dec = catalog_positions
    elif catalog_positions.dtype.names:
        cat_ra, cat_dec = catalog_positions["ra_deg"], catalog_positions["dec_deg"]
    else:
        cat_ra, cat_dec = catalog_positions[:, 0], catalog_positions[:, 1]
    n_det = len(detections)
    if n_det == 0 or len(cat_ra) == 0:
        empty = np.zeros(0, np.int64)
        return CatalogMatch(empty, empty, np.zeros(0), np.arange(n_det))
    chord = 2 * np.sin(np.radians(radius_arcsec / 3600.0) / 2)
    tree = cKDTree(_unit_vectors(np.asarray(cat_ra, float), np.asarray(cat_dec, float)))
    dist, idx = tree.query(
        _unit_vectors(detections["ra_deg"], detections["dec_deg"]), distance_upper_bound=chord
    )
    found = np.isfinite(dist)
    separation = np.degrees(2 * np.arcsin(dist[found] / 2)) * 3600.0
    return CatalogMatch(np.flatnonzero(found), idx[found], separation, np.flatnonzero(~found))


def new_sources(detections: np.ndarray, match: CatalogMatch) -> list[dict[str, object]]:
    """The unmatched detections as new sources, named by the pipeline's convention.

    Parameters
    ----------
    detections : numpy.ndarray
        :data:`DETECTION_DTYPE` rows (:func:`find_sources`).
    match : CatalogMatch
        Their match to the catalog (:func:`match_to_catalog`).

    Returns
    -------
    list of dict
        One per unmatched detection, keys as the products DB ``Source``
        columns: ``name`` (``DSA J...``, see
        :mod:`~dsa110_contimg.catalog.naming`), ``ra_deg``, ``dec_deg``,
        ``catalog`` (``"blind"``), ``catalog_flux_jy``,
        ``catalog_flux_err_jy``, ``major_arcsec``, ``minor_arcsec``.
    """
    from dsa110_contimg.catalog.naming import format_name

    out = []
    for row in detections[match.unmatched]:
        out.append(
            {
                "name": format_name(float(row["ra_deg"]), float(row["dec_deg"])),
                "ra_deg": float(row["ra_deg"]) % 360.0,
                "dec_deg": float(row["dec_deg"]),
                "catalog": "blind",
                "catalog_flux_jy": float(row["flux_jy"]),
                "catalog_flux_err_jy": float(row["flux_err_jy"]),
                "major_arcsec": float(row["major_arcsec"]),
                "minor_arcsec": float(row["minor_arcsec"]),
            }
        )
    return out
