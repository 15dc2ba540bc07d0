"""Per-tile gain calibration against the catalog sky model.

A calibrator transit fixes the bandpass for a day and the gains for about an
hour; between transits the gains drift. Each target group (tile) therefore
re-solves its own gains, amplitude and phase per antenna and polarisation,
one solution for the group, against the catalog sources in its primary
beam, with the transit's bandpass applied. The flux scale then comes from
the catalog sources rather than from a gain table an hour old.

The sky model is every catalog source whose apparent flux (catalog 1.4 GHz
flux, a spectral index of -0.7, times the drift-scan beam at the group's mid
time) is above ``min_apparent_jy``, out to where the beam falls to
``min_beam_power``, brightest first, up to ``max_sources``. A tile is only
re-solved when the model carries at least ``min_model_flux_jy`` of apparent
flux: below that the solution would be noise-limited and the transit's gains
are kept (the caller records why). Unmodelled fainter sources act as noise
on the solution; the catalog's flux errors average over the sources.

A calibrator transit is solved the same way: :func:`calibrator_sky_model`
puts the calibrator first and adds the catalog sources in its beam, so a
field source drifting through the beam with the calibrator (at its RA, it
looks like extra calibrator flux on east-west baselines) is modelled instead
of absorbed into the bandpass and gains.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dsa110_contimg.calibration.model import PointSource
from dsa110_contimg.calibration.msio import read_info
from dsa110_contimg.calibration.solve import CalibrationSolution, SolveParams, solve_ms
from dsa110_contimg.telescope import (
    AIRY,
    PrimaryBeamModel,
    angular_separation,
    beam_offset_for_level,
    drift_pointing_icrs,
)

log = logging.getLogger(__name__)

#: Spectral index given to catalog sources (the catalogs carry 1.4 GHz fluxes only).
DEFAULT_SPECTRAL_INDEX = -0.7

#: Widest channel bin of the tile-gain solve, Hz (:mod:`.freqbin`): 4 channels of
#: 244 kHz. Across it the fringe of a source at the beam's 10% level turns by up
#: to 0.35 turn on the longest (2.6 km) baselines; the binned model includes that
#: smearing exactly, but wider bins lose the information in it (on a full group,
#: 8 channels: phases 0.07 deg further from the truth; ``benchmarks/tile_gains.py``).
#: The test preset's 2.9 MHz channels are not binned. The default of
#: ``TileModelParams.bin_hz`` (``settings.solve.tile_model.bin_hz``).
TILE_BIN_HZ = 1.0e6


@dataclass(frozen=True)
class TileModelParams:
    """Which catalog sources make a tile's sky model, and when it is enough."""

    min_apparent_jy: float = 0.02
    min_beam_power: float = 0.1
    max_sources: int = 300
    min_model_flux_jy: float = 0.5
    bin_hz: float = TILE_BIN_HZ


@dataclass(frozen=True)
class TileModel:
    """A tile's sky model and what it is worth."""

    sources: list[PointSource]
    apparent_flux_jy: float  # summed beam-attenuated flux at the band centre
    enough: bool


def catalog_sky_model(
    cones: Iterable[np.ndarray],
    *,
    mid_mjd: float,
    pointing_dec_deg: float,
    freq_hz: float,
    params: TileModelParams = TileModelParams(),
    beam: PrimaryBeamModel = AIRY,
) -> TileModel:
    """The sky model of a tile from catalog rows around it.

    Parameters
    ----------
    cones
        Catalog query results (:data:`dsa110_contimg.catalog.store.RESULT_DTYPE`
        rows: ``name, ra_deg, dec_deg, flux_mjy, ...``), e.g. one cone per
        catalog. A source in several catalogs should appear in one only.
    mid_mjd, pointing_dec_deg
        The group's mid time and drift-scan declination of date.
    freq_hz
        Band centre, for the beam and the flux.
    beam
        The primary beam that makes the apparent fluxes (default the Airy).
    """
    rows = [c for c in cones if len(c)]
    if not rows:
        return TileModel([], 0.0, params.min_model_flux_jy <= 0)
    cat = np.concatenate(rows)
    ra_p, dec_p = drift_pointing_icrs(np.array([mid_mjd]), pointing_dec_deg)
    ra, dec = np.radians(cat["ra_deg"]), np.radians(cat["dec_deg"])
    power = beam.gain(angular_separation(ra_p[0], dec_p[0], ra, dec), freq_hz)
    flux_jy = cat["flux_mjy"] / 1e3 * (freq_hz / 1.4e9) ** DEFAULT_SPECTRAL_INDEX
    apparent = flux_jy * power
    # Airy sidelobes stay under 2% of the peak: a power cut above that is the main lobe
    keep = np.flatnonzero((power >= params.min_beam_power) & (apparent >= params.min_apparent_jy))
    keep = keep[np.argsort(-apparent[keep], kind="stable")][: params.max_sources]
    sources = [
        PointSource(
            str(cat["name"][k]) or f"cat{k}",
            float(cat["ra_deg"][k]),
            float(cat["dec_deg"][k]),
            float(cat["flux_mjy"][k]) / 1e3,
            DEFAULT_SPECTRAL_INDEX,
        )
        for k in keep
    ]
    total = float(apparent[keep].sum())
    return TileModel(sources, total, total >= params.min_model_flux_jy)


