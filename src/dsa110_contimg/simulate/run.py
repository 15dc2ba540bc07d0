"""Simulate a data set: plan the groups, draw the sky, write files and truth.

Output folder layout::

    OUTDIR/incoming/YYYY-MM-DDTHH:MM:SS_sbNN.hdf5   the UVH5 stream
    OUTDIR/catalog.csv                               the sky as a user's catalog
    OUTDIR/truth.json                                sources, fluxes per group, plan
    OUTDIR/truth/<group>.npz                         true gains and RFI per group

The random state of each group derives from (seed, group index), so a group
is the same whichever groups are simulated with it.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from astropy.time import Time, TimeDelta

from dsa110_contimg import __version__
from dsa110_contimg.catalog.readers import FIELDS as CATALOG_FIELDS
from dsa110_contimg.simulate import geometry
from dsa110_contimg.simulate.beam import SimBeam
from dsa110_contimg.simulate.config import SimConfig
from dsa110_contimg.simulate.corruptions import (
    GainTruth,
    complex_noise,
    correlated_rfi_amplitude,
    draw_gains,
    draw_rfi_mask,
    noise_sigma_jy,
    rfi_direction_enu,
)
from dsa110_contimg.simulate.engine import predict, predict_gaussian
from dsa110_contimg.simulate.sky import SkyModel, build_sky
from dsa110_contimg.simulate.uvh5 import SubbandHeader, SubbandWriter
from dsa110_contimg.telescope import (
    BAND_LOW_HZ,
    INTEGRATION_TIME_S,
    N_SUBBANDS,
    SUBBAND_WIDTH_HZ,
    dsa110_layout,
)

log = logging.getLogger(__name__)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class GroupTruth:
    """What one group's files hold beyond the sky: gains and RFI."""

    gains: GainTruth
    rfi_mask: np.ndarray  # (Nt, F) bool, any RFI, frequencies ascending
    correlated_rfi_jy: np.ndarray  # (Nt, F) float, the coherent interferer's amplitude


@dataclass(frozen=True)
class GroupPlan:
    """One group to simulate."""

    index: int
    epoch: int
    role: str  # "calibrator" or "target"
    start: Time  # start of the first integration (whole seconds)
    day: float  # days since the first epoch's calibrator group

    @property
    def group_id(self) -> str:
        return self.start.to_datetime().strftime("%Y-%m-%dT%H:%M:%S")

    def filename(self, subband: int) -> str:
        return f"{self.group_id}_sb{subband:02d}.hdf5"


def calibrator_source(name: str) -> tuple[str, float, float, float, float]:
    """``(name, ra_deg, dec_deg, flux_1p4_jy, spectral_index)`` of a primary calibrator."""
    from dsa110_contimg.catalog.calibrators import primary_calibrators

    for cal in primary_calibrators():
        if cal.name.upper() == name.upper():
            return cal.name, cal.ra_deg, cal.dec_deg, cal.flux_jy, cal.spectral_index
    raise ValueError(f"unknown calibrator {name!r}")


def active_pads(n_antennas: int) -> np.ndarray:
    """Indices (pad - 1) of the first ``n_antennas`` active antennas, spread over the arms.

    For fewer than 96 antennas, every k-th antenna of each arm is kept so the
    smaller array keeps the T shape and some outriggers.
    """
    active = dsa110_layout().active_indices
    if n_antennas >= len(active):
        return active
    picks = np.unique(np.round(np.linspace(0, len(active) - 1, n_antennas)).astype(int))
    return active[picks]


def subband_frequencies(n_chan: int) -> tuple[np.ndarray, float]:
    """Channel centres, ascending over the whole band, and the channel width (Hz)."""
    width = SUBBAND_WIDTH_HZ / n_chan
    return BAND_LOW_HZ + (np.arange(N_SUBBANDS * n_chan) + 0.5) * width, width


