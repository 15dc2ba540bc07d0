"""Solution containers and post-processing: referencing, gap filling, normalisation.

Solutions are stored as arrays shaped (Ntime, Na, Nchan, Npol), the layout
of a CASA calibration table (one row per time and antenna, a [Nchan, Npol]
cell per row); ``Nchan`` is 1 for gains averaged over the band.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np


@dataclass
class JonesSolutions:
    """Complex antenna-based solutions of one kind.

    Attributes
    ----------
    kind : {"B", "G"}
        ``B`` bandpass (per channel), ``G`` gain (one value per band).
    gains : numpy.ndarray
        Shape (Nt, Na, Nchan, Npol) complex128; MS convention
        ``DATA_ij = g_i conj(g_j) MODEL_ij``.
    flags : numpy.ndarray
        Same shape, bool.
    snr : numpy.ndarray
        Same shape, float: solution SNR (0 where flagged).
    times_s : numpy.ndarray
        Shape (Nt,): solution times, MJD seconds.
    interval_s : numpy.ndarray
        Shape (Nt,): time span of each solution, seconds.
    antennas : numpy.ndarray
        Shape (Na,), int: MS antenna ids of the rows.
    freqs_hz : numpy.ndarray
        Shape (Nchan,): frequency of each solution channel, Hz.
    refant : int or None
        MS antenna id the phases are referred to (-1/None if none).
    meta : dict
        Solver parameters and QA (JSON-able).
    """

    kind: Literal["B", "G"]
    gains: np.ndarray
    flags: np.ndarray
    snr: np.ndarray
    times_s: np.ndarray
    interval_s: np.ndarray
    antennas: np.ndarray
    freqs_hz: np.ndarray
    refant: int | None = None
    meta: dict = field(default_factory=dict)

    @property
    def flag_fraction(self) -> float:
        """Fraction of flagged solutions."""
        return float(self.flags.mean()) if self.flags.size else 1.0


def reference_phases(gains: np.ndarray, flags: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Rotate phases so the reference antenna has phase 0 in every cell.

    In each cell (all axes but the antenna one) the reference is the first
    antenna of ``order`` with an unflagged solution there, so a reference
    that drops out in a few channels hands over to the next one in the
    fallback list for those channels only.

    Parameters
    ----------
    gains : numpy.ndarray
        Shape (..., Na) complex.
    flags : numpy.ndarray
        Shape (..., Na) bool.
    order : numpy.ndarray
        Compact antenna indices in order of preference.

    Returns
    -------
    numpy.ndarray
        Referenced gains, same shape; cells with no usable reference are
        left unchanged.
    """
    good = ~flags[..., order]
    first = np.argmax(good, axis=-1)
    ref = np.take_along_axis(gains, order[first][..., None], axis=-1)
    amp = np.abs(ref)
    rot = np.where(
        good.any(-1, keepdims=True) & (amp > 0), np.conj(ref) / np.where(amp > 0, amp, 1), 1
    )
    return gains * rot


def fill_gaps(gains: np.ndarray, flags: np.ndarray, max_gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Interpolate runs of up to ``max_gap`` flagged channels.

    Amplitude and phase are interpolated linearly between the nearest
    unflagged channels on either side (phase along the shorter arc); gaps
    touching the band edge are left flagged.

    Parameters
    ----------
    gains, flags : numpy.ndarray
        Shape (..., Nchan); the channel axis last.
    max_gap : int
        Longest run of flagged channels to fill (0 disables).

    Returns
    -------
    gains, flags : numpy.ndarray
        Filled copies.
    """
    if max_gap <= 0:
        return gains, flags
    nchan = gains.shape[-1]
    idx = np.broadcast_to(np.arange(nchan), gains.shape)
    prev = np.maximum.accumulate(np.where(flags, -1, idx), axis=-1)
    nxt = np.flip(np.minimum.accumulate(np.flip(np.where(flags, nchan, idx), -1), axis=-1), -1)
    fill = flags & (prev >= 0) & (nxt < nchan) & (nxt - prev - 1 <= max_gap)
    p, n = np.clip(prev, 0, nchan - 1), np.clip(nxt, 0, nchan - 1)
    g0, g1 = np.take_along_axis(gains, p, -1), np.take_along_axis(gains, n, -1)
    frac = (idx - p) / np.maximum(n - p, 1)
    amp = (1 - frac) * np.abs(g0) + frac * np.abs(g1)
    dphi = np.angle(g1 * np.conj(g0))
    value = amp * np.exp(1j * (np.angle(g0) + frac * dphi))
    return np.where(fill, value, gains), flags & ~fill


def normalise_bandpass(
    gains: np.ndarray, flags: np.ndarray, amplitude: bool = True, phase: bool = True
) -> np.ndarray:
    """Normalise each antenna's and polarisation's bandpass across channels.

    Parameters
    ----------
    gains, flags : numpy.ndarray
        Shape (..., Nchan), channel axis last.
    amplitude : bool
        Divide by the mean amplitude of the unflagged channels (mean 1).
    phase : bool
        Remove the phase of the vector mean of the unit phasors of the
        unflagged channels (mean phase 0).

    Returns
    -------
    numpy.ndarray
        Normalised gains; the gain solve that follows absorbs the factors.
    """
    ok = ~flags
    count = ok.sum(-1, keepdims=True)
    out = gains.copy()
    if amplitude:
        mean_amp = np.sum(np.where(ok, np.abs(gains), 0), -1, keepdims=True) / np.maximum(count, 1)
        out = out / np.where(mean_amp > 0, mean_amp, 1)
    if phase:
        unit = np.where(ok & (gains != 0), gains / np.where(gains != 0, np.abs(gains), 1), 0)
        mean = unit.sum(-1, keepdims=True)
        out = out * np.where(np.abs(mean) > 0, np.conj(mean) / np.maximum(np.abs(mean), 1e-300), 1)
    return out


def phase_scatter_deg(gains: np.ndarray, flags: np.ndarray, axis: int) -> float:
    """RMS phase deviation from the circular mean along ``axis``, median over the rest.

    Parameters
    ----------
    gains, flags : numpy.ndarray
        Any shape.
    axis : int
        Axis to measure the scatter along (time for a phase-only solve,
        channel for a bandpass).

    Returns
    -------
    float
        Degrees; NaN when nothing is unflagged.
    """
    ok = ~flags & (gains != 0)
    unit = np.where(ok, gains / np.where(ok, np.abs(gains), 1), 0)
    mean = unit.sum(axis, keepdims=True)
    dev = np.angle(unit * np.conj(mean))
    n = ok.sum(axis)
    rms = np.sqrt(np.sum(np.where(ok, dev**2, 0), axis) / np.maximum(n, 1))
    rms = rms[n > 1]
    return float(np.degrees(np.median(rms))) if rms.size else float("nan")