#: Catalog entries this close to the calibrator are the calibrator itself.
CALIBRATOR_MATCH_ARCSEC = 60.0


def calibrator_sky_model(
    calibrator: PointSource,
    cones: Iterable[np.ndarray],
    *,
    mid_mjd: float,
    pointing_dec_deg: float,
    freq_hz: float,
    params: TileModelParams = TileModelParams(),
    match_arcsec: float = CALIBRATOR_MATCH_ARCSEC,
    beam: PrimaryBeamModel = AIRY,
) -> list[PointSource]:
    """A calibrator's sky model: the calibrator, then the catalog sources in its beam.

    The field sources are chosen as for a tile (:func:`catalog_sky_model`);
    catalog entries within ``match_arcsec`` of the calibrator are dropped, since
    the calibrator's own flux model replaces them. Predict it with the
    drift-scan beam (:func:`~.model.write_model_ms` with ``pointing_dec_deg``,
    or ``solve_ms(sources=...)``).
    """
    field = catalog_sky_model(
        cones,
        mid_mjd=mid_mjd,
        pointing_dec_deg=pointing_dec_deg,
        freq_hz=freq_hz,
        params=params,
        beam=beam,
    )
    sep = angular_separation(
        np.radians([s.ra_deg for s in field.sources]),
        np.radians([s.dec_deg for s in field.sources]),
        np.radians(calibrator.ra_deg),
        np.radians(calibrator.dec_deg),
    )
    keep = np.degrees(np.atleast_1d(sep)) * 3600 > match_arcsec
    return [calibrator, *(s for s, k in zip(field.sources, keep, strict=True) if k)]


def model_radius_deg(
    freq_hz: float, params: TileModelParams = TileModelParams(), beam: PrimaryBeamModel = AIRY
) -> float:
    """Cone radius that holds every source the model can use (the beam's width scales it)."""
    level = np.degrees(beam_offset_for_level(params.min_beam_power, freq_hz))
    return float(level * beam.fwhm_scale) + 0.5


def solve_tile_gains(
    ms: str | Path,
    bandpass_table: str | Path,
    model: TileModel,
    *,
    pointing_dec_deg: float,
    params: SolveParams | None = None,
    chan_bin: int | None = None,
    bin_hz: float = TILE_BIN_HZ,
    predict: str = "kernel",
    beam: PrimaryBeamModel = AIRY,
) -> CalibrationSolution:
    """Gains of a target group against its catalog sky model, the bandpass fixed.

    Write the result with ``write_caltable(solution.gain, ms)``; its QA
    (``solution.qa``) says how well it is determined.

    The data (bandpass applied) and the model are averaged in bins of
    ``chan_bin`` channels before the solve (:mod:`.freqbin`; 1 for none;
    None: as many as fit in ``bin_hz``); ``predict="reference"``
    with ``chan_bin=1`` is the numpy path, for comparisons
    (``benchmarks/tile_gains.py``). ``beam`` is the primary beam of the model
    (the one ``model`` was chosen with).
    """
    info = read_info(ms)
    if chan_bin is None:
        width = np.abs(np.diff(info.freqs_hz)).max() if info.freqs_hz.size > 1 else np.inf
        chan_bin = max(1, int(bin_hz / width + 1e-9))
    log.info(
        "tile gains for %s: %d catalog sources, %.2f Jy apparent, bandpass %s",
        Path(ms).name,
        len(model.sources),
        model.apparent_flux_jy,
        bandpass_table,
    )
    solution = solve_ms(
        ms,
        params or SolveParams(),
        bandpass_table=bandpass_table,
        sources=model.sources,
        pointing_dec_deg=pointing_dec_deg,
        predict=predict,
        chan_bin=chan_bin,
        beam=beam,
    )
    solution.gain.meta["sky_model"] = {
        "beam_model": beam.describe(),
        "n_sources": len(model.sources),
        "apparent_flux_jy": model.apparent_flux_jy,
        "freq_hz": float(np.median(info.freqs_hz)),
        "chan_bin": solution.gain.meta.get("chan_bin", 1),
    }
    return solution
