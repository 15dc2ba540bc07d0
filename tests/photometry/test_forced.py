"""Forced photometry on synthetic images with known truth."""

from __future__ import annotations

import numpy as np
import pytest
from astropy.wcs import WCS
from photometry_sims import add_sources, add_sources_sky, correlated_noise, make_wcs

from dsa110_contimg.photometry.beam import Beam
from dsa110_contimg.photometry.flags import PhotFlag
from dsa110_contimg.photometry.forced import forced_photometry

BEAM = Beam(30 / 3600, 18 / 3600, 30.0)  # 5 x 3 pixels at 6 arcsec
RMS = 2e-3


def _field(n_img: int, n_src: int, seed: int, margin: int = 40):
    rng = np.random.default_rng(seed)
    wcs = make_wcs(n_img)
    xy = rng.uniform(margin, n_img - margin, (n_src, 2))
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0)
    flux = rng.uniform(0.02, 0.3, n_src)  # SNR ~ 7-100 against sqrt(2) x rms
    image = np.zeros((n_img, n_img))
    add_sources(image, wcs, BEAM, ra, dec, flux)
    return rng, wcs, ra, dec, flux, image


@pytest.mark.parametrize("noise_scale, acf", [(1.0, np.sqrt(2)), (1 / np.sqrt(2), 1.0)])
def test_pulls_isolated_sources(noise_scale: float, acf: float) -> None:
    """Flux pulls ~ N(0, 1) with noise correlated by the beam (two correlation lengths)."""
    pulls = []
    for seed in range(3):
        rng, wcs, ra, dec, flux, image = _field(700, 400, seed)
        image += correlated_noise(image.shape, wcs, BEAM, RMS, rng, scale=noise_scale)
        res = forced_photometry(
            image, wcs, BEAM, ra, dec, rms_map=np.full(image.shape, RMS), noise_acf_scale=acf
        )
        alone = (res.flags & PhotFlag.BLENDED) == 0
        pulls.append(((res.flux_jy - flux) / res.flux_err_jy)[alone])
    pull = np.concatenate(pulls)
    assert pull.size > 900
    # tolerances: ~4 standard errors of the mean (1/sqrt(N)) and of the std (1/sqrt(2N))
    assert abs(pull.mean()) < 4 / np.sqrt(pull.size)
    assert abs(pull.std() - 1) < max(0.08, 4 / np.sqrt(2 * pull.size))


def test_noise_free_exact_and_blends_resolved() -> None:
    _, wcs, ra, dec, flux, image = _field(600, 300, 7)
    res = forced_photometry(image, wcs, BEAM, ra, dec, rms_map=np.full(image.shape, RMS))
    assert np.max(np.abs(res.flux_jy / flux - 1)) < 1e-3
    assert ((res.flags & PhotFlag.BLENDED) != 0).sum() > 10  # the field does contain blends
    # chi2 is ~0 where no unmodelled neighbour (beyond the joint-fit radius)
    # reaches into the cutout: nearest other source > 4 BMAJ = 20 px away
    x, y = res.x_pix, res.y_pix
    dist = np.hypot(x[:, None] - x, y[:, None] - y) + np.eye(len(x)) * 1e9
    isolated = (dist.min(1) > 20) | ((res.flags & PhotFlag.BLENDED) != 0) & (dist.min(1) > 0)
    assert np.all(res.chi2[dist.min(1) > 20] < 1e-4)
    assert isolated.sum() > 100


def _rotated_wcs(n: int, angle_deg: float) -> WCS:
    wcs = make_wcs(n, dec0=60.0)
    a = np.radians(angle_deg)
    wcs.wcs.pc = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return wcs


@pytest.mark.parametrize("rotation", [0.0, 25.0])
def test_position_angle_orientation(rotation: float) -> None:
    """Sources drawn in the sky frame with an elliptical beam: right PA gives the flux."""
    wcs = _rotated_wcs(160, rotation)
    beam = Beam(40 / 3600, 15 / 3600, 60.0)
    ra, dec = wcs.wcs_pix2world([50, 110, 80], [60, 100, 30], 0)
    flux = np.array([0.1, 0.05, 0.2])
    image = np.zeros((160, 160))
    add_sources_sky(image, wcs, beam, ra, dec, flux)
    rms = np.full(image.shape, RMS)
    good = forced_photometry(image, wcs, beam, ra, dec, rms_map=rms)
    assert good.flux_jy == pytest.approx(flux, rel=2e-3)
    for wrong_pa in (-60.0, 150.0):  # mirrored and perpendicular orientations
        bad = forced_photometry(
            image, wcs, Beam(40 / 3600, 15 / 3600, wrong_pa), ra, dec, rms_map=rms
        )
        assert np.all(bad.flux_jy < 0.8 * flux)
        assert np.all(bad.chi2 > 100 * good.chi2 + 1)


