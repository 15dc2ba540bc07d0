"""The science sections of the settings: every threshold that shapes a product.

Each section is a frozen pydantic model held by
:class:`~dsa110_contimg.config.Settings` (``settings.photometry``,
``settings.variability``, ``settings.flagging``, ``settings.solve``,
``settings.imaging``), set in the TOML file as a table (``[photometry]``,
``[photometry.normalisation]``, ``[variability.presets.moderate]``, ...) or
in the environment with ``__`` between the levels
(``DSA110_PHOTOMETRY__UPPER_LIMIT_SNR=4``,
``DSA110_VARIABILITY__ESE__MIN_DURATION_DAYS=10``). The defaults are the
operating pipeline's: with no section given, no result changes.

The science modules never read the settings: each section turns itself into
the frozen parameter object its module takes (:meth:`PhotometrySettings.rules`
-> ``ReferenceRules``, :meth:`FlaggingSettings.params` -> ``FlagParams``, ...),
and the pipeline steps pass those in. Every step's job records the sections
it used (:func:`dsa110_contimg.pipeline.context.recorded_settings`), with a
short hash of them, so a product can be reproduced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:
    from dsa110_contimg.calibration.solve import SolveParams
    from dsa110_contimg.calibration.tile import TileModelParams
    from dsa110_contimg.flagging.flag import FlagParams
    from dsa110_contimg.photometry.forced import ForcedOptions
    from dsa110_contimg.photometry.records import ReferenceRules
    from dsa110_contimg.variability.candidates import Preset
    from dsa110_contimg.variability.new_sources import NewSourceOptions


class Section(BaseModel):
    """A settings section: no unknown keys (a typo is an error), immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# -- photometry ---------------------------------------------------------------
class NormalisationSettings(Section):
    """How an epoch's flux references are chosen and its normalisation factor formed."""

    radius_deg: float = Field(
        default=1.5, gt=0, le=10, description="References lie within this distance (deg) of "
        "the image centre."
    )  # fmt: skip
    min_snr: float = Field(
        default=50.0, gt=0, description="Catalog or measured SNR a reference needs."
    )
    max_references: int = Field(default=20, ge=1, le=1000, description="Most references per image.")
    min_references: int = Field(
        default=3, ge=1, le=1000, description="Fewest references surviving the clipping for a "
        "valid factor (fewer: the epoch is stored with factor 1, not normalised)."
    )  # fmt: skip
    baseline_epochs: int = Field(
        default=10, ge=1, le=1000, description="Epochs in a reference's baseline (the median "
        "of its first clean raw fluxes)."
    )  # fmt: skip
    clip_sigma: float = Field(
        default=3.0, gt=0, description="Reference ratios further than this many MAD-based "
        "sigmas from their median are left out of the factor."
    )  # fmt: skip


class PhotometrySettings(Section):
    """Forced photometry, blends and normalisation (:mod:`dsa110_contimg.photometry`)."""

    upper_limit_snr: float = Field(
        default=5.0, gt=0, description="Below this SNR a forced measurement is flagged an "
        "upper limit (value and error kept)."
    )  # fmt: skip
    cutout_beams: float = Field(
        default=3.0, gt=0, le=20, description="Side of the matched-filter cutout, in BMAJ."
    )
    blend_beams: float = Field(
        default=1.5, ge=0, le=20, description="Positions closer than this many BMAJ are "
        "flagged BLENDED."
    )  # fmt: skip
    joint_beams: float = Field(
        default=2.5, ge=0, le=20, description="Positions closer than this many BMAJ are "
        "fitted jointly (at least blend_beams is used)."
    )  # fmt: skip
    unstable_correlation: float = Field(
        default=0.9, gt=0, le=1, description="Jointly fitted kernels whose normalised overlap "
        "exceeds this cannot be separated: flagged UNSTABLE_BLEND."
    )  # fmt: skip
    noise_acf_scale: float = Field(
        default=1.0, ge=0, description="Noise autocorrelation of the flux errors: the beam "
        "with both axes scaled by this (1: correlated like the beam; 0: independent pixels)."
    )  # fmt: skip
    normalisation: NormalisationSettings = Field(default_factory=NormalisationSettings)

    def rules(self) -> ReferenceRules:
        """The reference and normalisation rules of the photometry stage."""
        from dsa110_contimg.photometry.records import ReferenceRules

        return ReferenceRules(**self.normalisation.model_dump())

    def forced(self) -> ForcedOptions:
        """The forced-photometry options (cutouts, blends, upper limits)."""
        from dsa110_contimg.photometry.forced import ForcedOptions

        return ForcedOptions(**self.model_dump(exclude={"normalisation"}))


