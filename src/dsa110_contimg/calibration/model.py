"""Model visibilities (MODEL_DATA) of point sources, attenuated by the primary beam.

For a source at direction cosines ``(l, m, n)`` relative to the MS phase
centre (FIELD ``PHASE_DIR`` of each row's FIELD_ID) the model of an
unpolarised source in the MS convention is::

    MODEL(u, v, w, f) = S(f) A(theta, f) exp(+2 pi i (u l + v m + w (n - 1)) f / c)

for both XX and YY (XY and YX, if present, are 0: the sources are
unpolarised), with ``S(f) = S_ref (f / f_ref)**alpha`` and ``A`` the
Airy power beam (:mod:`dsa110_contimg.telescope.beam`) at the source's
offset ``theta`` from the pointing, and ``(u, v, w)`` the MS UVW column.

The sign is measured, not assumed: CASA's ``ft`` of an off-centre point
source writes exactly this (a ``casa`` test compares the two on the same
MS, and shows that ft follows the UVW column: negating UVW conjugates its
model). The MS's UVW is ``x_1 - x_2`` (pyuvdata's ``write_ms`` negates its
own ``x_2 - x_1``), which is why the plus sign appears here while the
textbook form ``exp(-2 pi i ...)`` holds for ``x_2 - x_1``. Imaging with
``exp(-2 pi i (u l + v m))`` puts the source back at ``(l, m)`` (tested
without CASA).

DSA-110 drift-scans: the dishes point at the meridian at the strip's
declination of date (``pointing_dec_deg``), which in ICRS, where the source
positions are, moves along the strip; the beam centre of each row is that
track (:func:`dsa110_contimg.telescope.drift_pointing_icrs`). Pairing the
local sidereal time with J2000 positions instead misplaces the beam by the
precession since 2000 (0.3 deg in 2026) and biased the calibrator's model
by 2-3% across a group. A fixed pointing can be given instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsa110_contimg.calibration.msio import (
    CORR_XX,
    CORR_YY,
    DEFAULT_CHUNK_ROWS,
    _table,
    ensure_column,
    read_info,
)
from dsa110_contimg.telescope import (
    SPEED_OF_LIGHT_M_S,
    airy_power,
    angular_separation,
    drift_pointing_icrs,
)

REFERENCE_FREQ_HZ = 1.4e9
"""Default reference frequency of source fluxes, Hz."""


@dataclass(frozen=True)
class PointSource:
    """An unpolarised point source.

    Attributes
    ----------
    name : str
        Label.
    ra_deg, dec_deg : float
        J2000 position, degrees.
    flux_jy : float
        Flux density at ``ref_freq_hz``, Jy.
    spectral_index : float
        ``alpha`` of ``S ~ f**alpha``.
    ref_freq_hz : float
        Reference frequency, Hz (1.4 GHz).
    """

    name: str
    ra_deg: float
    dec_deg: float
    flux_jy: float
    spectral_index: float = 0.0
    ref_freq_hz: float = REFERENCE_FREQ_HZ

    @classmethod
    def from_calibrator(cls, cal) -> PointSource:
        """From a catalog calibrator (``name, ra_deg, dec_deg, flux_jy, spectral_index``)."""
        alpha = getattr(cal, "spectral_index", None)
        return cls(cal.name, cal.ra_deg, cal.dec_deg, cal.flux_jy, alpha or 0.0)

    def flux_at(self, freq_hz: np.ndarray) -> np.ndarray:
        """Flux density at ``freq_hz``, Jy."""
        return self.flux_jy * (np.asarray(freq_hz, float) / self.ref_freq_hz) ** self.spectral_index


def direction_cosines(
    ra_rad: np.ndarray, dec_rad: np.ndarray, ra0_rad: np.ndarray, dec0_rad: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Direction cosines ``(l, m, n)`` of a direction relative to a phase centre.

    ``l`` points east (increasing RA), ``m`` north; all inputs in radians and
    broadcast together.
    """
    dra = np.asarray(ra_rad) - ra0_rad
    cd, sd = np.cos(dec_rad), np.sin(dec_rad)
    cd0, sd0 = np.cos(dec0_rad), np.sin(dec0_rad)
    l = cd * np.sin(dra)  # noqa: E741
    m = sd * cd0 - cd * sd0 * np.cos(dra)
    n = sd * sd0 + cd * cd0 * np.cos(dra)
    return l, m, n


