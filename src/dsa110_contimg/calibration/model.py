"""Model visibilities (MODEL_DATA) of point sources, attenuated by the primary beam.

For a source at direction cosines ``(l, m, n)`` relative to the MS phase
centre (FIELD ``PHASE_DIR`` of each row's FIELD_ID) the model of an
unpolarised source in the MS convention is::

    MODEL(u, v, w, f) = S(f) A(theta, f) exp(+2 pi i (u l + v m + w (n - 1)) f / c)

for both XX and YY (XY and YX, if present, are 0: the sources are
unpolarised), with ``S(f) = S_ref (f / f_ref)**alpha`` and ``A`` the
power beam (a :class:`~dsa110_contimg.telescope.beam.PrimaryBeamModel`: the
Airy unless the images are corrected with a measured model, so calibration
and correction see one beam) at the source's offset ``theta`` from the pointing, and ``(u, v, w)`` the MS UVW column.

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

Not modelled: differential aberration. ``(l, m)`` are ICRS offsets, while the
sky the correlator sees is aberrated (v/c ~ 1e-4), which scales offsets
from the phase centre by up to about 1e-4. Measured against the simulator
(astropy ICRS -> AltAz per integration) on a noiseless 3C48 group: a pure
E-W gain-phase ramp of 0.6 deg/km at 1.4 GHz for the calibrator 0.22 deg
from the phase centre (a 0.073 arcsec offset, 9.2e-5 of it); scaled to a 2.6 km
baseline with the calibrator 0.6 deg off, about 4 deg. The ramp moves the
calibrated targets by the same fraction of an arcsecond, far below the
beam, so it is left; computing offsets between apparent positions would remove it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numba
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
    AIRY,
    SPEED_OF_LIGHT_M_S,
    PrimaryBeamModel,
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
    *,
    method: str = "kernel",
    beam: PrimaryBeamModel = AIRY,
) -> np.ndarray:
    """Model visibilities (Stokes I, same for XX and YY) of point sources.

    ``method="kernel"`` (the default) uses :func:`predict_binned` with bins of
    one channel when the channels are evenly spaced, else falls back to
    ``"reference"``: the plain numpy sum, one complex exponential per row,
    source and channel (about 100 s for 300 sources on a full group).

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
    method : {"kernel", "reference"}
        The compiled geometric-progression kernel or the numpy reference.
    beam : PrimaryBeamModel
        The primary beam (default the Airy; a measured or fitted model when
        the images are corrected with one).

    Returns
    -------
    numpy.ndarray
        Shape (rows, Nchan) complex64.
    """
    if method not in ("kernel", "reference"):
        raise ValueError(f"unknown prediction method {method!r}")
    if method == "kernel" and channel_step_hz(freqs_hz) is not None:
        return predict_binned(
            uvw_m, freqs_hz, sources, phase_centre_rad, pointing_rad, 1, beam=beam
        )
    return _predict_reference(uvw_m, freqs_hz, sources, phase_centre_rad, pointing_rad, beam)


def _predict_reference(uvw_m, freqs_hz, sources, phase_centre_rad, pointing_rad, beam=AIRY):
    """:func:`predict_visibilities` in numpy, one exponential per row, source and channel."""
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
            amp = amp * beam.gain(unique[:, None], freqs_hz[None, :])[inverse]
        if np.any(delay_m):
            out += (amp * np.exp(delay_m[:, None] * scale[None, :])).astype(np.complex64)
        else:  # at the phase centre: no fringe
            out += np.broadcast_to(amp, out.shape).astype(np.complex64)
    return out


def channel_step_hz(freqs_hz: np.ndarray) -> float | None:
    """The channel spacing (Hz, signed) if the channels are evenly spaced, else None.

    "Evenly" means within 1 Hz, a phase error under 1e-5 rad on any fringe
    of a 2.6 km array. A single channel has a spacing of 0.
    """
    f = np.asarray(freqs_hz, float)
    if f.size == 1:
        return 0.0
    if f.size == 0:
        return None
    steps = np.diff(f)
    step = (f[-1] - f[0]) / (f.size - 1)
    return float(step) if step != 0 and np.abs(steps - step).max() <= 1.0 else None


#: Bins written per block of the kernel's inner loop (a vectorised loop over bins).
_BLOCK = 32
#: Rows per task when the prediction is spread over threads.
_ROWS_PER_TASK = 2048


def predict_binned(
    uvw_m: np.ndarray,
    freqs_hz: np.ndarray,
    sources: Sequence[PointSource],
    phase_centre_rad: np.ndarray,
    pointing_rad: np.ndarray | None = None,
    chan_bin: int = 1,
    workers: int | None = None,
    *,
    beam: PrimaryBeamModel = AIRY,
) -> np.ndarray:
    """Model visibilities averaged over bins of ``chan_bin`` adjacent channels.

    The same model as :func:`predict_visibilities` (same parameters),
    averaged over each bin of ``k = chan_bin`` channels: the exact channel
    mean, not the model at the bin centre. Per row and source, with
    ``x_j = j - (k - 1) / 2`` a channel's offset from its bin's centre,
    ``theta`` the fringe's phase step per channel and the amplitude (flux x
    beam) across the bin fitted as ``alpha + beta x_j + gamma (x_j**2 - s2)``
    (orthogonal polynomials, ``s2 = mean_j x_j**2``)::

        mean_j a_j exp(i (phi_b + theta x_j)) = exp(i phi_b) (alpha D + gamma F + i beta E)
        D = mean_j cos(theta x_j)    E = mean_j x_j sin(theta x_j)
        F = mean_j (x_j**2 - s2) cos(theta x_j)

    ``D`` is the bandwidth-smearing factor (a sinc for many channels), ``E``
    and ``F`` the smeared fringe's response to the amplitude's slope and
    curvature; the cubic and higher terms of the amplitude (the beam across
    a bin) are neglected: under 1e-6 of the model for bins of up to 8
    channels of 244 kHz in the beam's main lobe (2e-5 for 16). ``k = 1`` is
    the per-channel model.

    The channels are evenly spaced, so the bin centres' phasors form a
    geometric progression: one complex exponential per row and source, then
    complex multiplies (numba, rows spread over ``workers`` threads, the
    phasors formed in float64 and reduced to a turn before single precision,
    as the simulator does). Cost: rows x sources x Nchan / k.

    Returns
    -------
    numpy.ndarray
        Shape (rows, Nchan / k) complex64.

    Raises
    ------
    ValueError
        If the channels are not evenly spaced or ``k`` does not divide them.
    """
    f = np.asarray(freqs_hz, float)
    step = channel_step_hz(f)
    k = int(chan_bin)
    if step is None or k < 1 or f.size % k:
        raise ValueError(f"cannot bin {f.size} channels by {chan_bin} (uneven, or not a divisor)")
    nrow, nbin, ns = uvw_m.shape[0], f.size // k, len(sources)
    out_re = np.zeros((nrow, nbin), np.float32)
    out_im = np.zeros((nrow, nbin), np.float32)
    if nrow == 0 or ns == 0:
        return out_re.astype(np.complex64)
    ra = np.radians([s.ra_deg for s in sources])
    dec = np.radians([s.dec_deg for s in sources])
    pc = np.broadcast_to(np.asarray(phase_centre_rad, float), (nrow, 2))
    pc_unique, pc_index = np.unique(pc, axis=0, return_inverse=True)
    lmn = np.stack(
        direction_cosines(ra[None], dec[None], pc_unique[:, :1], pc_unique[:, 1:]), axis=-1
    )  # (Npc, Ns, 3)
    amp = np.stack([s.flux_at(f) for s in sources])[None]  # (1, Ns, Nchan)
    pt_index = np.zeros(nrow, np.int64)
    if pointing_rad is not None:
        pt = np.broadcast_to(np.asarray(pointing_rad, float), (nrow, 2))
        pt_unique, pt_index = np.unique(pt, axis=0, return_inverse=True)
        theta = angular_separation(pt_unique[:, :1], pt_unique[:, 1:], ra[None], dec[None])
        amp = amp * beam.gain(theta[..., None], f[None, None, :])  # (Npt, Ns, Nchan)
    amp = amp.reshape(amp.shape[0], ns, nbin, k)
    x = np.arange(k) - (k - 1) / 2
    p2 = x**2 - np.mean(x**2)
    alpha = amp.mean(-1).astype(np.float32)
    beta = (amp @ x / (float(x @ x) if k > 1 else 1.0)).astype(np.float32)
    gamma = (amp @ p2 / (float(p2 @ p2) if k > 2 else 1.0)).astype(np.float32)
    args = (
        np.ascontiguousarray(uvw_m, np.float64),
        np.ascontiguousarray(lmn),
        np.ascontiguousarray(pc_index.ravel(), np.int64),
        np.ascontiguousarray(pt_index.ravel(), np.int64),
        alpha,
        beta,
        gamma,
        (f[0] + (k - 1) / 2 * step) / SPEED_OF_LIGHT_M_S,
        step / SPEED_OF_LIGHT_M_S,
        k,
        out_re,
        out_im,
    )
    starts = range(0, nrow, _ROWS_PER_TASK)
    workers = max(1, min(workers or os.cpu_count() or 1, len(starts)))
    if workers == 1:
        _predict_kernel(*args, 0, nrow)
    else:
        with ThreadPoolExecutor(workers) as pool:
            done = [pool.submit(_predict_kernel, *args, lo, lo + _ROWS_PER_TASK) for lo in starts]
            for task in done:
                task.result()
    out = np.empty((nrow, nbin), np.complex64)
    out.real, out.imag = out_re, out_im
    return out


@numba.njit(cache=True, nogil=True, fastmath=True)
def _predict_kernel(
    uvw,
    lmn,
    pc_index,
    pt_index,
    alpha,
    beta,
    gamma,
    turns0_per_m,
    turns_step_per_m,
    k,
    out_re,
    out_im,
    lo,
    hi,
):  # pragma: no cover - compiled
    """Add every source's bin-mean fringe to rows ``lo:hi`` of ``out_re + i out_im``."""
    nbin = out_re.shape[1]
    ns = lmn.shape[1]
    nfull = nbin // _BLOCK
    pw_re = np.empty(_BLOCK, np.float32)
    pw_im = np.empty(_BLOCK, np.float32)
    two_pi = 2.0 * np.pi
    s2 = (k * k - 1) / 12.0  # mean of x_j**2
    for r in range(lo, min(hi, uvw.shape[0])):
        u, v, w = uvw[r, 0], uvw[r, 1], uvw[r, 2]
        c, p = pc_index[r], pt_index[r]
        acc_re, acc_im = out_re[r], out_im[r]
        for s in range(ns):
            d = u * lmn[c, s, 0] + v * lmn[c, s, 1] + w * (lmn[c, s, 2] - 1.0)
            t0 = d * turns0_per_m
            t0 -= np.rint(t0)
            b_re, b_im = np.cos(two_pi * t0), np.sin(two_pi * t0)  # bin 0's centre
            th = two_pi * d * turns_step_per_m  # phase step per channel
            z_re, z_im = np.cos(th), np.sin(th)
            # D, E, F over the bin, and z**k, the step between bin centres
            h = -0.5 * (k - 1) * th
            w_re, w_im = np.cos(h), np.sin(h)
            s_re, s_im = w_re, -w_im  # conj of the first term
            dsum, esum, fsum = 0.0, 0.0, 0.0
            for j in range(k):
                xj = j - 0.5 * (k - 1)
                dsum += w_re
                esum += xj * w_im
                fsum += (xj * xj - s2) * w_re
                w_re, w_im = w_re * z_re - w_im * z_im, w_re * z_im + w_im * z_re
            step_re, step_im = w_re * s_re - w_im * s_im, w_re * s_im + w_im * s_re
            dk, ek, fk = np.float32(dsum / k), np.float32(esum / k), np.float32(fsum / k)
            # powers of the step within a block (float64 recurrence, kept as float32)
            q_re, q_im = 1.0, 0.0
            for j in range(_BLOCK):
                pw_re[j], pw_im[j] = q_re, q_im
                q_re, q_im = q_re * step_re - q_im * step_im, q_re * step_im + q_im * step_re
            a, bt, gm = alpha[p, s], beta[p, s], gamma[p, s]
            for blk in range(nfull + 1):
                base = blk * _BLOCK
                n = min(_BLOCK, nbin - base)
                f_re, f_im = np.float32(b_re), np.float32(b_im)
                for j in range(n):
                    x_re = f_re * pw_re[j] - f_im * pw_im[j]
                    x_im = f_re * pw_im[j] + f_im * pw_re[j]
                    m_re = a[base + j] * dk + gm[base + j] * fk
                    m_im = bt[base + j] * ek
                    acc_re[base + j] += x_re * m_re - x_im * m_im
                    acc_im[base + j] += x_re * m_im + x_im * m_re
                b_re, b_im = b_re * q_re - b_im * q_im, b_re * q_im + b_im * q_re


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
    beam: PrimaryBeamModel = AIRY,
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
    beam : PrimaryBeamModel
        The primary beam (default the Airy).
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
                tb.getcol("UVW", start, n), info.freqs_hz, sources, pc, pointing, beam=beam
            )
            tb.putcol("MODEL_DATA", vis[:, :, None] * parallel, start, n)
    return {"sources": len(sources), "rows": info.n_rows}
