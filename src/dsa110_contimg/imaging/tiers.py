"""Named WSClean parameter tiers: ``standard``, ``quicklook`` and ``deep``.

``standard`` is the operating pipeline's tile (2400 x 2400 px at 6 arcsec,
Briggs 0.5, niter 1000, 5 mJy threshold, uv > 1000 lambda, auto-mask 5,
auto-threshold 1, Stokes I, w-gridder) made about 3x faster at equal
quality: a major-cycle gain of 0.9 (0.8 there), the w-gridder at 1e-3
accuracy (1e-4 there) and channels averaged before gridding inside a 1%
bandwidth-smearing budget at the field's edge (:mod:`.average`). ``quicklook`` images the
same 4 deg at 12 arcsec (long baselines cut at 4300 lambda) with a
shallow clean and baseline-dependent averaging over 10 lambda;
``deep`` cleans further (10000 iterations down to the auto-threshold).

Tiers are frozen pydantic models; :func:`get_tier` applies overrides (a
mapping, e.g. one table of a TOML file read by :func:`load_tier_overrides`).

Scaling to the array (:func:`scale_tier`): the field of view comes first.
It is the diameter at which the Airy primary beam falls to the tier's
``pb_limit`` at the lowest frequency (4.2 deg for the standard tier), so
the image holds every pixel the pb-corrected product keeps, whatever the
array. The cell is the synthesized resolution ``lambda_min / B`` over
``oversample`` (3.5 by default), with ``lambda_min`` the shortest wavelength
and ``B`` the longest baseline used (at most the tier's ``max_uv_lambda``).
When that field at that cell needs more than ``max_size`` pixels, the cell
grows to fit the field in ``max_size`` (on the surveyed array, 2.6 km, the
standard tier becomes 2384 px at 6.4 arcsec: 2.5 cells per 15.9 arcsec
beam); only if the cell would then be coarser than half the resolution
does the image grow past ``max_size``. Speed is never bought with field.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from dsa110_contimg.errors import ConfigError
from dsa110_contimg.telescope import SPEED_OF_LIGHT_M_S, beam_offset_for_level

TIERS_ENV = "DSA110_IMAGING_TIERS"
"""Environment variable naming a TOML file of tier overrides (``[standard]``...)."""

MIN_CELLS_PER_BEAM = 2.0
"""Fewest cells per synthesized resolution :func:`scale_tier` accepts (Nyquist)."""


class ImagingTier(BaseModel):
    """WSClean parameters of one imaging tier.

    Attributes
    ----------
    name : str
        Tier name, written to the FITS header (``IMTIER``).
    size : int
        Image side, pixels.
    cell_arcsec : float
        Pixel size, arcsec.
    weight, robust : str, float
        ``briggs`` (with ``robust``), ``natural`` or ``uniform``.
    niter : int
        Maximum clean iterations.
    threshold_jy : float
        Absolute clean threshold, Jy/beam (0: none).
    min_uv_lambda : float
        Shortest baseline used, wavelengths (0: all).
    max_uv_lambda : float or None
        Longest baseline used, wavelengths (None: all); coarse tiers cut
        the long baselines so their cells still sample the beam.
    auto_mask, auto_threshold : float or None
        WSClean's auto-masking and auto-threshold, in local rms.
    mgain : float
        Major-cycle gain.
    pol : str
        Polarisation imaged (``I``).
    channels_out, spectral_pol : int
        Above 1: image this many sub-bands, clean them jointly and keep the
        MFS image (``-join-channels``), with a polynomial of ``spectral_pol``
        terms fitted across them (sources of any spectral index and the
        frequency-dependent primary beam deconvolve without residual rings).
    wgridder : bool
        Use the w-gridder (``-use-wgridder``).
    wgridder_accuracy : float
        Its accuracy (``-wgridder-accuracy``; WSClean's default 1e-4): 1e-3
        narrows the kernels and grids faster.
    baseline_averaging_lambda : float or None
        ``-baseline-averaging`` size, wavelengths (faster gridding).
    average_channels : int or "auto"
        Channels averaged before gridding (:mod:`.average`): 1 none, a
        factor, or ``auto``: the largest whose extra bandwidth smearing at
        the field's edge stays within ``max_smearing_loss``.
    max_smearing_loss : float
        Peak fraction ``auto`` averaging may lose at the field's edge.
    no_update_model : bool
        Skip writing MODEL_DATA (``-no-update-model-required``).
    pb_limit : float
        Primary-beam level below which the pb-corrected image is blanked.
    abs_mem_gb : float
        WSClean's memory limit (``-abs-mem``), GB.
    threads : int or None
        WSClean threads (``-j``); None lets WSClean use every core.
    timeout_s : float
        Wall-clock limit of the WSClean run, seconds.
    extra_args : tuple of str
        Further WSClean arguments, appended verbatim.
    catalog_mask_arcsec : float or None
        Clean only within this radius of the catalog's sources
        (``-fits-mask``; :mod:`.mask`) when the caller gives their
        positions; None: WSClean's auto-mask alone.
    catalog_mask_niter : int
        The iteration cap of a catalog-masked clean (it cleans to the
        thresholds, not to the cap).
    catalog_mask_rescue_snr : float or None
        After a masked clean, residual peaks outside the mask above this
        many rms join the mask and the tile is imaged again (a source the
        catalog lacks); None: never.
    catalog_mask_rescue_fraction : float
        ... and above this fraction of the image's peak (a bright source's
        calibration sidelobes are not rescued).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    size: int = Field(ge=16, le=20000)
    cell_arcsec: float = Field(gt=0)
    weight: str = "briggs"
    robust: float = 0.5
    niter: int = Field(default=1000, ge=0)
    threshold_jy: float = Field(default=0.005, ge=0)
    min_uv_lambda: float = Field(default=1000.0, ge=0)
    max_uv_lambda: float | None = Field(default=None, gt=0)
    auto_mask: float | None = 5.0
    auto_threshold: float | None = 1.0
    mgain: float = Field(default=0.8, gt=0, le=1)
    pol: str = "I"
    channels_out: int = Field(default=1, ge=1)
    spectral_pol: int | None = Field(default=None, ge=1)
    wgridder: bool = True
    wgridder_accuracy: float = Field(default=1e-4, ge=1e-6, le=1e-2)
    baseline_averaging_lambda: float | None = None
    average_channels: Annotated[int, Field(ge=1, le=64)] | Literal["auto"] = 1
    max_smearing_loss: float = Field(default=0.01, gt=0, lt=0.5)
    no_update_model: bool = True
    pb_limit: float = Field(default=0.2, gt=0, lt=1)
    abs_mem_gb: float = Field(default=16.0, gt=0)
    threads: int | None = Field(default=None, ge=1)
    timeout_s: float = Field(default=1800.0, gt=0)
    extra_args: tuple[str, ...] = ()
    catalog_mask_arcsec: float | None = Field(default=None, gt=0)
    catalog_mask_niter: int = Field(default=20000, ge=0)
    catalog_mask_rescue_snr: float | None = Field(default=10.0, gt=0)
    catalog_mask_rescue_fraction: float = Field(default=0.05, ge=0, lt=1)

    @property
    def fov_deg(self) -> float:
        """Image side, degrees."""
        return self.size * self.cell_arcsec / 3600.0


