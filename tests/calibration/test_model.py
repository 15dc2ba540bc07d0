"""Model visibilities: sign convention (imaging round trip, CASA ft), beam, spectrum."""

from __future__ import annotations

import numpy as np
import pytest
from casacore.tables import table

from dsa110_contimg.calibration.model import (
    PointSource,
    direction_cosines,
    drift_pointing_rows,
    predict_binned,
    predict_visibilities,
    write_model_ms,
)
from dsa110_contimg.telescope import (
    SPEED_OF_LIGHT_M_S,
    PrimaryBeamModel,
    airy_power,
    drift_pointing_icrs,
)
from dsa110_contimg.tools.casa import run_casa_result as run_casa

from .conftest import requires_casa


def _ms_geometry(ms):
    with table(str(ms), ack=False) as tb:
        uvw = tb.getcol("UVW")
        model = tb.getcol("MODEL_DATA")
    with table(str(ms / "FIELD"), ack=False) as f:
        ra0, dec0 = f.getcol("PHASE_DIR")[0, 0]
    with table(str(ms / "SPECTRAL_WINDOW"), ack=False) as s:
        freqs = s.getcol("CHAN_FREQ")[0]
    return uvw, model, ra0, dec0, freqs


def test_dft_image_round_trip_puts_source_back(cal_ms):
    ms, _ = cal_ms
    _, _, ra0, dec0, freqs = _ms_geometry(ms)
    src = PointSource("off", np.degrees(ra0) + 0.4, np.degrees(dec0) - 0.3, 5.0)
    write_model_ms(ms, [src], apply_beam=False)
    uvw, model, *_ = _ms_geometry(ms)
    l0, m0, _ = direction_cosines(np.radians(src.ra_deg), np.radians(src.dec_deg), ra0, dec0)
    # dirty image on a grid of (l, m) around the truth, imaging sign exp(-2 pi i (ul + vm)) for MS UVW
    grid = np.linspace(-0.004, 0.004, 21)
    ll, mm = np.meshgrid(l0 + grid, m0 + grid, indexing="ij")
    k = freqs[None, :] / SPEED_OF_LIGHT_M_S
    u, v = uvw[:, :1] * k, uvw[:, 1:2] * k
    vis = model[:, :, 0]
    image = np.array(
        [
            np.real(np.sum(vis * np.exp(-2j * np.pi * (u * a + v * b))))
            for a, b in zip(ll.ravel(), mm.ravel(), strict=True)
        ]
    ).reshape(ll.shape)
    i, j = np.unravel_index(np.argmax(image), image.shape)
    assert (i, j) == (10, 10)  # peak exactly at the source


def test_beam_and_spectral_index():
    uvw = np.zeros((1, 3))
    freqs = np.array([1.3e9, 1.4e9, 1.5e9])
    src = PointSource("s", 10.0, 31.0, 2.0, spectral_index=-0.7)
    centre = np.radians([10.0, 30.0])
    vis = predict_visibilities(uvw, freqs, [src], centre, pointing_rad=centre)
    expected = 2.0 * (freqs / 1.4e9) ** -0.7 * airy_power(np.radians(1.0), freqs)
    np.testing.assert_allclose(np.abs(vis[0]), expected, rtol=1e-6)
    assert expected[2] < expected[0] * 0.95  # the beam narrows with frequency


def test_the_model_predicts_with_the_beam_it_is_given():
    """A wider or measured beam model reaches the prediction, on both paths."""
    uvw = np.zeros((1, 3))
    freqs = np.array([1.3e9, 1.4e9, 1.5e9])
    src = PointSource("s", 10.0, 31.1, 2.0, spectral_index=0.0)
    centre = np.radians([10.0, 30.0])
    wide = PrimaryBeamModel("airy", 1.1)
    for method in ("kernel", "reference"):
        vis = predict_visibilities(uvw, freqs, [src], centre, centre, method=method, beam=wide)
        np.testing.assert_allclose(
            np.abs(vis[0]), 2.0 * airy_power(np.radians(1.1) / 1.1, freqs), rtol=1e-6
        )
    assert np.all(
        np.abs(vis[0]) > 1.05 * np.abs(predict_visibilities(uvw, freqs, [src], centre, centre)[0])
    )
    uvw, freqs, sources, centres, _ = _field()
    pointing = centres  # the sources in the main lobe
    measured = PrimaryBeamModel("measured", 1.1, radii_deg=(0.0, 1.0, 2.0), gains=(1.0, 0.7, 0.3))
    ref = predict_visibilities(
        uvw, freqs, sources, centres, pointing, method="reference", beam=measured
    )
    new = predict_binned(uvw, freqs, sources, centres, pointing, 1, beam=measured)
    assert np.abs(new - ref).max() < 1e-5 * np.abs(ref).max()
    assert np.abs(ref - predict_visibilities(uvw, freqs, sources, centres, pointing)).max() > 0.01


