"""Complete FITS headers on the imaging products.

WSClean writes a valid celestial WCS, the frequency axis (CRVAL3 = the
reference frequency, CDELT3 = the bandwidth) and, on restored images, the
beam. We add what users and later stages need: DATE-OBS and MJD-OBS at the
data's mid-time (DATE-BEG/DATE-END at its edges), the telescope, the MS and
data column imaged, the pipeline version, the tier, explicit FREQ/BANDWID
keywords, and BMAJ/BMIN/BPA (from the restored image) on every product.
"""

from __future__ import annotations

from astropy.io import fits
from astropy.time import Time

from dsa110_contimg import __version__
from dsa110_contimg.imaging.msinfo import MSSummary

TELESCOPE = "DSA-110"


def product_keywords(
    summary: MSSummary, *, tier: str, data_column: str, beam: tuple[float, float, float] | None
) -> dict[str, tuple[object, str]]:
    """The keywords every product carries: ``{key: (value, comment)}``.

    Parameters
    ----------
    summary
        The imaged MS.
    tier
        Imaging tier name.
    data_column
        Column imaged.
    beam
        (BMAJ, BMIN, BPA) in degrees, or None.
    """
    mid, beg, end = (Time(m, format="mjd", scale="utc") for m in (
        summary.mjd_mid, summary.mjd_start, summary.mjd_end))  # fmt: skip
    keys: dict[str, tuple[object, str]] = {
        "TELESCOP": (TELESCOPE, "Deep Synoptic Array, 110 antennas"),
        "INSTRUME": ("DSA", "correlator"),
        "DATE-OBS": (mid.isot, "mid-time of the data (UTC)"),
        "MJD-OBS": (summary.mjd_mid, "[d] mid-time of the data (UTC)"),
        "DATE-BEG": (beg.isot, "start of the data (UTC)"),
        "DATE-END": (end.isot, "end of the data (UTC)"),
        "MJD-BEG": (summary.mjd_start, "[d] start of the data (UTC)"),
        "MJD-END": (summary.mjd_end, "[d] end of the data (UTC)"),
        "TIMESYS": ("UTC", ""),
        "EXPTIME": (summary.duration_s, "[s] time span of the data"),
        "FREQ": (float(summary.freqs_hz.mean()), "[Hz] mean channel frequency"),
        "BANDWID": (summary.bandwidth_hz, "[Hz] total bandwidth"),
        "MSPATH": (str(summary.path), "Measurement Set imaged"),
        "DATACOL": (data_column, "MS column imaged"),
        "IMTIER": (tier, "imaging tier"),
        "PIPELINE": ("dsa110-contimg", ""),
        "PIPEVER": (__version__, "pipeline version"),
    }
    if beam is not None:
        keys["BMAJ"] = (beam[0], "[deg] restoring beam major axis FWHM")
        keys["BMIN"] = (beam[1], "[deg] restoring beam minor axis FWHM")
        keys["BPA"] = (beam[2], "[deg] restoring beam position angle")
    return keys


def read_beam(path: str) -> tuple[float, float, float] | None:
    """(BMAJ, BMIN, BPA) in degrees from a restored image's header, None if absent."""
    header = fits.getheader(path)
    if "BMAJ" not in header or "BMIN" not in header:
        return None
    return float(header["BMAJ"]), float(header["BMIN"]), float(header.get("BPA", 0.0))


def complete_header(path: str, keywords: dict[str, tuple[object, str]]) -> None:
    """Write ``keywords`` into a FITS file's primary header, in place."""
    with fits.open(path, mode="update") as hdul:
        header = hdul[0].header
        for key, (value, comment) in keywords.items():
            # long strings (paths) continue over several cards: drop the comment
            fits_comment = comment if not isinstance(value, str) or len(value) < 40 else ""
            header[key] = (value, fits_comment)
