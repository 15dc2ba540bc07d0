"""Two synthetic tiles with different restoring beams co-added against a known sky and noise.

The tiles are made here with astropy's modelling and convolution (no code of
``mosaic/``): point sources restored with each tile's own beam (astropy
``Gaussian2D``), noise that is white noise smoothed so that its
autocorrelation is the tile's beam (as in a restored image) and scaled to a
chosen rms, divided by a Gaussian primary beam. The mosaic must give each
source's true flux (Jy/beam of the common beam) within the noise, and its
noise map must be the tiles' rms, as convolved, combined by the weights.
"""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.convolution import Gaussian2DKernel, convolve_fft
from astropy.coordinates import SkyCoord
from astropy.io import fits
from astropy.modeling.models import Gaussian2D
from astropy.wcs import WCS

from dsa110_contimg.mosaic.build import build_mosaic
from dsa110_contimg.mosaic.select import TileInput
from dsa110_contimg.photometry.forced import forced_photometry_fits
from dsa110_contimg.qa.image_qa import robust_rms

SIGMA = 1 / math.sqrt(8 * math.log(2))
CELL = 8.0  # arcsec
N = 240
BEAMS = ((60.0, 30.0, 20.0), (48.0, 36.0, 75.0))  # arcsec, arcsec, deg east of north
RMS = (2e-3, 3e-3)  # Jy/beam of each flat-noise tile
RA0, DEC0 = 150.0, 40.0


def _wcs(ra: float) -> WCS:
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---SIN", "DEC--SIN"]
    wcs.wcs.crval = [ra, DEC0]
    wcs.wcs.crpix = [N / 2 + 1, N / 2 + 1]
    wcs.wcs.cdelt = [-CELL / 3600, CELL / 3600]
    return wcs


def _gaussian(beam: tuple[float, float, float], amplitude: float, x: float, y: float):
    """A beam-shaped Gaussian on the pixel grid (x to the west, y to the north)."""
    major, minor, pa = beam
    # the major axis points PA east of north: (-sin PA, cos PA) in pixels, at 90 + PA from +x
    return Gaussian2D(
        amplitude,
        x,
        y,
        x_stddev=major * SIGMA / CELL,
        y_stddev=minor * SIGMA / CELL,
        theta=math.radians(90.0 + pa),
    )


def _covariance(major: float, minor: float, pa: float) -> np.ndarray:
    """A beam's covariance (arcsec**2) in (x = west, y = north) pixel directions."""
    angle = math.radians(90.0 + pa)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return rot @ np.diag([(major * SIGMA) ** 2, (minor * SIGMA) ** 2]) @ rot.T