# -- variability --------------------------------------------------------------
class PresetSettings(Section):
    """Thresholds of one candidate preset (all three must be reached) and its error floor."""

    sigma: float = Field(gt=0, description="sigma_deviation a candidate reaches.")
    chi2_nu: float = Field(gt=0, description="Reduced chi-square a candidate reaches.")
    eta: float = Field(gt=0, description="eta a candidate reaches.")
    min_epochs: int = Field(default=3, ge=2, le=10_000, description="Fewest epochs.")
    frac_floor: float = Field(
        default=0.0, ge=0, lt=1, description="Fraction of the flux added in quadrature to "
        "every error before the metrics (after a change, rebuild the metrics)."
    )  # fmt: skip


#: The presets of ``docs/dsa110.md`` (variability/candidates.py explains the choice).
DEFAULT_PRESETS: dict[str, dict[str, float]] = {
    "conservative": {"sigma": 5.0, "chi2_nu": 4.0, "eta": 3.0, "frac_floor": 0.015},
    "moderate": {"sigma": 3.5, "chi2_nu": 2.5, "eta": 2.0, "frac_floor": 0.015},
    "sensitive": {"sigma": 2.5, "chi2_nu": 1.5, "eta": 1.0, "frac_floor": 0.01},
}


class ESESettings(Section):
    """Thresholds of the ESE classification of a candidate's light curve.

    What makes one epoch (``epoch_days``) is the light-curve metrics' rule
    (:data:`dsa110_contimg.variability.metrics.EPOCH_DAYS`), not set here.
    """

    min_duration_days: float = Field(default=7.0, gt=0, description="Shortest dip, days.")
    max_duration_days: float = Field(default=365.0, gt=0, description="Longest dip, days.")
    min_dip_epochs: int = Field(default=2, ge=1, description="Fewest low epochs in the dip.")
    dip_sigma: float = Field(
        default=2.0, gt=0, description="An epoch is low (high) by this many errors; a dip's "
        "summed deviation and a caustic need twice it."
    )  # fmt: skip
    merge_gap_epochs: int = Field(
        default=1, ge=0, description="Low runs split by at most this many epochs are one dip."
    )
    max_asymmetry: float = Field(
        default=0.25, ge=0, le=1, description="Largest |egress - ingress| / duration."
    )
    caustic_fraction: float = Field(
        default=0.5, ge=0, description="Caustics lie within this many durations of an edge."
    )


class NewSourceSettings(Section):
    """Thresholds of the new-source candidates (blind detections no catalog knows)."""

    limit_sigma: float = Field(
        default=5.0, gt=0, description="An earlier measurement below this SNR is an upper "
        "limit of this many errors; the score is the detection's SNR over it."
    )  # fmt: skip
    max_listed: int = Field(
        default=20, ge=0, description="Most recent earlier measurements listed in the details."
    )


