"""The simulated sky: a calibrator, field sources from 1.4 GHz counts, variability.

Source counts follow N(>S) = n0 (S / S_min)^-slope per square degree, which
with the defaults (9 deg^-2 above 20 mJy, slope 0.9) is close to NVSS's
integral counts at mJy levels. Positions are uniform on the sphere within the
region the groups' primary beams sweep. A fraction of the steady field
sources (``cfg.resolved_fraction``) are elliptical Gaussians a little larger
than the synthesised beam; their shapes come from a random stream of their
own, so turning them on leaves the rest of the sky as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dsa110_contimg.simulate.config import ESEParams, FlareParams, SimConfig
from dsa110_contimg.telescope import angular_separation

REFERENCE_FREQ_HZ = 1.4e9


@dataclass(frozen=True)
class SkyModel:
    """Point sources with their 1.4 GHz flux, spectral index and light curve.

    Attributes
    ----------
    names : (N,) str
    ra_deg, dec_deg : (N,) float, ICRS degrees
    flux_jy : (N,) float, mean flux density at 1.4 GHz, Jy
    spectral_index : (N,) float, S ~ nu^alpha
    kind : (N,) str, ``steady``, ``flare``, ``ese`` or ``calibrator``
    major_arcsec, minor_arcsec : (N,) float
        FWHM of a Gaussian source's axes, arcsec; 0 for a point source.
    pa_deg : (N,) float
        Position angle of the major axis, degrees east of north.
    """

    names: np.ndarray
    ra_deg: np.ndarray
    dec_deg: np.ndarray
    flux_jy: np.ndarray
    spectral_index: np.ndarray
    kind: np.ndarray
    flare: FlareParams = field(default_factory=FlareParams)
    ese: ESEParams = field(default_factory=ESEParams)
    major_arcsec: np.ndarray | None = None
    minor_arcsec: np.ndarray | None = None
    pa_deg: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("major_arcsec", "minor_arcsec", "pa_deg"):
            if getattr(self, name) is None:
                object.__setattr__(self, name, np.zeros(len(self.names)))

    @property
    def resolved(self) -> np.ndarray:
        """True for the Gaussian sources, shape (N,)."""
        return self.major_arcsec > 0

    def __len__(self) -> int:
        return len(self.names)

    def flux_at(self, day: float) -> np.ndarray:
        """True 1.4 GHz flux of every source ``day`` days after the first epoch, Jy."""
        factor = np.ones(len(self))
        factor[self.kind == "flare"] = flare_factor(day, self.flare)
        factor[self.kind == "ese"] = ese_factor(day, self.ese)
        return self.flux_jy * factor

    def spectrum(self, day: float, freq_hz: np.ndarray) -> np.ndarray:
        """Flux of every source at each frequency, shape (N, F), Jy."""
        ratio = np.asarray(freq_hz, dtype=float)[None, :] / REFERENCE_FREQ_HZ
        return self.flux_at(day)[:, None] * ratio ** self.spectral_index[:, None]


def flare_factor(day: float, p: FlareParams) -> float:
    """Multiplicative flux factor of a flare at ``day``."""
    return 1.0 + p.amplitude * float(np.exp(-0.5 * ((day - p.peak_day) / p.width_days) ** 2))


def ese_factor(day: float, p: ESEParams) -> float:
    """Multiplicative flux factor of an extreme scattering event at ``day``.

    A smooth-edged dip of ``depth`` over ``duration_days`` centred on
    ``centre_day``, with caustic brightenings (Gaussians) at both edges.
    """
    half = p.duration_days / 2
    edge = max(p.caustic_width_days / 2, 1e-3)
    x = day - p.centre_day
    inside = 1 / (1 + np.exp((abs(x) - half) / edge))  # ~1 in the dip, ~0 outside
    caustics = sum(
        np.exp(-0.5 * ((x - side * half) / p.caustic_width_days) ** 2) for side in (-1.0, 1.0)
    )
    return float(1.0 - p.depth * inside + p.caustic_amplitude * caustics)


def source_name(ra_deg: float, dec_deg: float) -> str:
    """IAU-style name ``SIM Jhhmmss.s+ddmmss`` for a simulated source."""
    ra_h = ra_deg / 15.0
    h, rem = divmod(ra_h * 3600.0, 3600.0)
    m, s = divmod(rem, 60.0)
    sign = "+" if dec_deg >= 0 else "-"
    d, drem = divmod(abs(dec_deg) * 3600.0, 3600.0)
    dm, ds = divmod(drem, 60.0)
    return f"SIM J{int(h):02d}{int(m):02d}{s:04.1f}{sign}{int(d):02d}{int(dm):02d}{int(ds):02d}"


def draw_field_sources(
    cfg: SimConfig,
    rng: np.random.Generator,
    ra_range_deg: tuple[float, float],
    dec_centre_deg: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw positions and fluxes of field sources in an RA range around a declination.

    Returns ``(ra_deg, dec_deg, flux_jy)``, brightest first.
    """
    dec_lo = max(dec_centre_deg - cfg.sky_radius_deg, -90.0)
    dec_hi = min(dec_centre_deg + cfg.sky_radius_deg, 90.0)
    ra_lo, ra_hi = ra_range_deg
    sin_lo, sin_hi = np.sin(np.radians([dec_lo, dec_hi]))
    area_deg2 = (ra_hi - ra_lo) * (sin_hi - sin_lo) * np.degrees(1.0)  # deg x rad -> deg^2
    n = rng.poisson(cfg.density_per_deg2 * area_deg2)
    ra = rng.uniform(ra_lo, ra_hi, n) % 360.0
    dec = np.degrees(np.arcsin(rng.uniform(sin_lo, sin_hi, n)))
    # inverse-CDF sampling of a truncated power law N(>S) ~ S^-slope
    s_min, s_max, k = cfg.min_flux_jy, cfg.max_flux_jy, cfg.count_slope
    u = rng.uniform(0, 1, n)
    lo, hi = s_min**-k, s_max**-k
    flux = (lo - u * (lo - hi)) ** (-1.0 / k)
    order = np.argsort(flux)[::-1]
    return ra[order], dec[order], flux[order]