def test_close_pair_joint_fit() -> None:
    """Pairs 1 BMAJ apart: fitted jointly, unbiased, errors honest."""
    rng = np.random.default_rng(11)
    wcs = make_wcs(800)
    centres = rng.uniform(60, 740, (150, 2))
    # keep pair centres apart from each other
    keep = [0]
    for i in range(1, len(centres)):
        if np.min(np.hypot(*(centres[keep] - centres[i]).T)) > 30:
            keep.append(i)
    centres = centres[keep]
    sep = 5.0  # pixels = 30 arcsec = 1 BMAJ, along a random direction
    angle = rng.uniform(0, np.pi, len(centres))
    offset = 0.5 * sep * np.c_[np.cos(angle), np.sin(angle)]
    xy = np.concatenate([centres - offset, centres + offset])
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0)
    flux = rng.uniform(0.05, 0.3, len(xy))
    image = np.zeros((800, 800))
    add_sources(image, wcs, BEAM, ra, dec, flux)
    rms = np.full(image.shape, RMS)
    exact = forced_photometry(image, wcs, BEAM, ra, dec, rms_map=rms)
    assert np.all((exact.flags & PhotFlag.BLENDED) != 0)
    assert exact.flux_jy == pytest.approx(flux, rel=1e-3)
    noisy = image + correlated_noise(image.shape, wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
    res = forced_photometry(noisy, wcs, BEAM, ra, dec, rms_map=rms)
    pull = (res.flux_jy - flux) / res.flux_err_jy
    assert abs(pull.mean()) < 0.3
    assert 0.75 < pull.std() < 1.3


def test_unseparable_pair_flagged_and_sum_kept() -> None:
    wcs = make_wcs(200)
    ra, dec = wcs.wcs_pix2world([100.0, 100.4], [100.0, 100.0], 0)
    image = np.zeros((200, 200))
    add_sources(image, wcs, BEAM, ra, dec, np.array([0.1, 0.1]))
    res = forced_photometry(image, wcs, BEAM, ra, dec, rms_map=np.full(image.shape, RMS))
    assert np.all(res.flags & PhotFlag.UNSTABLE_BLEND)
    assert res.flux_jy.sum() == pytest.approx(0.2, rel=1e-3)


def test_edges_and_blanked_pixels() -> None:
    wcs = make_wcs(200)
    x = np.array([1.0, 100.0, 120.0, -30.0, 60.0])
    y = np.array([100.0, 100.0, 60.0, 50.0, 150.0])
    ra, dec = wcs.wcs_pix2world(x, y, 0)
    flux = np.full(5, 0.1)
    image = np.zeros((200, 200))
    add_sources(image, wcs, BEAM, ra, dec, flux)
    image[98:103, 100:103] = np.nan  # half of source 1's core blanked
    image[140:160, 50:70] = np.nan  # all of source 4 blanked
    res = forced_photometry(image, wcs, BEAM, ra, dec, rms_map=np.full(image.shape, RMS))
    flags = [PhotFlag(int(f)) for f in res.flags]
    assert flags[0] & PhotFlag.NEAR_EDGE and not flags[0] & PhotFlag.NO_DATA
    assert flags[1] & PhotFlag.BLANKED
    assert flags[2] == 0
    assert flags[3] & PhotFlag.NO_DATA and np.isnan(res.flux_jy[3])
    assert flags[4] & PhotFlag.NO_DATA and np.isnan(res.flux_jy[4])
    assert res.flux_jy[:3] == pytest.approx(0.1, rel=1e-3)
    assert res.flux_err_jy[1] > res.flux_err_jy[2]  # fewer pixels, larger error


def test_upper_limits_keep_values() -> None:
    rng = np.random.default_rng(5)
    wcs = make_wcs(500)
    xy = np.stack(np.meshgrid(np.arange(40, 460, 20.0), np.arange(40, 460, 20.0)), -1).reshape(
        -1, 2
    )
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0)
    image = correlated_noise((500, 500), wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
    res = forced_photometry(image, wcs, BEAM, ra, dec, rms_map=np.full(image.shape, RMS))
    limits = res.is_upper_limit
    assert limits.mean() > 0.99  # no source there: (almost) all upper limits at 5 sigma
    assert np.all(np.isfinite(res.flux_jy[limits]))
    pull = res.flux_jy / res.flux_err_jy
    assert abs(pull.mean()) < 0.15 and 0.85 < pull.std() < 1.15


def test_matches_naive_per_source_sums() -> None:
    """The vectorised sums equal a direct loop over pixels (independent pixels, varying rms)."""
    rng, wcs, ra, dec, flux, image = _field(300, 5, 3, margin=60)
    image += rng.normal(0, RMS, image.shape)
    rms = np.full(image.shape, RMS) * (1 + 0.5 * rng.random(image.shape))
    res = forced_photometry(
        image,
        wcs,
        BEAM,
        ra,
        dec,
        rms_map=rms,
        noise_acf_scale=None,
        joint_beams=0,
        blend_beams=0,
        subtract_background=False,  # the raw pixel sums
    )
    x, y = wcs.wcs_world2pix(ra, dec, 0)
    from dsa110_contimg.photometry.beam import pixel_covariance, sky_to_pixel_jacobian

    inv = np.linalg.inv(pixel_covariance(BEAM, sky_to_pixel_jacobian(wcs, ra, dec)))
    for i in range(len(ra)):
        num = den = 0.0  # cutout half-width ceil(1.5 BMAJ) = 8 px
        for py in range(int(round(y[i])) - 8, int(round(y[i])) + 9):
            for px in range(int(round(x[i])) - 8, int(round(x[i])) + 9):
                d = np.array([px - x[i], py - y[i]])
                k = np.exp(-0.5 * d @ inv[i] @ d)
                sigma = rms[int(round(y[i])), int(round(x[i]))]  # rms at the position
                num += image[py, px] * k / sigma**2
                den += k * k / sigma**2
        assert res.flux_jy[i] == pytest.approx(num / den, rel=1e-10)
        assert res.flux_err_jy[i] == pytest.approx(den**-0.5, rel=1e-10)


def test_duplicate_positions_share_the_flux() -> None:
    wcs = make_wcs(200)
    ra, dec = wcs.wcs_pix2world([100.0, 100.0, 150.0], [100.0, 100.0, 60.0], 0)
    image = np.zeros((200, 200))
    add_sources(image, wcs, BEAM, ra[1:], dec[1:], np.array([0.1, 0.05]))
    res = forced_photometry(image, wcs, BEAM, ra, dec, rms_map=np.full(image.shape, RMS))
    assert res.flux_jy[:2] == pytest.approx([0.05, 0.05], rel=1e-4)
    assert np.all(res.flags[:2] & PhotFlag.UNSTABLE_BLEND)
    assert res.flux_jy[2] == pytest.approx(0.05, rel=1e-6) and res.flags[2] == 0


def test_fits_image_with_frequency_and_stokes_axes(tmp_path) -> None:
    """A WSClean-like 4-axis FITS file: the celestial plane and the beam are found."""
    from astropy.io import fits

    from dsa110_contimg.photometry.forced import forced_photometry_fits

    wcs = make_wcs(200)
    ra, dec = wcs.wcs_pix2world([60.0, 140.0], [80.0, 120.0], 0)
    image = np.zeros((200, 200))
    add_sources(image, wcs, BEAM, ra, dec, np.array([0.2, 0.05]))
    header = wcs.to_header()
    for key, value in dict(
        CTYPE3="FREQ",
        CRVAL3=1.405e9,
        CDELT3=1.875e8,
        CRPIX3=1.0,
        CTYPE4="STOKES",
        CRVAL4=1.0,
        CDELT4=1.0,
        CRPIX4=1.0,
    ).items():
        header[key] = value
    header["BMAJ"], header["BMIN"], header["BPA"] = BEAM.bmaj_deg, BEAM.bmin_deg, BEAM.bpa_deg
    path = tmp_path / "tile-image-pb.fits"
    fits.PrimaryHDU(image[None, None].astype(np.float32), header).writeto(path)
    res = forced_photometry_fits(str(path), ra, dec, rms_map=np.full((200, 200), RMS))
    assert res.flux_jy == pytest.approx([0.2, 0.05], rel=1e-5)


@pytest.mark.parametrize(
    "beam",
    [BEAM, Beam(25 / 3600, 15 / 3600, 20.0), Beam(15 / 3600, 12 / 3600, 20.0)],
    ids=["30x18", "25x15", "15x12"],
)
def test_closed_form_overlaps_match_pixel_sums(beam: Beam) -> None:
    """Kernel overlaps in closed form = sums over cutout j, within 1e-4 of A_jj."""
    from dsa110_contimg.photometry import blends, kernels
    from dsa110_contimg.photometry.beam import pixel_covariance, sky_to_pixel_jacobian

    rng = np.random.default_rng(3)
    wcs = make_wcs(200)
    n = 2000
    centre = rng.uniform(50, 150, (n, 2))
    bmaj_pix = beam.bmaj_deg * 3600 / 6
    sep = rng.uniform(0, 2.5 * bmaj_pix, n)  # out to the joint-fit radius
    angle = rng.uniform(0, 2 * np.pi, n)
    xy = np.concatenate([centre, centre + sep[:, None] * np.c_[np.cos(angle), np.sin(angle)]])
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0)
    inv = np.linalg.inv(pixel_covariance(beam, sky_to_pixel_jacobian(wcs, ra, dec)))
    half = int(np.ceil(1.5 * bmaj_pix))
    j, k = np.arange(n), np.arange(n, 2 * n)
    x, y = xy[:, 0].copy(), xy[:, 1].copy()
    closed = blends.gaussian_overlaps(x, y, inv, j, k)
    pixels = kernels.pixel_overlaps(np.zeros((200, 200)), x, y, inv, half, j, k)
    own = kernels.pixel_overlaps(np.zeros((200, 200)), x, y, inv, half, j, j)
    worst = np.max(np.abs(closed - pixels) / own)
    assert worst < 1e-4, worst  # measured 2-4e-5
    assert np.median(pixels / own) > 0.01  # the pairs do overlap