def plan_groups(cfg: SimConfig, cal: tuple[str, float, float, float, float]) -> list[GroupPlan]:
    """Calibrator transit groups and the target groups following them, per epoch.

    By default groups lie back to back on a grid of the group duration from
    ``cfg.group_origin``, as the correlator writes them: each epoch's
    calibrator group is the grid slot holding the transit, so the transit
    falls at a different time inside its group every day (the grid drifts
    against the sidereal day by about 236 s a day). ``cfg.sidereal_locked``
    instead starts every epoch at the same LST with the transit at the
    group's middle.
    """
    duration_s = cfg.n_integrations * INTEGRATION_TIME_S
    noon = Time(dt.datetime.combine(cfg.start_date, dt.time(12)), scale="utc")
    transit = geometry.transit_time(cal[1], cal[2], noon)
    origin = Time(cfg.group_origin, scale="utc").unix
    plans = []
    for epoch in range(cfg.n_epochs):
        day = epoch * cfg.epoch_spacing_days
        transit_s = transit.unix + day * geometry.SIDEREAL_DAY_S
        if cfg.sidereal_locked:
            base = np.round(transit.unix - duration_s / 2) + day * geometry.SIDEREAL_DAY_S
        else:
            base = origin + np.floor((transit_s - origin) / duration_s) * duration_s
        for k in range(1 + cfg.targets_per_epoch):
            start = Time(np.round(base + k * duration_s), format="unix", scale="utc")
            role = "calibrator" if k == 0 else "target"
            plans.append(GroupPlan(len(plans), epoch, role, Time(start.isot, scale="utc"), day))
    return plans