TIERS: dict[str, ImagingTier] = {
    # Faster than the operating pipeline's at equal rms, fluxes and positions
    # (benchmarks/imaging.py, full group on the surveyed layout): mgain 0.9, not
    # 0.8 (one major cycle fewer, 1.5x); the w-gridder at 1e-3 accuracy, not
    # 1e-4 (narrower kernels, 1.2-1.4x); channels averaged before gridding
    # within 1% of extra bandwidth smearing at the field's edge (2 on the full
    # band, half the visibilities: 2x). With catalog positions it cleans to
    # the noise inside 60-arcsec circles round them (:mod:`.mask`): the SNR
    # trend of the forced fluxes goes, and the rms falls.
    "standard": ImagingTier(
        name="standard",
        size=2400,
        cell_arcsec=6.0,
        mgain=0.9,
        wgridder_accuracy=1e-3,
        average_channels="auto",
        catalog_mask_arcsec=60.0,
    ),
    "quicklook": ImagingTier(
        name="quicklook",
        size=1200,
        cell_arcsec=12.0,
        niter=300,
        threshold_jy=0.01,
        max_uv_lambda=4300.0,  # resolution ~48 arcsec: 4 cells of 12 arcsec
        # gridding all visibilities dominates: averaging is what makes it quick
        # (full tile: 111 s -> 35 s; rms +15%)
        baseline_averaging_lambda=10.0,
        auto_mask=None,
        auto_threshold=3.0,
        timeout_s=600.0,
    ),
    "deep": ImagingTier(
        name="deep",
        size=2400,
        cell_arcsec=6.0,
        niter=10000,
        threshold_jy=0.0,
        auto_mask=4.0,
        auto_threshold=1.0,
        timeout_s=3600.0,
    ),
}
"""The built-in tiers, by name."""