def test_joint_chi2_equals_direct_residuals() -> None:
    """chi2 of joint fits = sum of squared residuals with every fitted member modelled."""
    from dsa110_contimg.photometry import blends
    from dsa110_contimg.photometry.beam import pixel_covariance, sky_to_pixel_jacobian
    from dsa110_contimg.photometry.forced import _single_sums

    rng = np.random.default_rng(8)
    wcs = make_wcs(300)
    xy = rng.uniform(5, 295, (400, 2))
    ra, dec = wcs.wcs_pix2world(xy[:, 0], xy[:, 1], 0)
    image = correlated_noise((300, 300), wcs, BEAM, RMS, rng)
    add_sources(image, wcs, BEAM, ra, dec, rng.uniform(0.01, 0.3, 400))
    image[100:110] = np.nan
    rms = np.full(image.shape, RMS)
    inv = np.linalg.inv(pixel_covariance(BEAM, sky_to_pixel_jacobian(wcs, ra, dec)))
    sums = _single_sums(image, rms, xy[:, 0], xy[:, 1], inv, 8)
    members, pairs, _ = blends.blend_groups(xy[:, 0], xy[:, 1], 12.5, sums["flags"])
    assert np.bincount(pairs[:, 0]).max() >= 4  # dense: members with many neighbours
    flux = rng.uniform(0.01, 0.3, members.size)
    x, y = xy[members, 0], xy[members, 1]
    chi2 = blends.member_chi2(image, x, y, inv[members], 8, flux)
    # direct: the full model image (no truncation), residuals on each cutout
    yy, xx = np.mgrid[0:300, 0:300]
    model = np.zeros((300, 300))
    for i in range(members.size):
        (a, b), (_, c) = inv[members[i]]
        dx, dy = xx - x[i], yy - y[i]
        model += flux[i] * np.exp(-0.5 * (a * dx**2 + 2 * b * dx * dy + c * dy**2))
    resid = np.nan_to_num(image - model)
    direct = []
    for xi, yi in zip(np.rint(x).astype(int), np.rint(y).astype(int), strict=True):
        cut = resid[max(yi - 8, 0) : yi + 9, max(xi - 8, 0) : xi + 9]
        direct.append(np.sum(cut**2))
    assert chi2 == pytest.approx(np.array(direct), rel=1e-6)


