"""Synthetic forced / catalog measurements seen through a beam wider than the pipeline's Airy.

A strip of steady catalog sources at Dec ~35 deg is observed by drift-scan
images on the group grid: each day a group every 309.24 s (pointing RA steps
1.292 deg), the grid starting 236 s later each day, so a source lands at a
different offset every day. Each image is pb-corrected with the Airy (or a
given model) while the sky is seen through the true beam: the Airy with its
width times ``truth_scale``. Both beams are averaged over the 309 s drift
here with 24 integrations and the pipeline's ``telescope.primary_beam`` (not
the code under test), noise is 1 mJy/beam before correction and each image
carries a 1% flux-scale error.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dsa110_contimg.telescope import airy_power, angular_separation

FREQ_HZ = 1.405e9
GROUP_S = 309.24
SIDEREAL_DEG_S = 360.0 / 86164.0905
DEC0 = 35.0
RMS_JY = 1e-3
PB_LIMIT = 0.2


@dataclass
class SyntheticSky:
    """Sources, images and their measurements (arrays, one row per measurement)."""

    src_ra: np.ndarray
    src_dec: np.ndarray
    src_flux: np.ndarray
    img_ra: np.ndarray
    img_mjd: np.ndarray
    # measurements
    m_src: np.ndarray
    m_img: np.ndarray
    flux: np.ndarray
    flux_err: np.ndarray
    true_gain: np.ndarray
    applied_gain: np.ndarray


def drift_power(
    scale: float, ra: np.ndarray, dec: np.ndarray, ra0: np.ndarray, dec0: float, n_int: int = 24
) -> np.ndarray:
    """Airy power (width x ``scale``) averaged over a 309 s drift, by integration."""
    t = (np.arange(n_int) + 0.5) / n_int * GROUP_S - GROUP_S / 2
    total = np.zeros(np.shape(ra))
    for dt in t:
        sep = angular_separation(
            np.radians(ra0 + SIDEREAL_DEG_S * dt), np.radians(dec0), np.radians(ra), np.radians(dec)
        )
        total += airy_power(sep / scale, FREQ_HZ)
    return total / n_int


def make_sky(
    *,
    truth_scale: float = 1.1,
    applied_scale: float = 1.0,
    days: int = 8,
    groups_per_day: int = 40,
    n_sources: int = 700,
    seed: int = 16,
) -> SyntheticSky:
    """The sources, the images and the measurements above 5 sigma inside the 0.2 level."""
    rng = np.random.default_rng(seed)
    span = groups_per_day * GROUP_S * SIDEREAL_DEG_S + 6.0
    src_ra = rng.uniform(0.0, span, n_sources)
    src_dec = np.degrees(
        np.arcsin(
            rng.uniform(np.sin(np.radians(DEC0 - 3.2)), np.sin(np.radians(DEC0 + 3.2)), n_sources)
        )
    )
    src_flux = 10 ** rng.uniform(np.log10(0.03), np.log10(3.0), n_sources)
    img_ra, img_mjd = [], []
    for day in range(days):
        start = 3.0 + (day * 236.0 % GROUP_S) * SIDEREAL_DEG_S
        for g in range(groups_per_day):
            img_ra.append(start + g * GROUP_S * SIDEREAL_DEG_S)
            img_mjd.append(61000.0 + day + g * GROUP_S / 86400)
    img_ra, img_mjd = np.array(img_ra), np.array(img_mjd)
    m_src, m_img, flux, err, tg, ag = [], [], [], [], [], []
    cal = 1.0 + 0.01 * rng.standard_normal(img_ra.size)
    for i, ra0 in enumerate(img_ra):
        near = np.flatnonzero(
            (np.abs(src_ra - ra0) * np.cos(np.radians(DEC0)) < 3.2) & (np.abs(src_dec - DEC0) < 3.2)
        )
        applied = drift_power(applied_scale, src_ra[near], src_dec[near], ra0, DEC0)
        true = drift_power(truth_scale, src_ra[near], src_dec[near], ra0, DEC0)
        keep = applied >= PB_LIMIT
        near, applied, true = near[keep], applied[keep], true[keep]
        sigma = RMS_JY / applied
        measured = src_flux[near] * true / applied * cal[i] + sigma * rng.standard_normal(near.size)
        detected = measured / sigma >= 5
        m_src.append(near[detected])
        m_img.append(np.full(detected.sum(), i))
        flux.append(measured[detected])
        err.append(sigma[detected])
        tg.append(true[detected])
        ag.append(applied[detected])
    return SyntheticSky(
        src_ra=src_ra,
        src_dec=src_dec,
        src_flux=src_flux,
        img_ra=img_ra,
        img_mjd=img_mjd,
        m_src=np.concatenate(m_src),
        m_img=np.concatenate(m_img),
        flux=np.concatenate(flux),
        flux_err=np.concatenate(err),
        true_gain=np.concatenate(tg),
        applied_gain=np.concatenate(ag),
    )


def seed_products_db(url: str, sky: SyntheticSky, *, beam_model_id: int | None = None) -> dict:
    """Register the sky's sources, images and measurements in a products DB at ``url``.

    Decoys the profile must leave out: a variable source (with a candidate)
    measured at half its flux, measurements flagged BLENDED at twice, and a
    blind source (no survey flux). Returns their ids.
    """
    from dsa110_contimg.photometry.flags import PhotFlag
    from dsa110_contimg.products import make_engine, make_session_factory, session_scope, upgrade
    from dsa110_contimg.products import repositories as repo

    upgrade(url)
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        ids, _ = repo.add_catalog_sources(
            session,
            "NVSS",
            [
                {
                    "name": f"S{k:04d}",
                    "ra_deg": float(sky.src_ra[k]),
                    "dec_deg": float(sky.src_dec[k]),
                    "catalog": "NVSS",
                    "catalog_flux_jy": float(sky.src_flux[k]),
                }
                for k in range(sky.src_ra.size)
            ],
        )
        src_ids = np.array([ids[f"S{k:04d}"] for k in range(sky.src_ra.size)])
        blind = repo.register_source(
            session, name="blind-1", ra_deg=float(sky.img_ra[0]), dec_deg=DEC0 + 0.5,
            catalog="blind", catalog_flux_jy=1.0,
        )  # fmt: skip
        variable_src = int(src_ids[sky.m_src[0]])
        repo.register_candidate(session, source_id=variable_src, kind="variable", score=9.0)
        image_ids = []
        for i, (ra0, mjd) in enumerate(zip(sky.img_ra, sky.img_mjd, strict=True)):
            image = repo.register_image(
                session,
                path=f"/synthetic/img{i:04d}-image-pb.fits",
                mjd_obs=float(mjd),
                ra_deg=float(ra0),
                dec_deg=DEC0,
                size_x=2400,
                size_y=2400,
                cell_arcsec=6.0,
                image_type="image-pb",
                pbcor=True,
                freq_hz=FREQ_HZ,
                integration_s=GROUP_S,
                beam_model_id=beam_model_id,
            )
            image_ids.append(image.id)
            sel = np.flatnonzero(sky.m_img == i)
            rows = []
            for j in sel:
                sid = int(src_ids[sky.m_src[j]])
                flux, flags = float(sky.flux[j]), 0
                if sid == variable_src:
                    flux *= 0.5
                elif j % 41 == 0:
                    flux, flags = 2 * flux, int(PhotFlag.BLENDED)
                rows.append({
                    "source_id": sid, "mjd": float(mjd), "flux_jy": flux,
                    "flux_err_jy": float(sky.flux_err[j]), "snr": flux / float(sky.flux_err[j]),
                    "flags": flags,
                })  # fmt: skip
            rows.append({"source_id": blind.id, "mjd": float(mjd), "flux_jy": 3.0,
                         "flux_err_jy": 0.01, "snr": 300.0, "flags": 0})  # fmt: skip
            repo.add_photometry(session, image.id, rows)
    engine.dispose()
    return {"variable_source": variable_src, "blind_source": blind.id, "image_ids": image_ids}