def _sky(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sources on a grid across the overlap of the two tiles (RA0 and RA0 + 0.2 deg)."""
    ras, decs = np.meshgrid(RA0 + np.linspace(-0.15, 0.35, 6), DEC0 + np.linspace(-0.2, 0.2, 5))
    ras = ras.ravel() + rng.uniform(-0.01, 0.01, ras.size)
    decs = decs.ravel() + rng.uniform(-0.01, 0.01, decs.size)
    flux = rng.uniform(0.05, 0.5, ras.size)
    return ras, decs, flux


def _tile(tmp, k: int, ra: float, sky, rng) -> TileInput:
    wcs, beam = _wcs(ra), BEAMS[k]
    yy, xx = np.mgrid[:N, :N].astype(float)

    def primary_beam(x, y):  # a Gaussian of 1.2 deg FWHM, cut at 0.3
        r2 = ((x - N / 2) ** 2 + (y - N / 2) ** 2) * (CELL / 3600) ** 2
        return np.exp(-0.5 * r2 / (1.2 * SIGMA) ** 2)

    pb = primary_beam(xx, yy)
    flat = np.zeros((N, N))  # the apparent sky: each source attenuated by the primary beam
    xs, ys = wcs.world_to_pixel(SkyCoord(sky[0] * u.deg, sky[1] * u.deg))
    for x, y, s in zip(xs, ys, sky[2], strict=True):
        flat += _gaussian(beam, s * primary_beam(x, y), x, y)(xx, yy)
    # noise whose autocorrelation is the beam: white noise through a Gaussian of half its covariance
    major, minor, pa = beam
    kernel = Gaussian2DKernel(
        major * SIGMA / CELL / math.sqrt(2),
        minor * SIGMA / CELL / math.sqrt(2),
        theta=math.radians(90.0 + pa),
        x_size=61,
        y_size=61,
    )
    noise = convolve_fft(rng.standard_normal((N, N)), kernel, boundary="wrap")
    flat += noise * RMS[k] / noise.std()
    header = wcs.to_header()
    header.update(BMAJ=major / 3600, BMIN=minor / 3600, BPA=pa, PBLIMIT=0.3, BUNIT="Jy/beam")
    image = np.where(pb >= 0.3, flat / pb, np.nan)
    pb_path, beam_path = tmp / f"t{k}-pb.fits", tmp / f"t{k}-beam.fits"
    fits.writeto(pb_path, image.astype(np.float32), header)
    fits.writeto(beam_path, pb.astype(np.float32), wcs.to_header())
    return TileInput(k + 1, str(pb_path), str(beam_path), RMS[k], 60000.0 + k * 0.001)


@pytest.fixture(scope="module")
def mosaic(tmp_path_factory: pytest.TempPathFactory) -> dict:
    rng = np.random.default_rng(18)
    tmp = tmp_path_factory.mktemp("common-beam")
    sky = _sky(rng)
    tiles = [_tile(tmp, 0, RA0, sky, rng), _tile(tmp, 1, RA0 + 0.2, sky, rng)]
    result = build_mosaic(tiles, tmp / "m.fits")
    return {"result": result, "sky": sky, "tiles": tiles}


def test_header_beam_is_the_smallest_common_one(mosaic: dict) -> None:
    header = fits.getheader(mosaic["result"].path)
    major, minor = header["BMAJ"] * 3600, header["BMIN"] * 3600
    # holds both: at least each tile's major axis, no more than the enclosing circle
    assert 60.0 <= major <= 62.0 and 36.0 <= minor < 60.0
    assert header["BUNIT"] == "Jy/beam"


def test_fluxes_are_the_truth_within_the_noise(mosaic: dict) -> None:
    result, (ras, decs, flux) = mosaic["result"], mosaic["sky"]
    with fits.open(result.noise_path) as hdul:
        noise = np.asarray(hdul[0].data, float)
    phot = forced_photometry_fits(result.path, ras, decs, rms_map=noise)
    good = np.isfinite(phot.flux_jy) & np.isfinite(phot.flux_err_jy) & (phot.flags == 0)
    print("flags", phot.flags)
    assert good.sum() >= 20
    pull = (phot.flux_jy[good] - flux[good]) / phot.flux_err_jy[good]
    ratio = phot.flux_jy[good] / flux[good]
    print(f"{good.sum()} sources: ratios {np.round(ratio, 3)}, pulls {np.round(pull, 1)}")
    assert np.all(np.abs(pull) < 5), pull
    assert abs(np.median(ratio) - 1) < 0.01, np.median(ratio)


def test_noise_map_is_the_weighted_tiles_rms(mosaic: dict) -> None:
    """In the overlap the noise map is 1/sqrt(sum B_i**2/rms_i**2) of the convolved tiles' rms.

    The convolved rms the build used (``tile_rms_jy``) is checked against a
    direct measurement here (the noise of a beam-correlated field smoothed by
    the difference kernel), and the map against the rms measured in the
    mosaic itself off the sources.
    """
    result, (ras, decs, _) = mosaic["result"], mosaic["sky"]
    with fits.open(result.path) as hdul:
        data = np.asarray(hdul[0].data, float)
        wcs = WCS(hdul[0].header)
    with fits.open(result.noise_path) as hdul:
        noise = np.asarray(hdul[0].data, float)
    # noise with autocorrelation B smoothed by K = C - B: variance * sqrt(det B / det(B + 2K)),
    # and Jy/beam of C is Jy/beam of B times sqrt(det C / det B)
    header = fits.getheader(result.path)
    common = _covariance(header["BMAJ"] * 3600, header["BMIN"] * 3600, header["BPA"])
    for k, beam in enumerate(BEAMS):
        b = _covariance(*beam)
        det = np.linalg.det
        expected = RMS[k] * math.sqrt(det(common) / math.sqrt(det(b) * det(2 * common - b)))
        print(
            f"tile {k + 1}: rms {RMS[k]:.4f} -> {result.tile_rms_jy[k + 1]:.4f} (expected "
            f"{expected:.4f})"
        )
        assert result.tile_rms_jy[k + 1] == pytest.approx(expected, rel=0.05)
    # off-source pixels within 0.1 deg of the overlap's centre
    yy, xx = np.mgrid[: data.shape[0], : data.shape[1]]
    sky = wcs.pixel_to_world(xx, yy)
    centre = SkyCoord((RA0 + 0.1) * u.deg, DEC0 * u.deg)
    near = sky.separation(centre) < 0.12 * u.deg
    sources = SkyCoord(ras * u.deg, decs * u.deg)
    for s in sources:
        near &= sky.separation(s) > 150 * u.arcsec
    measured = robust_rms(data[near])
    mapped = float(np.median(noise[near]))
    print(f"overlap: measured rms {measured * 1e3:.3f} mJy/beam, noise map {mapped * 1e3:.3f}")
    assert near.sum() > 200
    assert abs(measured / mapped - 1) < 0.15
