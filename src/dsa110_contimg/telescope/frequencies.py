"""Channel and subband frequencies of DSA-110.

The band, 1311.25-1498.75 MHz, is cut into 768 channels of 244140.625 Hz and
16 subbands of 48 channels. The correlator numbers subbands from the top
down: ``sb00`` is the highest (about 1487-1499 MHz) and ``sb15`` the lowest,
and within one file the channels run downward. Functions here speak that
order unless their name says ``ascending``.

Real files carry their own ``freq_array``: use these functions to simulate
files, or to check and label the ones read.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from .constants import (
    BAND_HIGH_HZ,
    BAND_LOW_HZ,
    CHANNEL_WIDTH_HZ,
    N_CHAN_PER_SUBBAND,
    N_CHANNELS,
    N_SUBBANDS,
    SUBBAND_WIDTH_HZ,
)


def _check_subband(sb: int) -> int:
    """Return ``sb`` as an int, or raise if it is not 0..15."""
    if isinstance(sb, bool) or int(sb) != sb or not 0 <= sb < N_SUBBANDS:
        raise ValueError(f"subband must be an integer 0..{N_SUBBANDS - 1}, got {sb!r}")
    return int(sb)


def _ascending_block(sb: int) -> int:
    """Position of subband ``sb`` when subbands are sorted by frequency (sb15 -> 0)."""
    return N_SUBBANDS - 1 - _check_subband(sb)


def channel_frequencies_ascending() -> np.ndarray:
    """Return the centres of all 768 channels, lowest first.

    Returns
    -------
    numpy.ndarray
        Shape (768,), float64, Hz: 1311.3720703125 MHz to 1498.6279296875 MHz
        in steps of 244140.625 Hz.
    """
    return BAND_LOW_HZ + (np.arange(N_CHANNELS) + 0.5) * CHANNEL_WIDTH_HZ


def subband_edges(sb: int) -> tuple[float, float]:
    """Return the frequency edges of one subband.

    Parameters
    ----------
    sb : int
        Subband number as in the file name, 0 (highest) .. 15 (lowest).

    Returns
    -------
    (float, float)
        Lower and upper edge, Hz; the subband's channels lie between them.
    """
    low_hz = BAND_LOW_HZ + _ascending_block(sb) * SUBBAND_WIDTH_HZ
    return low_hz, low_hz + SUBBAND_WIDTH_HZ


def subband_channel_frequencies(sb: int) -> np.ndarray:
    """Return the channel centres of one subband file, in the correlator's order.

    Parameters
    ----------
    sb : int
        Subband number as in the file name, 0 (highest) .. 15 (lowest).

    Returns
    -------
    numpy.ndarray
        Shape (48,), float64, Hz, DESCENDING (the order the correlator writes).
    """
    low_hz, _ = subband_edges(sb)
    ascending = low_hz + (np.arange(N_CHAN_PER_SUBBAND) + 0.5) * CHANNEL_WIDTH_HZ
    return ascending[::-1].copy()


def subband_of_frequency(freq_hz: ArrayLike) -> int | np.ndarray:
    """Return the subband that contains each frequency.

    Subbands are half-open intervals ``[low, high)``; the top edge of the band,
    1498.75 MHz, belongs to ``sb00``.

    Parameters
    ----------
    freq_hz : float or array_like
        Frequency or frequencies, Hz, within 1311.25-1498.75 MHz.

    Returns
    -------
    int or numpy.ndarray
        Subband number(s) 0..15 (0 is the highest); an int for a scalar
        input, otherwise an integer array of the input's shape.

    Raises
    ------
    ValueError
        If any frequency lies outside the science band.
    """
    freq = np.asarray(freq_hz, dtype=float)
    outside = ~((freq >= BAND_LOW_HZ) & (freq <= BAND_HIGH_HZ))
    if np.any(outside):
        bad = freq[outside] if freq.ndim else freq
        raise ValueError(
            f"frequency outside the DSA-110 band {BAND_LOW_HZ:.0f}-{BAND_HIGH_HZ:.0f} Hz: "
            f"{np.ravel(bad)[:5]} Hz"
        )
    block = np.floor((freq - BAND_LOW_HZ) / SUBBAND_WIDTH_HZ).astype(int)
    sb = N_SUBBANDS - 1 - np.minimum(block, N_SUBBANDS - 1)
    return int(sb) if sb.ndim == 0 else sb