def load_tier_overrides(path: str | os.PathLike[str] | None = None) -> dict[str, dict[str, Any]]:
    """Read tier overrides from a TOML file (default: ``$DSA110_IMAGING_TIERS``).

    The file holds one table per tier, e.g. ``[standard]\\nniter = 2000``.

    Raises
    ------
    ConfigError
        If the file is missing or not valid TOML.
    """
    path = path or os.environ.get(TIERS_ENV)
    if not path:
        return {}
    try:
        return tomllib.loads(Path(path).read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read imaging tiers from {path}: {exc}") from exc


def get_tier(
    name: str | ImagingTier, overrides: Mapping[str, Mapping[str, Any]] | None = None
) -> ImagingTier:
    """Return a tier by name with its overrides applied.

    Parameters
    ----------
    name
        ``standard``, ``quicklook``, ``deep`` (or a tier, returned as given
        apart from overrides).
    overrides
        ``{tier name: {field: value}}``; default :func:`load_tier_overrides`.

    Raises
    ------
    ConfigError
        If the tier is unknown or an override is invalid.
    """
    overrides = load_tier_overrides() if overrides is None else overrides
    if isinstance(name, ImagingTier):
        base = name
    elif name in TIERS:
        base = TIERS[name]
    else:
        raise ConfigError(f"unknown imaging tier {name!r}", hint=f"choose from {sorted(TIERS)}")
    changes = dict(overrides.get(base.name, {}))
    if "extra_args" in changes:
        changes["extra_args"] = tuple(changes["extra_args"])
    try:
        return ImagingTier(**{**base.model_dump(), **changes})
    except ValidationError as exc:
        raise ConfigError(f"invalid override of imaging tier {base.name!r}: {exc}") from exc


def scale_tier(
    tier: ImagingTier,
    *,
    max_baseline_m: float,
    freq_min_hz: float,
    freq_max_hz: float,
    max_size: int | None = None,
    oversample: float = 3.5,
) -> ImagingTier:
    """Fit a tier's cell and size to an array and band, keeping the field; see the module notes.

    Parameters
    ----------
    tier
        The tier to scale.
    max_baseline_m
        Longest baseline, metres.
    freq_min_hz, freq_max_hz
        Band edges, Hz.
    max_size
        Largest image side wanted, pixels: the cell grows (up to half the
        resolution) before the field would shrink; past that the image is
        larger than ``max_size``.
    oversample
        Cells per synthesized resolution wanted.

    Returns
    -------
    ImagingTier
        A copy with ``cell_arcsec`` and ``size`` replaced.
    """
    wavelength_m = SPEED_OF_LIGHT_M_S / freq_max_hz
    longest = max_baseline_m / wavelength_m
    if tier.max_uv_lambda is not None:
        longest = min(longest, tier.max_uv_lambda)
    resolution_arcsec = float(np.degrees(1.0 / longest) * 3600)
    fov_arcsec = 2 * float(np.degrees(beam_offset_for_level(tier.pb_limit, freq_min_hz))) * 3600
    cell = _tenths(resolution_arcsec / oversample, up=False)
    if max_size is not None and fov_arcsec / cell > max_size:
        coarsest = _tenths(resolution_arcsec / MIN_CELLS_PER_BEAM, up=False)
        cell = min(_tenths(fov_arcsec / max_size, up=True), coarsest)
    size = int(np.ceil(fov_arcsec / cell / 2)) * 2
    return tier.model_copy(update={"cell_arcsec": float(cell), "size": size})


def _tenths(value: float, *, up: bool) -> float:
    """``value`` rounded to 0.1 arcsec (up or down), at least 0.1."""
    rounded = np.ceil(value * 10) / 10 if up else np.floor(value * 10) / 10
    return max(float(rounded), 0.1)