def predict_visibilities(
    uvw_m: np.ndarray,
    freqs_hz: np.ndarray,
    sources: Sequence[PointSource],
    phase_centre_rad: np.ndarray,
    pointing_rad: np.ndarray | None = None,
) -> np.ndarray:
    """Model visibilities (Stokes I, same for XX and YY) of point sources.

    Parameters
    ----------
    uvw_m : numpy.ndarray
        Shape (rows, 3): UVW, metres.
    freqs_hz : numpy.ndarray
        Shape (Nchan,), Hz.
    sources : sequence of PointSource
        The sky model.
    phase_centre_rad : numpy.ndarray
        Shape (2,) or (rows, 2): RA, Dec of the phase centre, radians.
    pointing_rad : numpy.ndarray, optional
        Shape (2,) or (rows, 2): primary-beam centre, radians; None for no
        beam attenuation.

    Returns
    -------
    numpy.ndarray
        Shape (rows, Nchan) complex64.
    """
    pc = np.broadcast_to(np.asarray(phase_centre_rad, float), (uvw_m.shape[0], 2))
    out = np.zeros((uvw_m.shape[0], freqs_hz.size), np.complex64)
    scale = 2j * np.pi * freqs_hz / SPEED_OF_LIGHT_M_S
    for src in sources:
        ra, dec = np.radians(src.ra_deg), np.radians(src.dec_deg)
        l, m, n = direction_cosines(ra, dec, pc[:, 0], pc[:, 1])  # noqa: E741
        delay_m = uvw_m[:, 0] * l + uvw_m[:, 1] * m + uvw_m[:, 2] * (n - 1)
        amp = src.flux_at(freqs_hz)[None, :]
        if pointing_rad is not None:
            pt = np.broadcast_to(np.asarray(pointing_rad, float), (uvw_m.shape[0], 2))
            theta = angular_separation(pt[:, 0], pt[:, 1], ra, dec)
            # the beam depends on the row only through the pointing (i.e. time)
            unique, inverse = np.unique(theta, return_inverse=True)
            amp = amp * airy_power(unique[:, None], freqs_hz[None, :])[inverse]
        if np.any(delay_m):
            out += (amp * np.exp(delay_m[:, None] * scale[None, :])).astype(np.complex64)
        else:  # at the phase centre: no fringe
            out += np.broadcast_to(amp, out.shape).astype(np.complex64)
    return out


def drift_pointing_rows(times_s: np.ndarray, pointing_dec_deg: float) -> np.ndarray:
    """Beam centre (ICRS RA, Dec, radians; shape (rows, 2)) of rows at MJD-second times."""
    return np.column_stack(drift_pointing_icrs(np.asarray(times_s) / 86400.0, pointing_dec_deg))


def write_model_ms(
    ms: str | Path,
    sources: Sequence[PointSource],
    *,
    pointing_dec_deg: float | None = None,
    pointing_radec_deg: tuple[float, float] | None = None,
    apply_beam: bool = True,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> dict:
    """Fill MODEL_DATA of an MS with the sky model.

    Parameters
    ----------
    ms : str or Path
        The MS (MODEL_DATA is created if missing).
    sources : sequence of PointSource
        Calibrator and, optionally, catalog sources in the beam.
    pointing_dec_deg : float, optional
        Drift-scan declination of date (the MS's ``pointing_dec_deg``): the
        beam centre is the meridian at this declination at each row's time.
    pointing_radec_deg : (float, float), optional
        A fixed beam centre instead, degrees.
    apply_beam : bool
        Attenuate by the primary beam. Without either pointing given, the
        beam centre is the field's phase centre.
    chunk_rows : int
        Rows per chunk.

    Returns
    -------
    dict
        ``{"sources": n, "rows": n}``.
    """
    info = read_info(ms)
    ensure_column(ms, "MODEL_DATA")
    with _table(Path(ms) / "FIELD") as fld:
        phase_dirs = fld.getcol("PHASE_DIR")[:, 0, :]  # (Nfield, 2)
    parallel = np.isin(info.corr_types, (CORR_XX, CORR_YY))  # unpolarised: cross hands 0
    with _table(ms, readonly=False) as tb:
        for start in range(0, tb.nrows(), chunk_rows):
            n = min(chunk_rows, tb.nrows() - start)
            pc = phase_dirs[tb.getcol("FIELD_ID", start, n)]
            pointing = None
            if apply_beam:
                if pointing_radec_deg is not None:
                    pointing = np.radians(np.asarray(pointing_radec_deg, float))
                elif pointing_dec_deg is not None:
                    pointing = drift_pointing_rows(tb.getcol("TIME", start, n), pointing_dec_deg)
                else:
                    pointing = pc
            vis = predict_visibilities(
                tb.getcol("UVW", start, n), info.freqs_hz, sources, pc, pointing
            )
            tb.putcol("MODEL_DATA", vis[:, :, None] * parallel, start, n)
    return {"sources": len(sources), "rows": info.n_rows}
