"""Image a simulated group with a plain DFT and find the injected sky.

Nothing of the pipeline is used beyond reading the files with pyuvdata: the
gains are divided out with the truth, RFI is dropped with the truth's mask,
and the expected fluxes are computed here from the truth with astropy and the
Airy beam.
"""

from __future__ import annotations

import astropy.units as u
import numpy as np
from astropy.coordinates import HADec, SkyCoord
from astropy.time import Time

from dsa110_contimg.conversion.pyuvdata_path import read_group
from dsa110_contimg.telescope import SPEED_OF_LIGHT_M_S, airy_power, site_location

from .test_files import _divide_true_gains, _group_files

ARCSEC = np.pi / 180 / 3600


def _lmn(ra0, dec0, ra, dec):
    dra = ra - ra0
    l = np.cos(dec) * np.sin(dra)
    m = np.sin(dec) * np.cos(dec0) - np.cos(dec) * np.sin(dec0) * np.cos(dra)
    return l, m, np.sqrt(1 - l**2 - m**2) - 1


def _dft(vis, uvw_l, ra0, dec0, ra, dec):
    """Dirty-image values at sky positions (arrays), natural weights: Re <V e^{-2 pi i ...}>."""
    l, m, n1 = _lmn(ra0, dec0, ra, dec)
    phase = (
        2
        * np.pi
        * (np.outer(l, uvw_l[:, 0]) + np.outer(m, uvw_l[:, 1]) + np.outer(n1, uvw_l[:, 2]))
    )
    return (np.exp(-1j * phase) @ vis).real / len(vis)


def _prepare(out, truth, group):
    uv = read_group(_group_files(out, group))
    _divide_true_gains(uv, out / "truth" / f"{group['group_id']}.npz")
    mid = Time(group["mid_mjd"], format="mjd")
    site = site_location()
    dec0 = np.radians(truth["pointing_dec_of_date_deg"])
    centre = SkyCoord(
        ha=0 * u.hourangle, dec=dec0 * u.rad, frame=HADec(obstime=mid, location=site)
    ).icrs
    uv.phase(ra=centre.ra.rad, dec=centre.dec.rad, cat_name="tile")
    rfi = np.load(out / "truth" / f"{group['group_id']}.npz")["rfi_mask"]  # (Nt, F) ascending
    t_index = np.searchsorted(np.unique(uv.time_array), uv.time_array)
    good = ~rfi[t_index] & (uv.ant_1_array != uv.ant_2_array)[:, None]  # (Nblt, F)
    stokes_i = uv.data_array.mean(axis=2)  # (XX + YY) / 2
    scale = uv.freq_array[None, :] / SPEED_OF_LIGHT_M_S
    rows, chans = np.nonzero(good)
    uvw = uv.uvw_array[rows] * scale[0, chans][:, None]
    return stokes_i[rows, chans], uvw, centre, uv, rows, chans


def _apparent_flux(truth, group, index, uv) -> np.ndarray:
    """S(f) B(theta(t), f) of one source, shape (Nt, F), Jy."""
    src = truth["sources"]
    times = Time(np.unique(uv.time_array), format="jd")
    site = site_location()
    hadec = SkyCoord(
        ra=src["ra_deg"][index] * u.deg, dec=src["dec_deg"][index] * u.deg
    ).transform_to(HADec(obstime=times, location=site))
    pointing = SkyCoord(
        ha=np.zeros(len(times)) * u.hourangle,
        dec=np.full(len(times), truth["pointing_dec_of_date_deg"]) * u.deg,
        frame=HADec(obstime=times, location=site),
    )
    theta = hadec.separation(pointing).rad
    freqs = uv.freq_array
    spectrum = group["true_flux_1p4_jy"][index] * (freqs / 1.4e9) ** src["spectral_index"][index]
    return spectrum[None, :] * airy_power(theta[:, None], freqs[None, :])


