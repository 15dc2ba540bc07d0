"""Flux calibrators: the five primary ones built in, and the VLA calibrator list.

Primary calibrators (``docs/dsa110.md`` §3): 1.4 GHz flux density and
spectral index, ``S(f) = S_1.4 (f / 1.4 GHz) ** alpha``.

The VLA calibrator list is read from the user's copy of its standard text
form: per source a header line ``<J2000 name> J2000 <position code>
<RA hh'h'mm'm'ss.sss's> <Dec dd'd'mm'ss.sss"> [<pos. ref>] [<alt. name>]``
(an optional ``B1950`` line after it is ignored), then band lines
``<band, e.g. 20cm> <letter, e.g. L> <A> <B> <C> <D config codes> [<flux Jy>]
[<uvmin kL>] [<uvmax kL>]``. Lines that fit neither form (titles, rulers,
column headings, notes) are skipped. A header line whose position cannot be
read is an error naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dsa110_contimg.catalog.readers import CatalogFormatError, _sexagesimal

REFERENCE_FREQ_HZ = 1.4e9
"""Frequency of the tabulated primary-calibrator flux densities, Hz."""


@dataclass(frozen=True)
class Calibrator:
    """A flux or phase calibrator.

    Attributes
    ----------
    name : str
        Common name (``"3C286"``) or the VLA list's J2000 name.
    ra_deg, dec_deg : float
        J2000 position, degrees.
    flux_jy : float
        Flux density at 1.4 GHz (VLA list: its 20 cm / L band entry), Jy.
    spectral_index : float or None
        ``alpha`` of ``S ~ f**alpha``; None when unknown (VLA list).
    primary : bool
        One of the five primary flux calibrators.
    aliases : tuple of str
        Other names (J2000 name, alternate name in the VLA list).
    position_code : str
        VLA position accuracy code (A best), '' for the primary ones.
    band_flux_jy : dict
        VLA list fluxes by band letter (``{"L": 15.0, "C": 7.47}``), Jy.
    """

    name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    spectral_index: float | None = None
    primary: bool = False
    aliases: tuple[str, ...] = ()
    position_code: str = ""
    band_flux_jy: dict[str, float] = field(default_factory=dict)

    def flux_at(self, freq_hz: float | np.ndarray) -> float | np.ndarray:
        """Flux density at ``freq_hz`` (Hz), Jy; flat spectrum if alpha is unknown."""
        alpha = 0.0 if self.spectral_index is None else self.spectral_index
        return self.flux_jy * (np.asarray(freq_hz, float) / REFERENCE_FREQ_HZ) ** alpha


def _hms(text: str) -> float:
    return 15.0 * _sexagesimal(text)


_PRIMARY = (
    # name, J2000 alias, RA, Dec, S_1.4 (Jy), alpha
    ("3C286", "J1331+3030", "13h31m08.288s", "+30d30m32.96s", 14.86, -0.467),
    ("3C48", "J0137+3309", "01h37m41.30s", "+33d09m35.1s", 16.23, -0.491),
    ("3C147", "J0542+4951", "05h42m36.14s", "+49d51m07.2s", 22.45, -0.518),
    ("3C138", "J0521+1638", "05h21m09.89s", "+16d38m22.1s", 8.36, -0.433),
    ("3C295", "J1411+5212", "14h11m20.52s", "+52d12m09.9s", 22.0, -0.58),
)


def primary_calibrators() -> list[Calibrator]:
    """The five primary flux calibrators of ``docs/dsa110.md``.

    Returns
    -------
    list of Calibrator
        3C286, 3C48, 3C147, 3C138, 3C295 with 1.4 GHz fluxes (Jy) and
        spectral indices.
    """
    return [
        Calibrator(name, _hms(ra), _sexagesimal(dec), flux, alpha, True, (alias,))
        for name, alias, ra, dec, flux, alpha in _PRIMARY
    ]


_HEADER = re.compile(
    r"^\s*(?P<name>\d{4}[+-]\d{3,4}\S*)\s+J2000\s+(?P<code>\S)\s+(?P<ra>\S+)\s+(?P<dec>\S+)"
    r"(?:\s+(?P<ref>\S+))?(?:\s+(?P<alt>\S+))?"
)
_BAND = re.compile(
    r"^\s*(?P<wave>\d+(?:\.\d+)?(?:cm|mm))\s+(?P<band>[A-Z]{1,2})"
    r"(?:\s+[A-Z?]){4}(?:\s+(?P<flux>\d+(?:\.\d*)?))?"
)


def read_vla_calibrators(path: str | Path) -> list[Calibrator]:
    """Read the VLA calibrator list (standard text form, see the module notes).

    Parameters
    ----------
    path : str or Path
        The list file.

    Returns
    -------
    list of Calibrator
        One per J2000 entry; ``flux_jy`` is the L-band (20 cm) flux, NaN if
        the list gives none.

    Raises
    ------
    CatalogFormatError
        A source line whose RA/Dec cannot be read (the message names it).
    """
    path = Path(path)
    out: list[dict] = []
    problems: list[str] = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        head = _HEADER.match(line)
        if head:
            try:
                ra, dec = _hms(head["ra"]), _sexagesimal(head["dec"])
            except ValueError as exc:
                problems.append(f"{path}:{number}: {exc}")
                continue
            if not (0 <= ra < 360 and -90 <= dec <= 90):
                problems.append(f"{path}:{number}: position out of range")
                continue
            alt = head["alt"]
            if alt is None and head["ref"] and not re.fullmatch(r"[A-Z][a-z]{2}\d{2}", head["ref"]):
                alt = head["ref"]  # no position reference given: the last field is the alias
            out.append(
                dict(name="J" + head["name"], ra=ra, dec=dec, code=head["code"], alt=alt, bands={})
            )
            continue
        band = _BAND.match(line)
        if band and out and band["flux"] is not None:
            out[-1]["bands"][band["band"]] = float(band["flux"])
    if problems:
        raise CatalogFormatError(f"{path}: {len(problems)} unreadable source line(s)", problems)
    return [
        Calibrator(
            name=s["name"],
            ra_deg=s["ra"],
            dec_deg=s["dec"],
            flux_jy=s["bands"].get("L", float("nan")),
            aliases=(s["alt"],) if s["alt"] else (),
            position_code=s["code"],
            band_flux_jy=s["bands"],
        )
        for s in out
    ]


def calibrators_near(
    dec_deg: float,
    radius_deg: float = 10.0,
    min_flux_jy: float = 5.0,
    *,
    vla: list[Calibrator] | None = None,
    freq_hz: float = REFERENCE_FREQ_HZ,
) -> list[Calibrator]:
    """Calibrators transiting within ``radius_deg`` of a strip's declination.

    A drift scan sees every RA, so only the declination distance counts.

    Parameters
    ----------
    dec_deg : float
        Pointing declination of the strip, degrees.
    radius_deg : float
        Largest ``|dec - dec_cal|``, degrees (default 10).
    min_flux_jy : float
        Faintest flux density kept at ``freq_hz``, Jy (default 5).
    vla : list of Calibrator, optional
        The VLA list (:func:`read_vla_calibrators`); entries duplicating a
        primary calibrator (within 1 arcmin) are dropped.
    freq_hz : float
        Frequency at which fluxes are compared, Hz (default 1.4 GHz).

    Returns
    -------
    list of Calibrator
        Primary calibrators first, then VLA ones, each group brightest first.
    """
    primary = primary_calibrators()

    def keep(cal: Calibrator) -> bool:
        flux = cal.flux_at(freq_hz)
        return abs(cal.dec_deg - dec_deg) <= radius_deg and bool(flux >= min_flux_jy)

    chosen = sorted((c for c in primary if keep(c)), key=lambda c: -c.flux_at(freq_hz))
    others = []
    for cal in vla or []:
        duplicate = any(
            abs(cal.dec_deg - p.dec_deg) < 1 / 60
            and abs((cal.ra_deg - p.ra_deg + 180) % 360 - 180) * np.cos(np.radians(p.dec_deg))
            < 1 / 60
            for p in primary
        )
        if not duplicate and keep(cal):
            others.append(cal)
    return chosen + sorted(others, key=lambda c: -c.flux_jy)


def calibrator_rows(calibrators: list[Calibrator]) -> np.ndarray:
    """Calibrators as catalog rows, to store them like a survey catalog.

    Parameters
    ----------
    calibrators : list of Calibrator
        E.g. :func:`read_vla_calibrators` or :func:`primary_calibrators`.

    Returns
    -------
    numpy.ndarray
        :data:`~dsa110_contimg.catalog.readers.CATALOG_DTYPE` rows: the name,
        position, and the 1.4 GHz (L band) flux in mJy; entries without an L-band
        flux are left out. Store with ``CatalogStore.import_rows("VLACAL", rows)``.
    """
    from dsa110_contimg.catalog.readers import CATALOG_DTYPE

    kept = [c for c in calibrators if np.isfinite(c.flux_jy) and c.flux_jy > 0]
    rows = np.zeros(len(kept), CATALOG_DTYPE)
    for name in CATALOG_DTYPE.names[1:]:
        rows[name] = np.nan
    rows["name"] = [c.name for c in kept]
    rows["ra_deg"] = [c.ra_deg for c in kept]
    rows["dec_deg"] = [c.dec_deg for c in kept]
    rows["flux_mjy"] = [1e3 * c.flux_jy for c in kept]
    return rows