def _field(n_rows=600, n_chan=96, descending=False, seed=5):
    """Rows of a 2.6 km array at four times, two phase centres, 40 sources in the main lobe."""
    rng = np.random.default_rng(seed)
    uvw = rng.normal(0, 900, (n_rows, 3)) * [1, 1, 0.05]
    freqs = 1.3115e9 + 244140.625 * np.arange(n_chan)
    if descending:
        freqs = freqs[::-1]
    centres = np.radians([[200.0, 30.0], [200.3, 30.0]])[rng.integers(0, 2, n_rows)]
    pointing = drift_pointing_rows(61000 * 86400.0 + 12.9 * rng.integers(0, 4, n_rows), 30.0)
    sources = [
        PointSource(
            f"s{i}", *(np.array([200.0, 30.0]) + rng.uniform(-2.2, 2.2, 2)), rng.uniform(0.02, 2)
        )
        for i in range(40)
    ]
    sources[0] = PointSource("c", 200.0, 30.0, 3.0, -0.7)  # a source at a phase centre
    return uvw, freqs, sources, centres, pointing


@pytest.mark.parametrize("descending", [False, True])
def test_kernel_equals_the_numpy_reference(descending):
    uvw, freqs, sources, centres, pointing = _field(descending=descending)
    ref = predict_visibilities(uvw, freqs, sources, centres, pointing, method="reference")
    new = predict_visibilities(uvw, freqs, sources, centres, pointing)
    assert np.abs(new - ref).max() < 1e-5 * np.abs(ref).max()
    assert np.linalg.norm(new - ref) < 1e-5 * np.linalg.norm(ref)
    # no beam, one phase centre for all rows
    ref = predict_visibilities(uvw, freqs, sources, centres[0], method="reference")
    assert np.abs(predict_visibilities(uvw, freqs, sources, centres[0]) - ref).max() < 1e-5 * (
        np.abs(ref).max()
    )


@pytest.mark.parametrize("k", [2, 3, 4, 8])
def test_binned_model_is_the_channel_mean(k):
    """The bin's model is the mean of the per-channel model over it, smearing included."""
    uvw, freqs, sources, centres, pointing = _field()
    ref = predict_visibilities(uvw, freqs, sources, centres, pointing, method="reference")
    mean = ref.astype(complex).reshape(len(uvw), -1, k).mean(axis=2)
    binned = predict_binned(uvw, freqs, sources, centres, pointing, k)
    assert binned.shape == mean.shape
    assert np.abs(binned - mean).max() < 1e-5 * np.abs(mean).max()
    # the smearing is real: the bin centre's model alone is further off
    centre = predict_visibilities(uvw, freqs.reshape(-1, k).mean(1), sources, centres, pointing)
    assert np.abs(centre - mean).max() > 100 * np.abs(binned - mean).max()


def test_uneven_channels_use_the_reference():
    uvw, freqs, sources, centres, pointing = _field(n_rows=50, n_chan=8)
    freqs = freqs * (1 + 1e-4 * np.arange(8) ** 2)
    ref = predict_visibilities(uvw, freqs, sources, centres, pointing, method="reference")
    np.testing.assert_array_equal(predict_visibilities(uvw, freqs, sources, centres, pointing), ref)
    with pytest.raises(ValueError):
        predict_binned(uvw, freqs, sources, centres, pointing, 2)


@pytest.mark.casa
@requires_casa
def test_model_sign_matches_casa_ft(cal_ms, tmp_path):
    ms, _ = cal_ms
    _, _, ra0, dec0, _ = _ms_geometry(ms)
    src = PointSource("off", np.degrees(ra0) + 0.5, np.degrees(dec0) + 0.4, 3.0)
    casa_ms = tmp_path / "casa.ms"
    import shutil

    shutil.copytree(ms, casa_ms)
    write_model_ms(ms, [src], apply_beam=False)
    run_casa(
        f"""
cl = casatools.componentlist()
cl.addcomponent(dir="J2000 {src.ra_deg}deg {src.dec_deg}deg", flux=[{src.flux_jy}, 0, 0, 0],
                fluxunit="Jy", shape="point", freq="1.4GHz", spectrumtype="constant")
cl.rename({str(tmp_path / "src.cl")!r}); cl.close()
casatasks.ft(vis={str(casa_ms)!r}, complist={str(tmp_path / "src.cl")!r}, usescratch=True)
""",
        workdir=tmp_path,
    )
    ours = _ms_geometry(ms)[1]
    with table(str(casa_ms), ack=False) as tb:
        theirs = tb.getcol("MODEL_DATA")
    # same sign: agreement to the level of CASA's frame conversions (ICRS vs J2000);
    # the opposite sign would give errors of order the flux itself
    assert np.abs(ours - theirs).max() < 0.01 * src.flux_jy


def test_drift_scan_pointing_attenuates_offset_source(cal_ms):
    ms, _ = cal_ms
    _, _, ra0, dec0, freqs = _ms_geometry(ms)
    with table(str(ms), ack=False) as tb:
        mid_mjd = np.median(tb.getcol("TIME")) / 86400.0
    # the beam centre at mid time: the meridian at this declination of date, in ICRS;
    # a source 1 deg north of it stays 1 deg from the pointing (to within the
    # ~1.5 arcmin of drift in 50 s)
    dec_of_date = np.degrees(dec0)
    ra_p, dec_p = drift_pointing_icrs(np.array([mid_mjd]), dec_of_date)
    src = PointSource("north", np.degrees(ra_p[0]), np.degrees(dec_p[0]) + 1.0, 4.0)
    write_model_ms(ms, [src], pointing_dec_deg=dec_of_date)
    with table(str(ms), ack=False) as tb:
        model = tb.getcol("MODEL_DATA")
    expected = 4.0 * airy_power(np.radians(1.0), freqs)
    np.testing.assert_allclose(np.abs(model).mean(axis=(0, 2)), expected, rtol=0.02)