def _source_models(truth, group, uv, rows, chans, uvw_l, ra0, dec0):
    """Each source's true visibilities at the kept samples, (Ns, Nvis), and mean fluxes."""
    src = truth["sources"]
    t_index = np.searchsorted(np.unique(uv.time_array), uv.time_array)[rows]
    models, expected = [], []
    for k in range(len(src["name"])):
        apparent = _apparent_flux(truth, group, k, uv)
        l, m, n1 = _lmn(ra0, dec0, np.radians(src["ra_deg"][k]), np.radians(src["dec_deg"][k]))
        phase = 2 * np.pi * (uvw_l @ np.array([l, m, n1]))
        models.append(apparent[t_index, chans] * np.exp(1j * phase))
        expected.append(apparent.mean())
    return np.array(models), np.array(expected)


def test_dft_image_finds_sources_at_true_positions_and_fluxes(test_dataset) -> None:
    """Each bright source, with the others' true visibilities subtracted, is where and
    as bright as the truth says; the brightest field source is found blindly."""
    out, truth = test_dataset
    group = truth["groups"][1]  # a target group, the calibrator still in the beam
    vis, uvw, centre, uv, rows, chans = _prepare(out, truth, group)
    ra0, dec0 = centre.ra.rad, centre.dec.rad
    src = truth["sources"]
    models, expected = _source_models(truth, group, uv, rows, chans, uvw, ra0, dec0)
    noise = truth["noise_sigma_jy"] / np.sqrt(2 * len(vis))  # Stokes I of two pols
    bright = np.argsort(expected)[::-1][:5]
    assert expected[bright[-1]] > 30 * noise, "the test set should hold bright sources"
    # the data are the sky: what is left after subtracting it is noise (and RFI-free)
    residual = vis - models.sum(0)
    assert np.std(residual) < 1.2 * truth["noise_sigma_jy"]

    # blind: without the calibrator, the brightest peak of a coarse image is the
    # brightest field source
    field = vis - models[src["kind"].index("calibrator")]
    short = np.linalg.norm(uvw, axis=1) < 1500  # wavelengths: a 2-3 arcmin beam, fast
    grid = np.radians(np.linspace(-1.5, 1.5, 61))
    dd, rr = np.meshgrid(dec0 + grid, grid / np.cos(dec0))
    coarse = _dft(field[short], uvw[short], ra0, dec0, ra0 + rr.ravel(), dd.ravel())
    peak = np.argmax(coarse)
    found = SkyCoord(ra=(ra0 + rr.ravel()[peak]) * u.rad, dec=dd.ravel()[peak] * u.rad)
    k0 = bright[1] if src["kind"][bright[0]] == "calibrator" else bright[0]
    brightest = SkyCoord(ra=src["ra_deg"][k0] * u.deg, dec=src["dec_deg"][k0] * u.deg)
    assert found.separation(brightest).arcmin < 5

    # each bright source alone: its peak at the true position, its flux the truth's
    for k in bright:
        alone = vis - (models.sum(0) - models[k])
        ra_t, dec_t = np.radians(src["ra_deg"][k]), np.radians(src["dec_deg"][k])
        offsets = np.arange(-10, 11) * 1.5 * ARCSEC  # +-15 arcsec at 1.5 arcsec
        dd, rr = np.meshgrid(dec_t + offsets, offsets / np.cos(dec_t))
        patch = _dft(alone, uvw, ra0, dec0, ra_t + rr.ravel(), dd.ravel())
        best = np.argmax(patch)
        sep = SkyCoord(
            ra=(ra_t + rr.ravel()[best]) * u.rad, dec=dd.ravel()[best] * u.rad
        ).separation(SkyCoord(ra=ra_t * u.rad, dec=dec_t * u.rad))
        assert sep.arcsec < 2.0, (src["name"][k], sep.arcsec)
        assert abs(patch[best] - expected[k]) < 0.02 * expected[k] + 5 * noise, (
            src["name"][k],
            patch[best],
            expected[k],
        )
