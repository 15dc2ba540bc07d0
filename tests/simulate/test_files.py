"""Simulated files have the real correlator's structure and read like real files."""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from dsa110_contimg.conversion.pyuvdata_path import read_group, read_subband
from dsa110_contimg.simulate import preset_config, simulate
from dsa110_contimg.telescope import (
    INTEGRATION_TIME_S,
    N_ANTS_TELESCOPE,
    SITE_LATITUDE_RAD,
    subband_edges,
)


def _group_files(out: Path, group: dict) -> list[Path]:
    return [out / "incoming" / name for name in group["files"]]


def test_names_and_count(test_dataset) -> None:
    out, truth = test_dataset
    names = sorted(p.name for p in (out / "incoming").iterdir())
    assert len(names) == 16 * len(truth["groups"]) - 1  # one missing subband
    assert names[0].endswith("_sb00.hdf5")
    assert all(len(n) == len("2026-01-15T13:44:44_sb00.hdf5") for n in names)


def test_hdf5_layout_matches_the_real_writer(test_dataset) -> None:
    out, truth = test_dataset
    cfg = truth["config"]
    path = _group_files(out, truth["groups"][0])[0]
    nbl = cfg["n_antennas"] * (cfg["n_antennas"] + 1) // 2
    nblts, nf = nbl * cfg["n_integrations"], cfg["n_chan_per_subband"]
    with h5py.File(path, "r") as f:
        hdr, data = f["Header"], f["Data"]
        for key in ("visdata", "flags", "nsamples"):
            assert data[key].shape == (nblts, 1, nf, 2)
        assert data["visdata"].dtype == np.complex64
        assert data["flags"].dtype == bool
        assert data["nsamples"].dtype == np.float32
        assert hdr["uvw_array"].dtype == np.float32 and hdr["uvw_array"].shape == (nblts, 3)
        assert hdr["time_array"].dtype == np.float64
        assert hdr["freq_array"].shape == (1, nf)
        assert hdr["channel_width"][()] < 0  # older writers' signed width
        assert list(hdr["polarization_array"][()]) == [-5, -6]
        assert hdr["Nants_telescope"][()] == N_ANTS_TELESCOPE
        assert hdr["Nants_data"][()] == cfg["n_antennas"]
        assert hdr["antenna_positions"].shape == (N_ANTS_TELESCOPE, 3)
        assert hdr["phase_type"][()] == b"drift"
        assert hdr["telescope_name"][()] == b"OVRO_MMA"
        assert np.isclose(hdr["latitude"][()], np.degrees(SITE_LATITUDE_RAD))
        extra = hdr["extra_keywords"]
        assert extra["phase_center_epoch"][()] == b"HADEC"
        assert extra["ha_phase_center"][()] == 0.0
        assert np.isclose(
            np.degrees(extra["phase_center_dec"][()]), truth["pointing_dec_of_date_deg"]
        )
        a1, a2 = hdr["ant_1_array"][()], hdr["ant_2_array"][()]
        swapped = (a1 > a2)[:nbl].mean()
        assert 0.15 < swapped < 0.35
        # the fringe-stop centre is fixed: uvw repeat every integration
        uvw = hdr["uvw_array"][()]
        assert np.array_equal(uvw[:nbl], uvw[-nbl:])


def test_pyuvdata_reads_every_whole_file(test_dataset) -> None:
    out, truth = test_dataset
    cfg = truth["config"]
    damaged = set(truth["damaged_files"].values())
    for group in truth["groups"]:
        for sb, path in enumerate(_group_files(out, group)):
            if path.name in damaged:
                continue
            uv = read_subband(path)
            assert uv.Nfreqs == cfg["n_chan_per_subband"]
            assert uv.Ntimes == cfg["n_integrations"]
            assert uv.Npols == 2 and list(uv.polarization_array) == [-5, -6]
            assert uv.Nants_data == cfg["n_antennas"]
            lo, hi = subband_edges(sb)
            assert lo < uv.freq_array.min() and uv.freq_array.max() < hi
            assert np.all(np.diff(uv.freq_array) < 0)  # descending within a file
            assert np.isclose(uv.integration_time[0], INTEGRATION_TIME_S)
            assert np.isclose(
                uv.time_array.min(), group["start_mjd"] + 2400000.5 + INTEGRATION_TIME_S / 2 / 86400
            )