class VariabilitySettings(Section):
    """Candidate presets, ESE classification and new sources (:mod:`dsa110_contimg.variability`).

    The preset used is ``variability_preset`` (a top-level setting); a preset
    given in part keeps its other thresholds.
    """

    presets: dict[str, PresetSettings] = Field(
        default_factory=lambda: {k: PresetSettings(**v) for k, v in DEFAULT_PRESETS.items()},
        description="Thresholds of each preset (conservative, moderate, sensitive).",
    )
    ese: ESESettings = Field(default_factory=ESESettings)
    new_sources: NewSourceSettings = Field(default_factory=NewSourceSettings)

    @field_validator("presets", mode="before")
    @classmethod
    def _over_defaults(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        merged = {name: dict(values) for name, values in DEFAULT_PRESETS.items()}
        for name, given in value.items():
            if name not in merged:
                raise ValueError(f"unknown preset {name!r}; known: {', '.join(merged)}")
            if isinstance(given, BaseModel):
                given = given.model_dump()
            if not isinstance(given, dict):
                raise ValueError(f"preset {name!r} must be a table of thresholds")
            merged[name].update(given)
        return merged

    def preset(self, name: str) -> Preset:
        """The candidate preset ``name`` with these thresholds and ESE options."""
        from dsa110_contimg.variability.candidates import ESEOptions, Preset

        values = self.presets[name]
        return Preset(name=name, **values.model_dump(), ese=ESEOptions(**self.ese.model_dump()))

    def new_source_options(self) -> NewSourceOptions:
        """The new-source candidates' options."""
        from dsa110_contimg.variability.new_sources import NewSourceOptions

        return NewSourceOptions(**self.new_sources.model_dump())


# -- flagging -------------------------------------------------------------------
class FlaggingSettings(Section):
    """The flagging recipe (:class:`dsa110_contimg.flagging.flag.FlagParams`)."""

    autocorrelations: bool = Field(default=True, description="Flag autocorrelations.")
    invalid: bool = Field(default=True, description="Flag zeros and NaNs.")
    aoflagger: bool = Field(default=True, description="Run AOFlagger's RFI detection.")
    strategy: str | None = Field(
        default=None, description="AOFlagger Lua strategy file (default: the repository's "
        "DSA-110 one, flagging/strategies/dsa110.lua)."
    )  # fmt: skip
    mad_sigma: float | None = Field(
        default=7.0, gt=0, description="MAD clip threshold on amplitude residuals, robust sigmas."
    )
    mad_smooth_channels: int = Field(
        default=15, ge=1, description="Running-median width of the clip's spectral model."
    )
    channel_fraction: float = Field(
        default=0.5, gt=0, le=1, description="Flag a baseline's whole channel above this "
        "flagged fraction."
    )  # fmt: skip
    time_fraction: float = Field(
        default=0.5, gt=0, le=1, description="Flag a baseline's whole integration above this "
        "flagged fraction."
    )  # fmt: skip
    dilate_channels: int = Field(default=1, ge=0, description="Channels flagged around each flag.")
    dilate_times: int = Field(default=0, ge=0, description="Integrations flagged around each.")
    antenna_limit: float = Field(
        default=0.95, gt=0, le=1, description="Drop antennas flagged above this fraction."
    )

    def params(self) -> FlagParams:
        """The flagging recipe as the flagging module takes it."""
        from dsa110_contimg.flagging.flag import FlagParams

        return FlagParams(**self.model_dump())


# -- calibration solve ------------------------------------------------------------
class TileModelSettings(Section):
    """Which catalog sources make a tile's sky model (gains between transits)."""

    min_apparent_jy: float = Field(
        default=0.02, ge=0, description="Faintest apparent (beam-attenuated) flux, Jy."
    )
    min_beam_power: float = Field(
        default=0.1, gt=0, lt=1, description="Sources out to where the beam falls to this."
    )
    max_sources: int = Field(default=300, ge=1, description="Most sources, brightest first.")
    min_model_flux_jy: float = Field(
        default=0.5, ge=0, description="A tile is re-solved only when the model carries this "
        "much apparent flux (Jy)."
    )  # fmt: skip
    bin_hz: float = Field(
        default=1.0e6, gt=0, le=50e6, description="Widest channel bin of the tile-gain solve, Hz "
        "(data and model averaged; wider bins lose the smearing information)."
    )  # fmt: skip


class SolveSettings(Section):
    """The calibration solve (:class:`dsa110_contimg.calibration.solve.SolveParams`) and tables."""

    refant_pads: list[int] | None = Field(
        default=None, description="Reference antenna fallback list, pad numbers (default: the "
        "outriggers 103-116)."
    )  # fmt: skip
    refant_min_good_fraction: float = Field(
        default=0.5, ge=0, le=1, description="A reference candidate needs this fraction of its "
        "bandpass unflagged."
    )  # fmt: skip
    presolve_solint_s: float | None = Field(
        default=60.0, gt=0, description="Phase-only pre-solve interval, s."
    )
    presolve_chan_block: int = Field(
        default=48, ge=1, description="Channels per pre-solve solution (48: one subband)."
    )
    bandpass_minsnr: float = Field(
        default=5.0, ge=0, description="Bandpass solutions below this SNR are flagged."
    )
    gain_minsnr: float = Field(
        default=3.0, ge=0, description="Gain solutions below this SNR are flagged."
    )
    gain_solint_s: float | None = Field(
        default=None, gt=0, description="Gain solution interval, s (unset: the whole group)."
    )
    uvmin_lambda: float = Field(
        default=1000.0, ge=0, description="Baselines shorter than this (wavelengths) are ignored."
    )
    uvmin_frequency_hz: float | None = Field(
        default=None, gt=0, description="Convert uvmin with this one frequency (CASA's "
        "selection) instead of each channel's."
    )  # fmt: skip
    min_baselines: int = Field(default=4, ge=1, description="Fewest usable baselines per antenna.")
    fill_gaps: int = Field(
        default=3, ge=0, description="Longest run of flagged bandpass channels interpolated."
    )
    solnorm_amplitude: bool = Field(default=True, description="Bandpass mean amplitude 1.")
    solnorm_phase: bool = Field(default=True, description="Bandpass mean phase 0.")
    max_iter: int = Field(default=200, ge=1, description="StEFCal iteration limit.")
    tol: float = Field(default=1e-10, gt=0, description="StEFCal convergence tolerance.")
    bandpass_validity_days: float = Field(
        default=1.0, gt=0, description="Validity of a solved bandpass table, days (centred)."
    )
    gain_validity_days: float = Field(
        default=1.0 / 24.0, gt=0, description="Validity of a solved gain table, days (centred)."
    )
    expiry_grace_days: float = Field(
        default=2.0, ge=0, description="How long after its validity a table stays valid, days."
    )
    tile_max_flag_fraction: float = Field(
        default=0.5, ge=0, le=1, description="Tile gains flagged above this fraction are "
        "not registered."
    )  # fmt: skip
    tile_model: TileModelSettings = Field(default_factory=TileModelSettings)

    def params(self) -> SolveParams:
        """The solver's parameters."""
        from dsa110_contimg.calibration.solve import SolveParams

        fields = set(SolveParams.__dataclass_fields__) - {"refant_pads"}
        values = {k: v for k, v in self.model_dump().items() if k in fields}
        if self.refant_pads is not None:
            values["refant_pads"] = tuple(self.refant_pads)
        return SolveParams(**values)

    def tile_model_params(self) -> TileModelParams:
        """Which catalog sources make a tile's sky model."""
        from dsa110_contimg.calibration.tile import TileModelParams

        return TileModelParams(**self.tile_model.model_dump())

    @property
    def validity_days(self) -> dict[str, float]:
        """Validity of newly solved tables by type, days."""
        return {"bandpass": self.bandpass_validity_days, "gain": self.gain_validity_days}


# -- imaging -----------------------------------------------------------------------
class ImagingSettings(Section):
    """Overrides of the imaging tiers (:mod:`dsa110_contimg.imaging.tiers`).

    ``[imaging.tiers.standard]`` ``niter = 2000`` changes the standard tier;
    these win over the file named by ``DSA110_IMAGING_TIERS``.
    """

    tiers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per tier name (standard, quicklook, deep), WSClean parameters that "
        "replace the tier's (checked as the tier model checks them).",
    )

    @field_validator("tiers")
    @classmethod
    def _valid_tiers(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        from dsa110_contimg.imaging.tiers import TIERS, get_tier

        for name in value:
            if name not in TIERS:
                raise ValueError(f"unknown imaging tier {name!r}; known: {', '.join(TIERS)}")
            try:
                get_tier(name, value)
            except Exception as exc:  # ConfigError with pydantic's explanation
                raise ValueError(str(exc)) from exc
        return value

    def overrides(self, file_overrides: dict[str, dict[str, Any]] | None = None) -> dict:
        """The tier overrides: the file's (``DSA110_IMAGING_TIERS``), these on top."""
        from dsa110_contimg.imaging.tiers import load_tier_overrides

        merged = {k: dict(v) for k, v in (file_overrides or load_tier_overrides()).items()}
        for name, values in self.tiers.items():
            merged.setdefault(name, {}).update(values)
        return merged


#: The science sections of :class:`~dsa110_contimg.config.Settings`, by field name.
SECTIONS: dict[str, type[Section]] = {
    "photometry": PhotometrySettings,
    "variability": VariabilitySettings,
    "flagging": FlaggingSettings,
    "solve": SolveSettings,
    "imaging": ImagingSettings,
}