def build_sky(
    cfg: SimConfig,
    rng: np.random.Generator,
    calibrator: tuple[str, float, float, float, float],
    ra_range_deg: tuple[float, float],
    dec_centre_deg: float,
) -> SkyModel:
    """The calibrator plus field sources, with variables assigned.

    Parameters
    ----------
    calibrator
        ``(name, ra_deg, dec_deg, flux_1p4_jy, spectral_index)``.
    ra_range_deg
        RA span swept by the groups' beams (may exceed 360 to wrap).
    dec_centre_deg
        The strip's pointing declination.
    """
    ra, dec, flux = draw_field_sources(cfg, rng, ra_range_deg, dec_centre_deg)
    # no field source on top of the calibrator
    cal_name, cal_ra, cal_dec, cal_flux, cal_alpha = calibrator
    sep = np.degrees(angular_separation(*np.radians([ra, dec]), *np.radians([cal_ra, cal_dec])))
    keep = sep > 0.05
    ra, dec, flux = ra[keep], dec[keep], flux[keep]
    if cfg.max_sources is not None:
        ra, dec, flux = ra[: cfg.max_sources], dec[: cfg.max_sources], flux[: cfg.max_sources]
    n = len(ra)
    alpha = rng.normal(cfg.spectral_index_mean, cfg.spectral_index_std, n)
    kind = np.full(n, "steady", dtype=object)
    # variables: the bright-enough sources nearest the middle of the swept field,
    # where every epoch sees them well
    centre_ra = 0.5 * (ra_range_deg[0] + ra_range_deg[1]) % 360.0
    off = angular_separation(*np.radians([ra, dec]), *np.radians([centre_ra, dec_centre_deg]))
    eligible = np.flatnonzero(flux >= cfg.variable_min_flux_jy)
    eligible = eligible[np.argsort(off[eligible], kind="stable")]
    n_var = min(cfg.n_flares + cfg.n_eses, len(eligible))
    chosen = eligible[:n_var]
    kind[chosen[: min(cfg.n_flares, n_var)]] = "flare"
    kind[chosen[min(cfg.n_flares, n_var) :]] = "ese"
    names = np.array([source_name(r, d) for r, d in zip(ra, dec, strict=True)], dtype=object)
    major, minor, pa = draw_gaussian_shapes(cfg, np.random.default_rng([cfg.seed, 5]), kind)
    return SkyModel(
        names=np.concatenate([[cal_name], names]),
        ra_deg=np.concatenate([[cal_ra], ra]),
        dec_deg=np.concatenate([[cal_dec], dec]),
        flux_jy=np.concatenate([[cal_flux], flux]),
        spectral_index=np.concatenate([[cal_alpha], alpha]),
        kind=np.concatenate([np.array(["calibrator"], dtype=object), kind]),
        flare=cfg.flare,
        ese=cfg.ese,
        major_arcsec=np.concatenate([[0.0], major]),
        minor_arcsec=np.concatenate([[0.0], minor]),
        pa_deg=np.concatenate([[0.0], pa]),
    )


def draw_gaussian_shapes(
    cfg: SimConfig, rng: np.random.Generator, kind: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Major and minor FWHM (arcsec) and PA (deg) of field sources; zeros for points.

    ``round(cfg.resolved_fraction * n_steady)`` steady sources, chosen at
    random, get a major axis uniform in ``cfg.resolved_major_arcsec``, an
    axis ratio uniform in ``[cfg.resolved_min_axis_ratio, 1]`` and a uniform
    position angle. Variables stay points (scintillating sources are compact).
    """
    n = len(kind)
    major, minor, pa = np.zeros(n), np.zeros(n), np.zeros(n)
    steady = np.flatnonzero(kind == "steady")
    n_resolved = int(round(cfg.resolved_fraction * len(steady)))
    if n_resolved == 0:
        return major, minor, pa
    chosen = rng.choice(steady, n_resolved, replace=False)
    major[chosen] = rng.uniform(*cfg.resolved_major_arcsec, n_resolved)
    minor[chosen] = major[chosen] * rng.uniform(cfg.resolved_min_axis_ratio, 1.0, n_resolved)
    pa[chosen] = rng.uniform(0.0, 180.0, n_resolved)
    return major, minor, pa
