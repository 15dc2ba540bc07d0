"""Small synthetic Measurement Sets with known gains, for tests and benchmarks.

The MS skeleton (ANTENNA, FIELD, SPECTRAL_WINDOW, UVW, ...) is written by
pyuvdata's ``write_ms``; DATA and MODEL_DATA are then overwritten with
python-casacore in the MS convention this package solves for::

    DATA_ij = g_i conj(g_j) MODEL_ij + noise,   i = ANTENNA1, j = ANTENNA2

so the truth is unambiguous whatever pyuvdata's own conjugation convention.
This is a test fixture, not the telescope simulator (``dsa110_contimg.simulate``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.time import Time

from dsa110_contimg.calibration.msio import ensure_column
from dsa110_contimg.telescope import (
    CHANNEL_FREQ_MIN_HZ,
    CHANNEL_WIDTH_HZ,
    DISH_DIAMETER_M,
    INTEGRATION_TIME_S,
    N_CHAN_PER_SUBBAND,
    dsa110_layout,
    site_location,
)

DEFAULT_PADS: tuple[int, ...] = (1, 5, 9, 14, 20, 26, 33, 40, 47, 51, 70, 85, 102, 103, 104, 110)
"""Pads of the default small array: E-W and N-S arms plus three outriggers."""


@dataclass(frozen=True)
class SyntheticTruth:
    """What went into a synthetic MS.

    Attributes
    ----------
    antenna_numbers : numpy.ndarray
        Shape (Na,), int: MS antenna rows present in the data (pad - 1).
    gains : numpy.ndarray
        Shape (Na, Nchan, 2) complex: true per-antenna gains (constant in
        time), MS convention ``DATA = g_1 conj(g_2) MODEL``.
    freqs_hz : numpy.ndarray
        Shape (Nchan,): channel centres, ascending, Hz.
    noise_sigma : float
        Standard deviation of the complex noise (per real part sqrt(1/2) of it).
    """

    antenna_numbers: np.ndarray
    gains: np.ndarray
    freqs_hz: np.ndarray
    noise_sigma: float


def draw_true_gains(
    rng: np.random.Generator, n_ant: int, n_chan: int, amp_scatter: float = 0.2
) -> np.ndarray:
    """Random gains with a bandpass shape per 48-channel subband.

    Returns
    -------
    numpy.ndarray
        Shape (n_ant, n_chan, 2) complex128.
    """
    amp = np.clip(1 + amp_scatter * rng.standard_normal((n_ant, 1, 2)), 0.3, None)
    phase0 = rng.uniform(-np.pi, np.pi, (n_ant, 1, 2))
    x = (np.arange(n_chan) % N_CHAN_PER_SUBBAND + 0.5) / N_CHAN_PER_SUBBAND
    ripple_phase = rng.uniform(0, 2 * np.pi, (n_ant, 1, 2))
    shape = (1 - 0.3 * (2 * x - 1) ** 8)[None, :, None] * (
        1 + 0.05 * np.sin(2 * np.pi * 1.5 * x[None, :, None] + ripple_phase)
    )
    slope = np.radians(rng.uniform(-20, 20, (n_ant, 1, 2))) * (2 * x[None, :, None] - 1)
    return amp * shape * np.exp(1j * (phase0 + slope))


def _skeleton_uvdata(pads, n_chan, n_times, dec_deg, start: Time, autos: bool, pols=("xx", "yy")):
    from pyuvdata import Telescope, UVData

    layout = dsa110_layout()
    ants = np.asarray(pads) - 1
    telescope = Telescope.new(
        name="OVRO_MMA",
        location=site_location(),
        antenna_positions=np.asarray(layout.ecef_offsets_m)[ants],
        antenna_names=[str(p) for p in pads],
        antenna_numbers=ants,
        instrument="DSA",
        antenna_diameters=np.full(len(ants), DISH_DIAMETER_M),
        feeds=["x", "y"],
        mount_type="alt-az",
        update_from_known=False,
    )
    times = start.jd + (np.arange(n_times) + 0.5) * INTEGRATION_TIME_S / 86400.0
    mid = Time(times.mean(), format="jd")
    lst_deg = mid.sidereal_time("apparent", longitude=site_location().lon).deg
    freqs = CHANNEL_FREQ_MIN_HZ + 48 * 10 * CHANNEL_WIDTH_HZ + np.arange(n_chan) * CHANNEL_WIDTH_HZ
    k = 0 if autos else 1
    i, j = np.triu_indices(len(ants), k=k)
    catalog = {
        0: {
            "cat_name": "calibrator",
            "cat_type": "sidereal",
            "cat_lon": np.radians(lst_deg),
            "cat_lat": np.radians(dec_deg),
            "cat_frame": "icrs",
            "cat_epoch": 2000.0,
        }
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uv = UVData.new(
            freq_array=freqs,
            polarization_array=list(pols),
            times=times,
            telescope=telescope,
            antpairs=np.column_stack([ants[i], ants[j]]),
            do_blt_outer=True,
            integration_time=INTEGRATION_TIME_S,
            channel_width=CHANNEL_WIDTH_HZ,
            phase_center_catalog=catalog,
            vis_units="uncalib",
            empty=True,
        )
    uv.nsample_array[:] = 1.0
    return uv, freqs


def make_synthetic_ms(
    path: str | Path,
    *,
    pads: tuple[int, ...] = DEFAULT_PADS,
    n_chan: int = 96,
    n_times: int = 8,
    dec_deg: float = 30.0,
    flux_jy: float = 10.0,
    noise_sigma: float = 0.05,
    seed: int = 1,
    autos: bool = True,
    start: Time | None = None,
    gains: np.ndarray | None = None,
    cross_hand_jy: float | None = None,
) -> SyntheticTruth:
    """Write a small MS of a point source at the phase centre with known gains.

    Parameters
    ----------
    path : str or Path
        MS to create (must not exist).
    pads : tuple of int
        DSA pad numbers (1-based) of the antennas.
    n_chan, n_times : int
        Channels (244.14 kHz, ascending) and 12.88 s integrations.
    dec_deg : float
        Declination of the phase centre (the source transits at mid time), degrees.
    flux_jy : float
        Flux density of the point source at the phase centre, Jy (flat spectrum).
    noise_sigma : float
        Standard deviation of the complex noise added to DATA, Jy.
    seed : int
        Seed of the random gains and noise.
    autos : bool
        Write autocorrelations too.
    start : astropy.time.Time, optional
        Start time (default 2026-01-01T12:00:00 UTC).
    gains : numpy.ndarray, optional
        Shape (Na, n_chan, 2): gains to apply instead of random ones.
    cross_hand_jy : float, optional
        Write four correlations (XX, XY, YX, YY) with this model in XY and
        YX (a linearly polarised source, Stokes U), corrupted as
        ``g_1x conj(g_2y)`` and ``g_1y conj(g_2x)``; default XX, YY only.

    Returns
    -------
    SyntheticTruth
        The gains and frequencies used.
    """
    from casacore.tables import table

    rng = np.random.default_rng(seed)
    start = start or Time("2026-01-01T12:00:00", scale="utc")
    four = cross_hand_jy is not None
    pols = ("xx", "xy", "yx", "yy") if four else ("xx", "yy")
    uv, freqs = _skeleton_uvdata(pads, n_chan, n_times, dec_deg, start, autos, pols)
    # feeds (x = 0, y = 1) of each correlation's two antennas
    f1, f2 = (np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1])) if four else ([0, 1], [0, 1])
    npol = len(pols)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        uv.write_ms(str(path), clobber=False, run_check=False)
    ants = np.asarray(pads) - 1
    if gains is None:
        gains = draw_true_gains(rng, len(ants), n_chan)
    lookup = np.full(ants.max() + 1, -1)
    lookup[ants] = np.arange(len(ants))
    ensure_column(path, "MODEL_DATA")
    with table(str(path), readonly=False, ack=False) as tb:
        for start in range(0, tb.nrows(), 20000):
            n = min(20000, tb.nrows() - start)
            a1 = lookup[tb.getcol("ANTENNA1", start, n)]
            a2 = lookup[tb.getcol("ANTENNA2", start, n)]
            model = np.full((n, n_chan, npol), flux_jy, dtype=np.complex64)
            if four:
                model[:, :, 1:3] = cross_hand_jy
            noise = rng.standard_normal((n, n_chan, npol, 2), dtype=np.float32) @ np.array(
                [1, 1j], np.complex64
            )
            g1, g2 = gains[a1][:, :, f1], gains[a2][:, :, f2]
            data = g1 * np.conj(g2) * model + noise * (noise_sigma / np.sqrt(2))
            auto = a1 == a2
            data[auto] = (g1 * np.conj(g2))[auto] * flux_jy * 10  # auto power
            tb.putcol("DATA", data.astype(np.complex64), start, n)
            tb.putcol("MODEL_DATA", model, start, n)
            tb.putcol("FLAG", np.zeros(model.shape, bool), start, n)
    return SyntheticTruth(ants, gains, freqs, noise_sigma)