@pytest.mark.parametrize("kind", ["constant", "slope"])
def test_background_subtracted(kind: str) -> None:
    """A background under the sources biases fluxes by 2 B unless subtracted (the default)."""
    rng, wcs, ra, dec, flux, image = _field(700, 300, 11)
    image += correlated_noise(image.shape, wcs, BEAM, RMS, rng, scale=1 / np.sqrt(2))
    yy, xx = np.mgrid[0 : image.shape[0], 0 : image.shape[1]]
    level = 3 * RMS  # a sidelobe's or a bowl's worth
    background = np.full(image.shape, level) if kind == "constant" else level * xx / 350.0
    rms = np.full(image.shape, RMS)
    kept = forced_photometry(
        image + background, wcs, BEAM, ra, dec, rms_map=rms, subtract_background=False
    )
    fixed = forced_photometry(image + background, wcs, BEAM, ra, dec, rms_map=rms)
    alone = ((kept.flags | fixed.flags) & PhotFlag.BLENDED) == 0
    bias_before = np.median(((kept.flux_jy - flux) / kept.flux_err_jy)[alone])
    bias_after = np.median(((fixed.flux_jy - flux) / fixed.flux_err_jy)[alone])
    print(
        f"{kind} background {level} Jy: median pull before {bias_before:.2f}, after {bias_after:.2f}"
    )
    assert bias_before > 1.5  # 2 B = 6 mJy against errors of ~4 mJy
    assert abs(bias_after) < 0.15
