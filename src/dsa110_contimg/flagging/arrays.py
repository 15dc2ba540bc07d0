"""Flagging on visibility arrays shaped (Ntimes, Nbls, Nchan, Npol).

Each function takes the visibilities and/or the current flags and returns a
boolean mask of the same shape (True = bad): a new one, or the ``out`` /
``flags`` array it was asked to OR into. None touches the data. The loops
over baselines are compiled (:mod:`~dsa110_contimg.flagging.kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsa110_contimg.flagging.kernels import (
    count_over_time,
    extend_baselines,
    mad_clip_baselines,
    mark_invalid,
    run_baselines,
)


def flag_invalid(vis: np.ndarray, flags: np.ndarray | None = None) -> np.ndarray:
    """Flag exact zeros (correlator dropouts) and non-finite samples.

    With ``flags`` given, OR them into it in place and return it.
    """
    out = np.zeros(vis.shape, bool) if flags is None else flags
    run_baselines(lambda bls: mark_invalid(vis, out, bls), np.arange(vis.shape[1]))
    return out


def mad_clip(
    vis: np.ndarray,
    flags: np.ndarray,
    sigma: float = 7.0,
    smooth_channels: int = 15,
    *,
    baselines: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Flag amplitude outliers against a smooth model, with a robust (MAD) sigma.

    The model of ``|V|`` per baseline and polarisation is the median over
    (unflagged) time in each channel, then a running median over
    ``smooth_channels`` channels, so a line that persists in time in one
    channel stands out as well as a burst in one integration. The
    residual's sigma is 1.4826 x its median absolute value over time and
    (every 4th) channel, per baseline and polarisation; samples beyond
    ``sigma`` of it are flagged.

    Parameters
    ----------
    vis : numpy.ndarray
        (Ntimes, Nbls, Nchan, Npol) complex.
    flags : numpy.ndarray
        Current flags (excluded from the statistics), same shape.
    sigma : float
        Threshold in robust standard deviations (7).
    smooth_channels : int
        Width of the running median along frequency, channels.
    baselines : numpy.ndarray, optional
        Only these baseline indices (default all).
    out : numpy.ndarray, optional
        Mask to OR the new flags into (may be ``flags``); default a new one.

    Returns
    -------
    numpy.ndarray
        ``out``: the new flags (only those, when ``out`` was not given).
    """
    out = np.zeros(vis.shape, bool) if out is None else out
    bls = np.arange(vis.shape[1]) if baselines is None else np.asarray(baselines, np.int64)
    run_baselines(
        lambda part: mad_clip_baselines(
            vis, flags, part, float(sigma), int(smooth_channels), 4, out
        ),
        bls,
    )
    return out


def extend_flags(
    flags: np.ndarray,
    channel_fraction: float = 0.5,
    time_fraction: float = 0.5,
    dilate_channels: int = 1,
    dilate_times: int = 0,
) -> np.ndarray:
    """Grow flags: whole channels/integrations when mostly flagged, and neighbours.

    Parameters
    ----------
    flags : numpy.ndarray
        (Ntimes, Nbls, Nchan, Npol) bool.
    channel_fraction : float
        Flag a channel (per baseline and polarisation, all times) when more
        than this fraction of its integrations are flagged.
    time_fraction : float
        Flag an integration (per baseline and polarisation, all channels)
        when more than this fraction of its channels are flagged.
    dilate_channels, dilate_times : int
        Also flag this many neighbours on each side along frequency / time.

    Returns
    -------
    numpy.ndarray
        The extended flags (a superset of ``flags``).
    """
    out = flags.copy()
    run_baselines(
        lambda bls: extend_baselines(
            flags,
            bls,
            float(channel_fraction),
            float(time_fraction),
            int(dilate_channels),
            int(dilate_times),
            out,
        ),
        np.arange(flags.shape[1]),
    )
    return out


def flagged_counts(flags: np.ndarray) -> np.ndarray:
    """Flagged integrations per baseline, channel and polarisation, shape (Nbls, Nchan, Npol)."""
    counts = np.zeros(flags.shape[1:], np.int32)
    run_baselines(lambda bls: count_over_time(flags, bls, counts), np.arange(flags.shape[1]))
    return counts


@dataclass(frozen=True)
class FlagFractions:
    """Flagged fractions for QA.

    Attributes
    ----------
    total : float
        Over all samples.
    per_antenna : dict
        Antenna id -> fraction of the samples of its baselines.
    per_channel : numpy.ndarray
        Shape (Nchan,).
    per_polarization : numpy.ndarray
        Shape (Npol,).
    """

    total: float
    per_antenna: dict[int, float]
    per_channel: np.ndarray
    per_polarization: np.ndarray

    def to_dict(self) -> dict:
        """JSON-able form (for the products DB's QA column)."""
        return {
            "total": self.total,
            "per_antenna": {str(k): v for k, v in self.per_antenna.items()},
            "per_channel": self.per_channel.round(5).tolist(),
            "per_polarization": self.per_polarization.round(5).tolist(),
        }


def antenna_fractions(
    flags: np.ndarray, ant1: np.ndarray, ant2: np.ndarray, counts: np.ndarray | None = None
) -> dict[int, float]:
    """Fraction of flagged samples on each antenna's baselines (cross only if any).

    ``counts`` (from :func:`flagged_counts`) saves a pass over ``flags``.
    """
    counts = flagged_counts(flags) if counts is None else counts
    per_bl = counts.sum(axis=(1, 2)) / (flags.shape[0] * flags.shape[2] * flags.shape[3])
    cross = ant1 != ant2
    use = cross if cross.any() else np.ones_like(cross)
    ants = np.unique(np.concatenate([ant1, ant2]))
    out = {}
    for a in ants:  # ~100 antennas: a loop over antennas, not samples
        on = use & ((ant1 == a) | (ant2 == a))
        out[int(a)] = float(per_bl[on].mean()) if on.any() else 1.0
    return out


def drop_bad_antennas(
    flags: np.ndarray, ant1: np.ndarray, ant2: np.ndarray, limit: float = 0.95
) -> tuple[np.ndarray, list[int]]:
    """Flag every baseline of antennas with more than ``limit`` of their data flagged.

    Returns
    -------
    flags : numpy.ndarray
        Updated copy.
    dropped : list of int
        The antennas dropped.
    """
    fractions = antenna_fractions(flags, ant1, ant2)
    dropped = sorted(a for a, f in fractions.items() if f > limit)
    out = flags.copy()
    if dropped:
        hit = np.isin(ant1, dropped) | np.isin(ant2, dropped)
        out[:, hit] = True
    return out, dropped


def flag_fractions(flags: np.ndarray, ant1: np.ndarray, ant2: np.ndarray) -> FlagFractions:
    """Flagged fractions per antenna, channel and polarisation (cross-correlations)."""
    counts = flagged_counts(flags)
    cross = ant1 != ant2
    c = (counts[cross] if cross.any() else counts).astype(np.int64)
    n = flags.shape[0] * c.shape[0]  # samples per channel and polarisation
    return FlagFractions(
        total=float(c.sum() / (n * c.shape[1] * c.shape[2])),
        per_antenna=antenna_fractions(flags, ant1, ant2, counts),
        per_channel=c.sum(axis=(0, 2)) / (n * c.shape[2]),
        per_polarization=c.sum(axis=(0, 1)) / (n * c.shape[1]),
    )