def test_stream_damage(test_dataset) -> None:
    out, truth = test_dataset
    damaged = truth["damaged_files"]
    incoming = out / "incoming"
    assert not (incoming / damaged["missing"]).exists()
    # what HDF5 says of each kind of damage: the truncated file keeps its
    # superblock (which records the full size), the corrupt one has none
    truncated, corrupt = incoming / damaged["truncated"], incoming / damaged["corrupt"]
    (group,) = [g for g in truth["groups"] if damaged["truncated"] in g["files"]]
    sizes = {(incoming / n).stat().st_size for n in group["files"] if n not in damaged.values()}
    assert len(sizes) == 1  # every intact subband file has the same layout
    assert truncated.stat().st_size == sizes.pop() // 2
    with pytest.raises(OSError, match=r"truncated file: eof = \d+.*stored_eof = \d+"):
        read_subband(truncated)
    with pytest.raises(OSError, match="file signature not found"):
        read_subband(corrupt)
    # arrival times spread after the group's end, within the configured jitter
    group = truth["groups"][0]
    end_unix = (group["end_mjd"] - 40587.0) * 86400
    mtimes = np.array([os.stat(p).st_mtime for p in _group_files(out, group)])
    assert np.all(mtimes >= end_unix - 1e-3) and np.all(mtimes <= end_unix + 40.0)
    assert mtimes.std() > 1.0


def test_calibrator_phase_is_flat_after_pyuvdata_phasing(calibrator_only) -> None:
    """The sign convention check, done by pyuvdata and not by our code.

    With the true gains divided out, pyuvdata's own ``phase()`` to the
    calibrator's ICRS position must leave zero phase on every baseline, time
    and channel; a conjugated convention leaves phases of order a radian.
    """
    out, truth = calibrator_only
    group = truth["groups"][0]
    uv = read_group(_group_files(out, group))
    _divide_true_gains(uv, out / "truth" / f"{group['group_id']}.npz")
    cal = truth["calibrator"]
    uv.phase(ra=np.radians(cal["ra_deg"]), dec=np.radians(cal["dec_deg"]), cat_name=cal["name"])
    cross = uv.ant_1_array != uv.ant_2_array
    phase_deg = np.degrees(np.angle(uv.data_array[cross]))
    assert np.sqrt(np.mean(phase_deg**2)) < 0.5
    # and the amplitude is the beam-attenuated calibrator spectrum
    amp = np.abs(uv.data_array[cross]).mean(axis=(0, 2))
    expected = cal["flux_1p4_jy"] * (uv.freq_array / 1.4e9) ** cal["spectral_index"]
    assert np.all(amp < expected) and np.all(amp > 0.9 * expected)


def _divide_true_gains(uv, truth_npz: Path) -> None:
    tr = np.load(truth_npz)
    ants = {a: k for k, a in enumerate(tr["antenna_numbers"])}
    chan = np.searchsorted(tr["freqs_hz"], uv.freq_array)
    t_index = np.searchsorted(np.unique(uv.time_array), uv.time_array)
    a1 = np.array([ants[a] for a in uv.ant_1_array])
    a2 = np.array([ants[a] for a in uv.ant_2_array])
    gain = tr["antenna_gain"][:, :, None] * tr["bandpass"][:, :, chan]  # (Na, 2, F)
    drift = tr["drift"]  # (Na, 2, Nt)
    for p in range(2):
        g1 = gain[a1, p] * drift[a1, p, t_index][:, None]
        g2 = gain[a2, p] * drift[a2, p, t_index][:, None]
        uv.data_array[:, :, p] /= g1 * np.conj(g2)


def test_same_seed_same_data(tmp_path: Path) -> None:
    cfg = preset_config("test", n_antennas=6, n_epochs=1, targets_per_epoch=0)
    truths = []
    for run in ("a", "b"):
        truths.append(simulate(cfg, tmp_path / run))
    assert truths[0]["sources"] == truths[1]["sources"]
    name = truths[0]["groups"][0]["files"][3]
    with (
        h5py.File(tmp_path / "a" / "incoming" / name) as fa,
        h5py.File(tmp_path / "b" / "incoming" / name) as fb,
    ):
        assert np.array_equal(fa["Data/visdata"][()], fb["Data/visdata"][()])
    other = simulate(cfg.model_copy(update={"seed": 43}), tmp_path / "c")
    assert other["sources"]["ra_deg"] != truths[0]["sources"]["ra_deg"]
