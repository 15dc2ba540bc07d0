"""Simulation settings and the ``test``, ``demo`` and ``full`` presets.

A simulation is a set of *epochs* (days). Each epoch holds a calibrator
group, the one in which the calibrator transits, followed by
``targets_per_epoch`` contiguous target groups. Groups lie back to back on a
grid of the group duration from an arbitrary origin, as the correlator
writes them, so the transit falls at a different time inside its group each
day (``sidereal_locked`` puts it at the middle every day instead). Presets
differ only in size; every preset writes files of the real structure.

Some settings make the simulated sky and instrument disagree with the
pipeline's assumptions, as the real ones do: a primary beam other than the
pipeline's Airy model (``beam``), slightly resolved Gaussian sources
(``resolved_fraction``), an interferer seen coherently on every baseline
(``correlated_rfi``), dead antennas and subbands missing from some groups.
All are off by default.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dsa110_contimg.errors import ConfigError
from dsa110_contimg.telescope import N_CHAN_PER_SUBBAND, N_INTEGRATIONS_PER_FILE, SEFD_JY


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FlareParams(_Strict):
    """A Gaussian flare: flux x (1 + amplitude) at the peak."""

    amplitude: float = Field(default=1.0, gt=0, description="Peak fractional brightening")
    peak_day: float = Field(default=12.0, description="Days after the first epoch")
    width_days: float = Field(default=3.0, gt=0, description="Gaussian sigma, days")


class ESEParams(_Strict):
    """An extreme scattering event: a dip with caustic brightenings either side."""

    depth: float = Field(default=0.6, gt=0, lt=1, description="Fractional flux deficit")
    centre_day: float = Field(default=15.0)
    duration_days: float = Field(default=12.0, gt=0, description="Full width of the dip")
    caustic_amplitude: float = Field(default=0.3, ge=0, description="Fractional caustic peak")
    caustic_width_days: float = Field(default=1.5, gt=0)


class BeamParams(_Strict):
    """The primary beam the simulator applies (the pipeline keeps its own Airy model).

    ``airy`` is the pattern of a uniformly lit dish, ``(2 J1(x) / x)**2``;
    ``tapered`` that of a dish whose illumination falls as a Gaussian to
    ``taper_db`` below the centre at the rim: a wider main lobe and lower
    sidelobes (10 dB gives a FWHM of 1.15 lambda/D and a first sidelobe at
    -24 dB, against 1.03 lambda/D and -17.6 dB for the Airy pattern). The
    pattern is then stretched to ``fwhm_scale`` times the Airy FWHM (its
    geometric mean over the two axes), made elliptical and moved off the
    pointing centre; see :mod:`dsa110_contimg.simulate.beam`.
    """

    kind: Literal["airy", "tapered"] = Field(default="airy", description="Illumination")
    taper_db: float = Field(
        default=10.0, ge=0, le=30, description="Edge taper of the tapered illumination, dB"
    )
    fwhm_scale: float | None = Field(
        default=None,
        ge=0.5,
        le=2.0,
        description="FWHM in units of the Airy's (None: the illumination's own width)",
    )
    ellipticity: float = Field(default=1.0, ge=0.5, le=2.0, description="E-W width over N-S width")
    offset_arcmin: tuple[float, float] = Field(
        default=(0.0, 0.0), description="Beam centre minus pointing centre, (east, north), arcmin"
    )


class CorrelatedRFI(_Strict):
    """A far-field interferer near the horizon, coherent on every baseline.

    It enters like a sky source in its own direction (its own fringe on each
    baseline, the antennas' gains applied, no primary beam: ``amplitude_jy``
    is what every baseline sees), in ``n_channels`` channels around
    ``freq_mhz`` and during ``n_integrations`` integrations from
    ``first_integration``, with a ``sin`` envelope over them (it rises and
    sets). It is not flagged in the files; the truth records where it is.
    """

    enabled: bool = False
    freq_mhz: float = Field(default=1380.0, description="Centre frequency, MHz")
    n_channels: int = Field(default=2, ge=1, description="Contiguous channels it occupies")
    first_integration: int = Field(default=1, ge=0)
    n_integrations: int = Field(default=3, ge=1)
    amplitude_jy: float = Field(default=20.0, gt=0, description="Peak amplitude, Jy")
    azimuth_deg: float = Field(default=120.0, description="Direction, degrees east of north")
    elevation_deg: float = Field(default=2.0, ge=0, le=90)
    groups: tuple[int, ...] | None = Field(
        default=None, description="Group indices it appears in (None: every group)"
    )


class StreamEffects(_Strict):
    """Imperfections of the file stream."""

    arrival_jitter_s: float = Field(default=30.0, ge=0, description="Max mtime spread per group")
    missing_subband: tuple[int, int] | None = Field(
        default=None, description="(group index, subband) of a file never written"
    )
    missing_subbands: tuple[tuple[int, int], ...] = Field(
        default=(),
        description="More (group index, subband) files never written, e.g. a subband lost in "
        "some groups",
    )
    truncated_file: tuple[int, int] | None = Field(
        default=None, description="(group index, subband) of a file cut short"
    )
    corrupt_file: tuple[int, int] | None = Field(
        default=None, description="(group index, subband) of a file of garbage bytes"
    )


class SimConfig(_Strict):
    """Everything that defines a simulated data set (with its seed)."""

    preset: str = "custom"
    seed: int = 42
    # --- instrument size -------------------------------------------------
    n_antennas: int = Field(default=96, ge=3, le=96, description="Active antennas in the data")
    n_chan_per_subband: int = Field(default=N_CHAN_PER_SUBBAND, ge=1, le=N_CHAN_PER_SUBBAND)
    n_integrations: int = Field(default=N_INTEGRATIONS_PER_FILE, ge=1, le=N_INTEGRATIONS_PER_FILE)
    negative_channel_width: bool = Field(
        default=True, description="Store channel_width signed (older writers) or not"
    )
    # --- observation plan ----------------------------------------------------
    start_date: dt.date = dt.date(2026, 1, 15)
    calibrator: str = Field(default="3C286", description="A primary calibrator name")
    pointing_offset_deg: float = Field(
        default=0.0, description="Pointing dec minus calibrator dec (deg)"
    )
    group_origin: dt.datetime = Field(
        default=dt.datetime(2026, 1, 1, 0, 0, 0),
        description="Start of the correlator's grid of back-to-back groups (UTC)",
    )
    sidereal_locked: bool = Field(
        default=False,
        description="True: every epoch starts at the same LST, the transit at the group's middle",
    )
    n_epochs: int = Field(default=1, ge=1, le=400)
    epoch_spacing_days: float = Field(default=3.0, gt=0)
    targets_per_epoch: int = Field(default=1, ge=0, le=280)
    # --- sky -----------------------------------------------------------------
    sky_radius_deg: float = Field(
        default=3.5, gt=0, le=10, description="Sources within this of the strip"
    )
    min_flux_jy: float = Field(default=0.02, gt=0)
    max_flux_jy: float = Field(default=2.0, gt=0)
    density_per_deg2: float = Field(
        default=9.0, gt=0, description="Sources per deg^2 brighter than min_flux_jy"
    )
    count_slope: float = Field(default=0.9, gt=0, description="N(>S) ~ S^-slope")
    max_sources: int | None = Field(default=None, ge=1, description="Keep only the brightest")
    resolved_fraction: float = Field(
        default=0.0, ge=0, le=1, description="Fraction of steady field sources made Gaussian"
    )
    resolved_major_arcsec: tuple[float, float] = Field(
        default=(8.0, 30.0), description="Range of their major-axis FWHM, arcsec (uniform)"
    )
    resolved_min_axis_ratio: float = Field(
        default=0.4, gt=0, le=1, description="Minor/major axis ratios drawn in [this, 1]"
    )
    spectral_index_mean: float = -0.7
    spectral_index_std: float = 0.2
    catalog_flux_error_frac: float = Field(default=0.03, ge=0)
    catalog_position_error_arcsec: float = Field(default=1.0, ge=0)
    # --- variability ---------------------------------------------------------
    n_flares: int = Field(default=0, ge=0)
    n_eses: int = Field(default=0, ge=0)
    flare: FlareParams = FlareParams()
    ese: ESEParams = ESEParams()
    variable_min_flux_jy: float = Field(
        default=0.1, gt=0, description="Variables chosen above this"
    )
    # --- corruptions ---------------------------------------------------------
    sefd_jy: float = Field(default=SEFD_JY, ge=0, description="0 turns thermal noise off")
    gains: bool = Field(default=True, description="False: unit gains, data in Jy (for tests)")
    gain_amplitude_scatter: float = Field(default=0.15, ge=0)
    bandpass_ripple: float = Field(default=0.05, ge=0)
    gain_drift_amplitude: float = Field(
        default=0.01, ge=0, description="Fractional drift per group"
    )
    gain_drift_phase_deg: float = Field(default=3.0, ge=0)
    rfi: bool = True
    rfi_freqs_mhz: tuple[float, ...] = (1350.0, 1395.0, 1405.0, 1422.0, 1475.0)
    rfi_burst_integrations: int = Field(default=1, ge=0)
    rfi_amplitude_sigma: float = Field(default=30.0, gt=0, description="RFI strength / noise rms")
    correlated_rfi: CorrelatedRFI = CorrelatedRFI()
    dead_antennas: tuple[int, ...] = Field(default=(), description="Pad numbers with no signal")
    dead_antenna_mode: Literal["noise", "zero"] = Field(
        default="noise",
        description="What a dead antenna's baselines hold (unflagged): noise only, or zeros",
    )
    # --- instrument the pipeline does not model -----------------------------
    beam: BeamParams = BeamParams()
    stream: StreamEffects = StreamEffects()

    @model_validator(mode="after")
    def _check(self) -> SimConfig:
        if N_CHAN_PER_SUBBAND % self.n_chan_per_subband:
            raise ValueError("n_chan_per_subband must divide 48")
        if self.max_flux_jy <= self.min_flux_jy:
            raise ValueError("max_flux_jy must exceed min_flux_jy")
        lo, hi = self.resolved_major_arcsec
        if not 0 < lo <= hi:
            raise ValueError("resolved_major_arcsec must be (low, high) with 0 < low <= high")
        return self

    @property
    def n_groups(self) -> int:
        return self.n_epochs * (1 + self.targets_per_epoch)


_PRESETS: dict[str, dict[str, Any]] = {
    # A complete small data set in seconds: 4 epochs of a calibrator group and
    # one target group, 24 antennas, 4 channels per subband, 6 integrations.
    "test": dict(
        n_antennas=24,
        n_chan_per_subband=4,
        n_integrations=6,
        n_epochs=4,
        targets_per_epoch=1,
        min_flux_jy=0.05,
        density_per_deg2=3.0,
        max_sources=40,
        n_flares=1,
        n_eses=1,
        variable_min_flux_jy=0.2,
        epoch_spacing_days=4.0,  # days 0, 4, 8, 12
        flare=FlareParams(amplitude=1.0, peak_day=4.0, width_days=1.5),
        ese=ESEParams(depth=0.6, centre_day=10.0, duration_days=6.0, caustic_width_days=1.0),
    ),
    # The demo: 48 antennas, 12 channels per subband, 12 integrations, six
    # epochs of a calibrator and two target groups, a flare and an ESE.
    "demo": dict(
        n_antennas=48,
        n_chan_per_subband=12,
        n_integrations=12,
        n_epochs=6,
        targets_per_epoch=2,
        min_flux_jy=0.02,
        density_per_deg2=9.0,
        max_sources=150,
        n_flares=1,
        n_eses=1,
        # variables bright enough for the default (conservative) preset to flag
        # the ESE's 60% dip: a 0.13 Jy one stays below detectability
        variable_min_flux_jy=0.5,
        epoch_spacing_days=3.0,  # days 0, 3, ..., 15
        flare=FlareParams(amplitude=1.5, peak_day=6.0, width_days=2.0),
        ese=ESEParams(depth=0.6, centre_day=10.5, duration_days=8.0, caustic_width_days=1.5),
    ),
    # The real size: one calibrator group of 16 x 145 MB files.
    "full": dict(n_epochs=1, targets_per_epoch=0, max_sources=400),
}

PRESETS: tuple[str, ...] = tuple(_PRESETS)


def preset_config(name: str, **overrides: Any) -> SimConfig:
    """Return the named preset's configuration with ``overrides`` applied."""
    if name not in _PRESETS:
        raise ConfigError(f"unknown simulation preset {name!r}", hint=f"choose from {PRESETS}")
    return SimConfig(**{**_PRESETS[name], "preset": name, **overrides})


def load_sim_config(
    preset: Literal["test", "demo", "full"] | str = "test",
    config_file: str | Path | None = None,
    **overrides: Any,
) -> SimConfig:
    """Start from a preset, then apply a TOML file, then keyword overrides.

    Raises
    ------
    ConfigError
        If the file is unreadable or a value is invalid.
    """
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            values = tomllib.loads(Path(config_file).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read simulation config {config_file}: {exc}") from exc
    try:
        return preset_config(preset, **{**values, **overrides})
    except ValueError as exc:
        raise ConfigError(f"invalid simulation config: {exc}") from exc
