"""The standard tier on a simulated field: noise, positions, fluxes, headers, previews, QA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.wcs import WCS
from casacore.tables import table

from dsa110_contimg.qa import robust_rms
from dsa110_contimg.qa.image_qa import peak_position

from .conftest import needs_wsclean, true_catalog

pytestmark = needs_wsclean


def predicted_rms_jy(ms: Path, sigma_vis_jy: float, min_uv_lambda: float) -> tuple[float, int]:
    """Thermal Stokes I noise of a naturally weighted image of the unflagged, uv-selected data.

    Each unflagged cross-correlation sample k (row, channel) carries XX and
    YY, each with noise ``sigma_vis`` = SEFD / sqrt(2 dnu tau) per real
    component (the simulator's ``noise_sigma_jy``), so Stokes I = (XX+YY)/2
    has sigma_vis / sqrt(2). A pixel of an image normalised to a unit PSF
    peak is sum(W_k Re V_k) / sum(W_k), whose noise is
    sigma_vis / sqrt(2) * sqrt(sum W_k^2) / sum W_k; for natural weighting
    (the MS weights are all equal) that is
    SEFD / sqrt(2 dnu tau) / sqrt(2 N), N = samples kept, i.e.
    SEFD / sqrt(2 N_bl N_chan dnu tau N_int) / sqrt(2 pols) with the autos
    (flagged) out and the uv cut (> 1000 lambda, per channel) applied.

    Briggs 0.5 on this sparse coverage (68k samples on a 1800^2 uv grid,
    mostly one per cell) reweights little: a Stokes Q image made by WSClean
    with the same weighting (pure noise, the sky being unpolarised) gives
    this natural prediction to 1%. We therefore compare with the natural
    value, the strictest one.
    """
    with table(str(ms), ack=False) as tb:
        flag, uvw = tb.getcol("FLAG"), tb.getcol("UVW")
    with table(str(ms / "SPECTRAL_WINDOW"), ack=False) as spw:
        freqs = spw.getcol("CHAN_FREQ")[0]
    uv_lambda = np.hypot(uvw[:, 0], uvw[:, 1])[:, None] * freqs[None, :] / 299_792_458.0
    kept = ~flag.any(-1) & (uv_lambda >= min_uv_lambda)
    n = int(kept.sum())
    return sigma_vis_jy / np.sqrt(2) / np.sqrt(n), n


@pytest.fixture(params=["unit-gains", "calibrated"])
def case(request) -> tuple:
    """(imaged, field): the unit-gain field imaged from DATA, or a target group
    calibrated from its calibrator transit and imaged from CORRECTED_DATA."""
    if request.param == "unit-gains":
        return request.getfixturevalue("imaged"), request.getfixturevalue("field")
    field = request.getfixturevalue("calibrated_field")
    return field["imaged"], field


def test_rms_near_thermal(case) -> None:
    imaged, field = case
    predicted, n = predicted_rms_jy(
        field["ms"], field["truth"]["noise_sigma_jy"], imaged.tier_params["min_uv_lambda"]
    )
    data = fits.getdata(imaged.products["image"]).squeeze()
    rms = robust_rms(data)
    print(f"rms {rms * 1e3:.3f} mJy/beam, predicted {predicted * 1e3:.3f} ({n} samples)")
    assert predicted < rms < 1.5 * predicted
    assert abs(imaged.qa["rms_jy"] / rms - 1) < 0.1


def _bright(imaged, field):
    """(true catalog, pixel positions, flat-image peaks) of sources at SNR >= 50 on the image."""
    cat = true_catalog(field["truth"], field["group"], imaged.freq_hz)
    pb = fits.getdata(imaged.products["image-pb"]).squeeze()
    header = fits.getheader(imaged.products["image-pb"])
    wcs = WCS(header).celestial
    beam = fits.getdata(imaged.products["beam"]).squeeze()
    x, y = wcs.world_to_pixel_values(cat["ra_deg"], cat["dec_deg"])
    n = pb.shape[0]
    inside = (x > 20) & (x < n - 21) & (y > 20) & (y < n - 21)
    rms = imaged.qa["rms_jy"]
    keep = []
    for k in np.flatnonzero(inside):
        apparent = cat["flux_jy"][k] * beam[int(round(y[k])), int(round(x[k]))]
        if apparent >= 50 * rms:
            keep.append(k)
    return cat, wcs, pb, x, y, np.array(keep, int), header


def test_positions_and_pb_fluxes(case) -> None:
    imaged, field = case
    cat, wcs, pb, x, y, bright, header = _bright(imaged, field)
    assert bright.size >= 3, "too few bright sources in the test field"
    beam_arcsec = 3600 * np.sqrt(header["BMAJ"] * header["BMIN"])
    cell = imaged.cell_arcsec
    for k in bright:
        px, py, value = peak_position(pb, x[k], y[k], half=int(header["BMAJ"] * 3600 / cell))
        ra, dec = wcs.pixel_to_world_values(px, py)
        dra = ((ra - cat["ra_deg"][k] + 180) % 360 - 180) * np.cos(np.radians(dec))
        offset = 3600 * np.hypot(dra, dec - cat["dec_deg"][k])
        ratio = value / cat["flux_jy"][k]
        print(f"source {k}: offset {offset:.2f} arcsec (beam {beam_arcsec:.1f}), ratio {ratio:.4f}")
        assert offset < beam_arcsec / 10
        assert abs(ratio - 1) < 0.05


def test_fits_headers(imaged) -> None:
    for kind, path in imaged.products.items():
        header = fits.getheader(path)
        wcs = WCS(header)
        assert wcs.has_celestial and wcs.celestial.naxis == 2, kind
        for key in ("BMAJ", "BMIN", "BPA") if kind != "beam" else ():
            assert header[key] > 0 or key == "BPA", (kind, key)
        assert header["TELESCOP"] == "DSA-110"
        assert abs(header["MJD-OBS"] - imaged.mjd_obs) < 1e-9
        assert header["DATE-OBS"].startswith("2026-")
        assert header["MSPATH"] == imaged.ms_path
        assert header["IMTIER"] == "standard" and header["DATACOL"] == "DATA"
        assert header["BANDWID"] == imaged.bandwidth_hz and header["FREQ"] > 1.3e9
        assert header["PIPEVER"]
    pb = fits.getheader(imaged.products["image-pb"])
    assert pb["PBCOR"] and pb["PBLIMIT"] == 0.2
    beam = fits.getdata(imaged.products["beam"]).squeeze()
    data = fits.getdata(imaged.products["image-pb"]).squeeze()
    assert np.all(np.isnan(data[beam < 0.2])) and np.isfinite(data[beam >= 0.2]).all()
    assert beam.max() <= 1.0 and beam.max() > 0.95


def test_products_previews_and_qa(imaged) -> None:
    for path in (*imaged.products.values(), imaged.preview_path, imaged.thumbnail_path):
        assert Path(path).is_file() and Path(path).stat().st_size > 0, path
    assert "wsclean" in Path(imaged.log_path).read_text().splitlines()[0]
    assert Path(imaged.preview_path).read_bytes()[:4] == b"\x89PNG"
    assert not list(Path(imaged.preview_path).parent.glob(".*.tmp"))
    qa = imaged.qa
    # a clean simulated field graded against its own truth: nothing to fail or warn about
    assert (qa["grade"], qa["reasons"]) == ("good", [])
    assert qa["n_bright"] >= 3 and 0.95 < qa["flux_ratio_median"] < 1.05
    assert qa["astrometry_median_arcsec"] < 3
    assert qa["completeness"] >= 0.8


@pytest.mark.parametrize("damage", ["flux scale halved", "positions shifted"])
def test_qa_fails_a_broken_image(imaged, field, tmp_path: Path, damage: str) -> None:
    """The same image, broken after the fact, graded against the same truth: ``fail``.

    Halving the pb-corrected pixels puts the median flux ratio near 0.5
    (fail outside 0.8-1.2); moving both images' reference position by twice
    the astrometry limit (10 arcsec, a fifth of the beam, so each peak is
    still found) puts the median offset near 10 arcsec (fail above 5).
    """
    from dsa110_contimg.qa.image_qa import QAThresholds, image_qa

    shift_deg = 2 * QAThresholds().astrometry_fail_arcsec / 3600
    broken = {}
    for kind in ("image", "image-pb"):
        with fits.open(imaged.products[kind]) as hdul:
            data, header = hdul[0].data, hdul[0].header.copy()
        if damage == "flux scale halved" and kind == "image-pb":
            data = data * 0.5
        if damage == "positions shifted":
            header["CRVAL2"] += shift_deg
        broken[kind] = tmp_path / f"{kind}.fits"
        fits.writeto(broken[kind], data, header)
    catalog = true_catalog(field["truth"], field["group"], 1.405e9)
    qa = image_qa(
        str(broken["image"]),
        str(broken["image-pb"]),
        imaged.products["beam"],
        catalog_ra_deg=catalog["ra_deg"],
        catalog_dec_deg=catalog["dec_deg"],
        catalog_flux_jy=catalog["flux_jy"],
    )
    assert qa.grade == "fail", qa.reasons
    if damage == "flux scale halved":
        # half the clean image's ratio (0.95-1.05, test above)
        assert qa.reasons[0].startswith("median flux ratio") and 0.47 < qa.flux_ratio_median < 0.53
    else:
        assert qa.reasons[0].startswith("median offset") and 8 < qa.astrometry_median_arcsec < 12
