"""What the instrument does to the sky: gains, thermal noise, RFI, dead antennas.

RFI comes in two kinds: noise-like bursts independent on each baseline
(:func:`draw_rfi_mask`) and a far-field interferer seen coherently on all
baselines with its own fringe (:func:`correlated_rfi_amplitude`).

Gains follow pyuvdata's convention, ``V_ij = g_i conj(g_j) V_true_ij``, and
factor as ``g(a, p, f, t) = G(a, p) B(a, p, f) D(a, p, t)``: a complex
antenna gain, a bandpass with a shape per subband (edge roll-off, ripple, a
small phase slope) and a slow drift over the group. Their overall scale,
``1/sqrt(SEFD)``, makes raw amplitudes correlation coefficients like the
correlator's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsa110_contimg.simulate.config import SimConfig
from dsa110_contimg.telescope import SEFD_JY


@dataclass(frozen=True)
class GainTruth:
    """The true gains of one group.

    Attributes
    ----------
    antenna_gain : (Na, 2) complex128
    bandpass : (Na, 2, F) complex128, frequencies ascending
    drift : (Na, 2, Nt) complex128
    """

    antenna_gain: np.ndarray
    bandpass: np.ndarray
    drift: np.ndarray

    def at(self, t_index: int) -> np.ndarray:
        """Full complex gains at one integration, shape (Na, 2, F)."""
        return self.antenna_gain[:, :, None] * self.bandpass * self.drift[:, :, t_index, None]


def draw_gains(
    cfg: SimConfig,
    rng: np.random.Generator,
    n_antennas: int,
    n_subbands: int,
    n_chan_per_subband: int,
    n_times: int,
) -> GainTruth:
    """Random but plausible gains for one group (frequencies ascending)."""
    shape = (n_antennas, 2)
    amp = np.clip(1 + cfg.gain_amplitude_scatter * rng.standard_normal(shape), 0.3, None)
    antenna_gain = amp * np.exp(1j * rng.uniform(-np.pi, np.pi, shape)) / np.sqrt(SEFD_JY)

    x = (np.arange(n_chan_per_subband) + 0.5) / n_chan_per_subband  # position in subband
    rolloff = 1 - 0.3 * (2 * x - 1) ** 8
    ripple_phase = rng.uniform(0, 2 * np.pi, (*shape, n_subbands, 1))
    ripple = 1 + cfg.bandpass_ripple * np.sin(2 * np.pi * 1.5 * x + ripple_phase)
    slope_deg = rng.uniform(-2, 2, (*shape, n_subbands, 1))  # across a subband, < 3 deg
    phase = np.radians(slope_deg * (2 * x - 1) + 1.0 * np.sin(4 * np.pi * x + ripple_phase))
    bandpass = (rolloff * ripple * np.exp(1j * phase)).reshape(*shape, -1)

    tau = np.linspace(-0.5, 0.5, n_times)
    drift_amp = 1 + cfg.gain_drift_amplitude * rng.standard_normal((*shape, 1)) * tau
    drift_phase = np.radians(cfg.gain_drift_phase_deg) * rng.standard_normal((*shape, 1)) * tau
    drift = drift_amp * np.exp(1j * drift_phase)
    if not cfg.gains:  # unit gains: the same random draws, then discarded
        return GainTruth(np.ones(shape, complex), np.ones_like(bandpass), np.ones_like(drift))
    return GainTruth(antenna_gain, bandpass, drift)


def noise_sigma_jy(sefd_jy: float, channel_width_hz: float, integration_s: float) -> float:
    """Thermal noise per real component of one cross-correlation, Jy."""
    return sefd_jy / np.sqrt(2 * abs(channel_width_hz) * integration_s)


def complex_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Circular complex Gaussian noise, complex64, ``sigma`` per component."""
    out = np.empty(shape, np.complex64)
    out.real = rng.standard_normal(shape, dtype=np.float32)
    out.imag = rng.standard_normal(shape, dtype=np.float32)
    out *= np.float32(sigma)
    return out


def draw_rfi_mask(
    cfg: SimConfig, rng: np.random.Generator, freqs_hz: np.ndarray, n_times: int
) -> np.ndarray:
    """Where RFI is present, shape (Nt, F) bool, frequencies ascending.

    Narrow-band emitters at ``cfg.rfi_freqs_mhz`` occupy the channel holding
    their frequency for a random contiguous stretch of the group (at least a
    third of it); broadband bursts fill whole integrations.
    """
    mask = np.zeros((n_times, len(freqs_hz)), bool)
    if not cfg.rfi:
        return mask
    half_width = np.abs(np.diff(freqs_hz)).min() / 2 if len(freqs_hz) > 1 else np.inf
    for f_mhz in cfg.rfi_freqs_mhz:
        chan = int(np.argmin(np.abs(freqs_hz - f_mhz * 1e6)))
        if abs(freqs_hz[chan] - f_mhz * 1e6) > half_width:
            continue  # outside the band
        length = int(rng.integers(max(1, n_times // 3), n_times + 1))
        start = int(rng.integers(0, n_times - length + 1))
        mask[start : start + length, chan] = True
    n_burst = min(cfg.rfi_burst_integrations, n_times)
    if n_burst:
        mask[rng.choice(n_times, n_burst, replace=False), :] = True
    return mask


def correlated_rfi_amplitude(
    cfg: SimConfig, freqs_hz: np.ndarray, n_times: int, group_index: int
) -> np.ndarray:
    """Amplitude (Jy) of the coherent interferer per integration and channel, (Nt, F).

    Zero outside its channels, integrations and groups (frequencies ascending).
    Over its integrations it follows ``amplitude_jy * sin(pi (k + 0.5) / n)``.
    """
    p = cfg.correlated_rfi
    amp = np.zeros((n_times, len(freqs_hz)))
    if not p.enabled or (p.groups is not None and group_index not in p.groups):
        return amp
    width = abs(freqs_hz[1] - freqs_hz[0]) if len(freqs_hz) > 1 else np.inf
    centre = int(np.argmin(np.abs(freqs_hz - p.freq_mhz * 1e6)))
    if abs(freqs_hz[centre] - p.freq_mhz * 1e6) > width:
        return amp  # outside the band
    first_chan = max(0, min(centre - (p.n_channels - 1) // 2, len(freqs_hz) - p.n_channels))
    t = np.arange(p.n_integrations)
    envelope = p.amplitude_jy * np.sin(np.pi * (t + 0.5) / p.n_integrations)
    times = p.first_integration + t
    keep = times < n_times
    amp[times[keep], first_chan : first_chan + p.n_channels] = envelope[keep, None]
    return amp


def rfi_direction_enu(cfg: SimConfig) -> np.ndarray:
    """ENU unit vector of the coherent interferer (fixed on the ground)."""
    az, el = np.radians([cfg.correlated_rfi.azimuth_deg, cfg.correlated_rfi.elevation_deg])
    return np.array([np.cos(el) * np.sin(az), np.cos(el) * np.cos(az), np.sin(el)])