def _baseline_order(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Baselines in a correlator-like order, about a quarter stored as ant1 > ant2."""
    j, i = np.triu_indices(n)[::-1]  # column-major upper triangle: (0,0), (0,1), (1,1), ...
    order = np.lexsort((i, j))
    i, j = i[order], j[order]
    swap = (rng.random(len(i)) < 0.25) & (i != j)
    return np.where(swap, j, i), np.where(swap, i, j)


class GroupSimulator:
    """Everything fixed across the groups of one data set."""

    def __init__(self, cfg: SimConfig, outdir: Path) -> None:
        self.cfg = cfg
        self.outdir = Path(outdir)
        self.incoming = self.outdir / "incoming"
        self.layout = dsa110_layout()
        self.pads = active_pads(cfg.n_antennas)
        self.enu = self.layout.enu_m[self.pads]
        self.freqs, self.chan_width = subband_frequencies(cfg.n_chan_per_subband)
        self.cal = calibrator_source(cfg.calibrator)
        self.plans = plan_groups(cfg, self.cal)
        mid = self.plans[0].start + TimeDelta(
            cfg.n_integrations * INTEGRATION_TIME_S / 2, format="sec"
        )
        self.dec_app = geometry.dec_of_date(self.cal[1], self.cal[2] + cfg.pointing_offset_deg, mid)
        rng = np.random.default_rng([cfg.seed, 0])
        self.sky = build_sky(
            cfg, rng, self.cal, self._ra_span(), self.cal[2] + cfg.pointing_offset_deg
        )
        order_rng = np.random.default_rng([cfg.seed, 1])
        self.bl_i, self.bl_j = _baseline_order(len(self.pads), order_rng)
        self.dead = np.isin(self.pads + 1, cfg.dead_antennas)
        self.beam = SimBeam(cfg.beam)
        eff = cfg.stream
        self.missing = set(eff.missing_subbands) | (
            {eff.missing_subband} if eff.missing_subband is not None else set()
        )

    def _ra_span(self) -> tuple[float, float]:
        first = self.plans[0].start
        epoch_groups = 1 + self.cfg.targets_per_epoch
        end = first.unix + epoch_groups * self.cfg.n_integrations * INTEGRATION_TIME_S
        lst = np.degrees(geometry.local_sidereal_time_rad(Time([first.unix, end], format="unix")))
        pad = self.cfg.sky_radius_deg / max(np.cos(np.radians(self.cal[2])), 0.05)
        lo = lst[0] - pad
        hi = lst[1] + pad if lst[1] >= lst[0] else lst[1] + 360 + pad
        return lo, hi

    def simulate(self, plan: GroupPlan, progress: Progress | None = None) -> GroupTruth:
        """Write one group's 16 files; return its true gains and RFI."""
        cfg = self.cfg
        rng = np.random.default_rng([cfg.seed, 2, plan.index])
        nt = cfg.n_integrations
        offsets_s = (np.arange(nt) + 0.5) * INTEGRATION_TIME_S
        times = plan.start + TimeDelta(offsets_s, format="sec")
        centre = geometry.meridian_directions(self.dec_app, times[nt // 2 : nt // 2 + 1])[0]
        directions = geometry.source_directions(self.sky.ra_deg, self.sky.dec_deg, times)
        spectra = self.sky.spectrum(plan.day, self.freqs)  # (Ns, F)
        # Antenna gains and bandpasses hold for an epoch (a day), so the
        # calibrator's solutions apply to its targets; only the drift is per group.
        shape = (len(self.pads), N_SUBBANDS, cfg.n_chan_per_subband, nt)
        stable = draw_gains(cfg, np.random.default_rng([cfg.seed, 4, plan.epoch]), *shape)
        drift = draw_gains(cfg, rng, *shape).drift
        gains = GainTruth(stable.antenna_gain, stable.bandpass, drift)
        rfi = draw_rfi_mask(cfg, rng, self.freqs, nt)
        coherent = correlated_rfi_amplitude(cfg, self.freqs, nt, plan.index)
        sigma = noise_sigma_jy(cfg.sefd_jy, self.chan_width, INTEGRATION_TIME_S)

        i, j = self.bl_i, self.bl_j
        uvw = geometry.baseline_uvw(self.enu, i, j, centre)
        header = SubbandHeader(
            ant1=self.pads[i],
            ant2=self.pads[j],
            uvw_m=uvw,
            times_jd=times.jd,
            lst_rad=geometry.local_sidereal_time_rad(times),
            integration_s=INTEGRATION_TIME_S,
            freqs_hz=self.freqs,  # replaced per subband below
            channel_width_hz=self.chan_width,
            phase_center_dec_rad=self.dec_app,
        )
        writers = self._open_writers(plan, header)
        auto = i == j
        try:
            for t in range(nt):
                apparent = spectra * self.beam.power(directions[t], centre, self.freqs)
                model = self._model(directions[t], centre, apparent, coherent[t])
                vis = self._corrupt(model, t, gains, rfi[t], sigma, auto, rng)
                for sb, writer in writers.items():
                    block = slice(
                        (N_SUBBANDS - 1 - sb) * cfg.n_chan_per_subband,
                        (N_SUBBANDS - sb) * cfg.n_chan_per_subband,
                    )
                    writer.write_integration(t, vis[:, block][:, ::-1])
                if progress:
                    progress(1)
        finally:
            for writer in writers.values():
                writer.__exit__(None, None, None)
        self._stream_effects(plan, rng)
        return GroupTruth(gains, rfi | (coherent > 0), coherent)

    def _model(
        self,
        directions: np.ndarray,
        centre: np.ndarray,
        apparent: np.ndarray,
        coherent_jy: np.ndarray,
    ) -> np.ndarray:
        """True visibilities of one integration: point and Gaussian sources, coherent RFI."""
        i, j, sky = self.bl_i, self.bl_j, self.sky
        resolved = sky.resolved
        if not resolved.any():
            model = predict(self.enu, directions, centre, apparent, self.freqs, i, j)
        else:
            point = ~resolved
            model = predict(self.enu, directions[point], centre, apparent[point], self.freqs, i, j)
            shapes = np.radians(
                np.stack([sky.major_arcsec / 3600, sky.minor_arcsec / 3600, sky.pa_deg], axis=1)
            )[resolved]
            model += predict_gaussian(
                self.enu, directions[resolved], centre, apparent[resolved], self.freqs, i, j, shapes
            )
        chans = coherent_jy > 0
        if chans.any():
            model[:, chans] += predict(
                self.enu,
                rfi_direction_enu(self.cfg)[None, :],
                centre,
                coherent_jy[None, chans],
                self.freqs[chans],
                i,
                j,
            )
        return model

    def _open_writers(self, plan: GroupPlan, header: SubbandHeader) -> dict[int, SubbandWriter]:
        n = self.cfg.n_chan_per_subband
        sign = -1.0 if self.cfg.negative_channel_width else 1.0
        writers = {}
        for sb in range(N_SUBBANDS):
            if (plan.index, sb) in self.missing:
                continue
            block = slice((N_SUBBANDS - 1 - sb) * n, (N_SUBBANDS - sb) * n)
            sb_header = SubbandHeader(
                **{
                    **header.__dict__,
                    "freqs_hz": self.freqs[block][::-1],
                    "channel_width_hz": sign * self.chan_width,
                }
            )
            writers[sb] = SubbandWriter(self.incoming / plan.filename(sb), self.layout, sb_header)
        return writers

    def _corrupt(
        self,
        model: np.ndarray,
        t: int,
        gains: GainTruth,
        rfi_row: np.ndarray,
        sigma: float,
        auto: np.ndarray,
        rng: np.random.Generator,
    ) -> np.ndarray:
        """Add system power, noise and RFI and apply the gains; returns (Nbl, F, 2)."""
        cfg = self.cfg
        nbl, nf = model.shape
        g = gains.at(t)  # (Na, 2, F)
        g_signal = np.where(self.dead[:, None, None], 0.0, g)
        i, j = self.bl_i, self.bl_j
        out = np.empty((nbl, nf, 2), np.complex64)
        for p in range(2):
            vis = model + complex_noise(rng, model.shape, sigma)
            vis[auto] = (
                model[auto].real
                + cfg.sefd_jy
                + (np.sqrt(2) * sigma * rng.standard_normal((int(auto.sum()), nf)))
            )
            if rfi_row.any():
                cross = ~auto
                vis[np.ix_(cross, rfi_row)] += complex_noise(
                    rng, (int(cross.sum()), int(rfi_row.sum())), cfg.rfi_amplitude_sigma * sigma
                )
            signal = g_signal[i, p] * np.conj(g_signal[j, p])
            noise_only = (self.dead[i] | self.dead[j])[:, None]
            scale = np.abs(g[i, p]) * np.abs(g[j, p])
            dead_value = 0.0 if cfg.dead_antenna_mode == "zero" else (vis - model) * scale
            out[..., p] = np.where(noise_only, dead_value, vis * signal)
        # Baselines stored as ant1 > ant2 need no conjugation here: the model was
        # computed for the stored order, so it already is conj(V of the sorted pair).
        return out

    def _stream_effects(self, plan: GroupPlan, rng: np.random.Generator) -> None:
        eff = self.cfg.stream
        end = plan.start.unix + self.cfg.n_integrations * INTEGRATION_TIME_S
        for sb in range(N_SUBBANDS):
            path = self.incoming / plan.filename(sb)
            if not path.exists():
                continue
            mtime = end + rng.uniform(0, eff.arrival_jitter_s)
            if eff.truncated_file == (plan.index, sb):
                with open(path, "r+b") as fh:
                    fh.truncate(path.stat().st_size // 2)
            if eff.corrupt_file == (plan.index, sb):
                size = path.stat().st_size
                path.write_bytes(rng.integers(0, 256, min(size, 1 << 20), np.uint8).tobytes())
            os.utime(path, (mtime, mtime))


def simulate(
    cfg: SimConfig,
    outdir: str | Path,
    *,
    groups: list[int] | None = None,
    progress: Progress | None = None,
) -> dict:
    """Simulate a data set into ``outdir``; return the truth record (also written).

    Parameters
    ----------
    groups
        Indices of the groups to write (default all); the truth covers all.
    progress
        Called with 1 after each integration written.
    """
    outdir = Path(outdir)
    sim = GroupSimulator(cfg, outdir)
    sim.incoming.mkdir(parents=True, exist_ok=True)
    (outdir / "truth").mkdir(exist_ok=True)
    wanted = set(range(len(sim.plans)) if groups is None else groups)
    for plan in sim.plans:
        if plan.index not in wanted:
            continue
        log.info("simulating group %s (%s, epoch %d)", plan.group_id, plan.role, plan.epoch)
        group = sim.simulate(plan, progress)
        np.savez_compressed(
            outdir / "truth" / f"{plan.group_id}.npz",
            antenna_numbers=sim.pads,
            freqs_hz=sim.freqs,
            antenna_gain=group.gains.antenna_gain,
            bandpass=group.gains.bandpass,
            drift=group.gains.drift,
            rfi_mask=group.rfi_mask,
            correlated_rfi_jy=group.correlated_rfi_jy.astype(np.float32),
        )
    truth = truth_record(sim)
    (outdir / "truth.json").write_text(json.dumps(truth, indent=1))
    write_catalog(sim.sky, cfg, outdir / "catalog.csv")
    return truth


def truth_record(sim: GroupSimulator) -> dict:
    """The machine-readable truth of a data set (JSON-ready)."""
    cfg, sky = sim.cfg, sim.sky
    duration_s = cfg.n_integrations * INTEGRATION_TIME_S
    groups = []
    for plan in sim.plans:
        files = [plan.filename(sb) for sb in range(N_SUBBANDS)]
        groups.append(
            {
                "group_id": plan.group_id,
                "index": plan.index,
                "epoch": plan.epoch,
                "role": plan.role,
                "day": plan.day,
                "start_mjd": plan.start.mjd,
                "mid_mjd": plan.start.mjd + duration_s / 2 / 86400,
                "end_mjd": plan.start.mjd + duration_s / 86400,
                "files": files,
                "true_flux_1p4_jy": sky.flux_at(plan.day).tolist(),
            }
        )
    eff = cfg.stream
    damaged = {
        key: sim.plans[value[0]].filename(value[1])
        for key, value in (
            ("missing", eff.missing_subband),
            ("truncated", eff.truncated_file),
            ("corrupt", eff.corrupt_file),
        )
        if value is not None and value[0] < len(sim.plans)
    }
    missing_files = sorted(
        sim.plans[g].filename(sb) for g, sb in sim.missing if 0 <= g < len(sim.plans)
    )
    return {
        "software_version": __version__,
        "config": json.loads(cfg.model_dump_json()),
        "calibrator": dict(
            zip(
                ("name", "ra_deg", "dec_deg", "flux_1p4_jy", "spectral_index"), sim.cal, strict=True
            )
        ),
        "pointing_dec_of_date_deg": float(np.degrees(sim.dec_app)),
        "antenna_numbers": sim.pads.tolist(),
        "dead_antenna_numbers": (sim.pads[sim.dead]).tolist(),
        "beam": sim.beam.record(),
        "correlated_rfi_direction_enu": rfi_direction_enu(cfg).tolist(),
        "channel_width_hz": sim.chan_width,
        "noise_sigma_jy": noise_sigma_jy(cfg.sefd_jy, sim.chan_width, INTEGRATION_TIME_S),
        "sources": {
            "name": sky.names.tolist(),
            "ra_deg": sky.ra_deg.tolist(),
            "dec_deg": sky.dec_deg.tolist(),
            "flux_1p4_jy": sky.flux_jy.tolist(),
            "spectral_index": sky.spectral_index.tolist(),
            "kind": sky.kind.tolist(),
            "major_arcsec": sky.major_arcsec.tolist(),
            "minor_arcsec": sky.minor_arcsec.tolist(),
            "pa_deg": sky.pa_deg.tolist(),
        },
        "groups": groups,
        "damaged_files": damaged,
        "missing_files": missing_files,
    }


#: The columns of the catalog CSV the pipeline imports (catalog.readers).
CATALOG_COLUMNS = ("name", *CATALOG_FIELDS)


def write_catalog(sky: SkyModel, cfg: SimConfig, path: Path) -> None:
    """The sky as a survey catalog: measured positions and fluxes with errors (CSV)."""
    rng = np.random.default_rng([cfg.seed, 3])
    n = len(sky)
    pos_err = cfg.catalog_position_error_arcsec
    dec = sky.dec_deg + rng.normal(0, pos_err, n) / 3600
    ra = (sky.ra_deg + rng.normal(0, pos_err, n) / 3600 / np.cos(np.radians(sky.dec_deg))) % 360
    flux_err = cfg.catalog_flux_error_frac * sky.flux_jy * 1e3
    flux = sky.flux_jy * 1e3 + rng.normal(0, 1, n) * flux_err
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CATALOG_COLUMNS)
        for k in range(n):
            writer.writerow(
                [
                    sky.names[k],
                    f"{ra[k]:.6f}",
                    f"{dec[k]:.6f}",
                    f"{pos_err:.2f}",
                    f"{pos_err:.2f}",
                    f"{flux[k]:.3f}",
                    f"{flux_err[k]:.3f}",
                    "",
                    "",
                    "",
                ]
            )
