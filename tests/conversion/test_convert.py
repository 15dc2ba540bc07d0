"""Our converter against pyuvdata's path, casacore and CASA; missing and bad files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from casacore import tables

from dsa110_contimg.conversion import convert as convert_module
from dsa110_contimg.conversion.convert import convert_group
from dsa110_contimg.errors import InputDataError, ProductExistsError
from dsa110_contimg.telescope.constants import N_ANTS_TELESCOPE
from dsa110_contimg.tools.casa import run_casa


def _rows(path: Path) -> dict[str, np.ndarray]:
    with tables.table(str(path), ack=False) as t:
        cols = {c: t.getcol(c) for c in ("ANTENNA1", "ANTENNA2", "TIME", "UVW", "DATA", "FLAG")}
    key = np.lexsort((cols["ANTENNA2"], cols["ANTENNA1"], np.round(cols["TIME"], 3)))
    return {c: v[key] for c, v in cols.items()}


def test_equals_pyuvdata_path(our_ms: Path, pyuvdata_ms: Path) -> None:
    ours, ref = _rows(our_ms), _rows(pyuvdata_ms)
    for col in ("ANTENNA1", "ANTENNA2"):
        assert np.array_equal(ours[col], ref[col])
    assert np.allclose(ours["TIME"], ref["TIME"], atol=1e-3)
    assert np.max(np.abs(ours["UVW"] - ref["UVW"])) < 1e-5  # metres
    cross = ours["ANTENNA1"] != ours["ANTENNA2"]
    diff = np.abs(ours["DATA"] - ref["DATA"])[cross]
    scale = np.abs(ref["DATA"][cross])
    # float32 precision: the median relative difference is ~1e-6; the largest,
    # ~2e-5, come from micrometre differences of uvw on kilometre baselines.
    assert np.max(diff) < 1e-4 * np.max(scale)
    assert np.median(diff / np.maximum(scale, 1e-12)) < 2e-6
    # autocorrelations kept but flagged; cross-correlations not
    assert ours["FLAG"][~cross].all() and not ours["FLAG"][cross].any()


def test_every_subtable_opens(our_ms: Path, sim_group) -> None:
    _, truth = sim_group
    with tables.table(str(our_ms), ack=False) as ms:
        subtables = [
            k
            for k in ms.getkeywords()
            if isinstance(ms.getkeyword(k), str) and ms.getkeyword(k).startswith("Table:")
        ]
        assert {
            "ANTENNA",
            "FIELD",
            "SPECTRAL_WINDOW",
            "POLARIZATION",
            "OBSERVATION",
            "SOURCE",
            "HISTORY",
            "FEED",
        } <= set(subtables)
        # one row per antenna slot of the UVH5 files (ANTENNA, FEED), one for the single
        # field/band/setup, none in the subtables the converter leaves empty
        per_slot = {"ANTENNA", "FEED"}
        one = {"FIELD", "SOURCE", "SPECTRAL_WINDOW", "POLARIZATION", "DATA_DESCRIPTION"}
        one |= {"OBSERVATION", "PROCESSOR", "HISTORY"}
        rows = {}
        for name in subtables:
            with tables.table(ms.getkeyword(name), ack=False) as sub:
                rows[name] = sub.nrows()
        assert rows == {
            name: N_ANTS_TELESCOPE if name in per_slot else int(name in one) for name in subtables
        }
        n_int = truth["config"]["n_integrations"]
        n_ant = truth["config"]["n_antennas"]
        assert ms.nrows() == n_int * n_ant * (n_ant + 1) // 2
        assert np.all(ms.getcol("ANTENNA1") <= ms.getcol("ANTENNA2"))
        assert np.allclose(ms.getcol("WEIGHT"), 1.0) and np.allclose(ms.getcol("SIGMA"), 1.0)
    with tables.table(f"{our_ms}/ANTENNA", ack=False) as t:
        assert t.nrows() == 117 and set(t.getcol("MOUNT")) == {"ALT-AZ"}
        assert np.allclose(t.getcol("DISH_DIAMETER"), 4.65)
    with tables.table(f"{our_ms}/SPECTRAL_WINDOW", ack=False) as t:
        freqs = t.getcol("CHAN_FREQ")[0]
        assert len(freqs) == 16 * truth["config"]["n_chan_per_subband"] and np.all(
            np.diff(freqs) > 0
        )
    with tables.table(f"{our_ms}/OBSERVATION", ack=False) as t:
        assert t.getcol("TELESCOPE_NAME")[0] == "OVRO_MMA"
        start, end = t.getcol("TIME_RANGE")[0] / 86400
        assert abs(start - truth["groups"][0]["start_mjd"]) < 1e-6
    with tables.table(f"{our_ms}/FIELD", ack=False) as t:
        ra, dec = np.degrees(t.getcol("PHASE_DIR")[0, 0])
        cal = truth["calibrator"]  # the calibrator transits the tile's centre
        assert (
            abs(dec - cal["dec_deg"]) < 0.01
            and abs((ra - cal["ra_deg"]) * np.cos(np.radians(dec))) < 0.1
        )


def test_missing_subband_is_flagged(sim_group, tmp_path: Path) -> None:
    files, _ = sim_group
    out = tmp_path / "missing.ms"
    result = convert_group([f for f in files if not f.name.endswith("_sb03.hdf5")], out)
    assert result.missing_subbands == [3]
    with tables.table(str(out), ack=False) as t:
        flags = t.getcol("FLAG")
        freqs = tables.table(f"{out}/SPECTRAL_WINDOW", ack=False).getcol("CHAN_FREQ")[0]
    nch = len(freqs) // 16
    sb3 = slice((15 - 3) * nch, (16 - 3) * nch)  # sb03 is the 4th highest subband
    assert flags[:, sb3].all()
    cross = np.ones(flags.shape[0], bool)
    assert not flags[:, : (15 - 3) * nch][cross].all()


def test_bad_inputs_write_nothing(sim_group, tmp_path: Path, monkeypatch) -> None:
    files, _ = sim_group
    corrupt = tmp_path / files[2].name
    corrupt.write_bytes(b"not an hdf5 file" * 100)
    out = tmp_path / "bad.ms"
    with pytest.raises(InputDataError, match="unreadable"):
        convert_group([*files[:2], corrupt], out)
    with pytest.raises(InputDataError, match="twice"):
        convert_group([files[0], files[0]], out)

    # a failure half way leaves neither the MS nor its temporary folder
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(convert_module, "place_subband", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        convert_group(files, out)
    assert list(tmp_path.iterdir()) == [corrupt]


def test_existing_ms_is_not_replaced_silently(our_ms: Path, sim_group, tmp_path: Path) -> None:
    files, _ = sim_group
    out = tmp_path / "copy.ms"
    shutil.copytree(our_ms, out)
    with pytest.raises(ProductExistsError):
        convert_group(files, out)
    convert_group(files, out, overwrite=True)
    with tables.table(str(out), ack=False) as t:
        assert t.nrows() > 0


@pytest.mark.casa
@pytest.mark.requires("casa")
def test_casa_reads_the_ms(our_ms: Path, tmp_path: Path) -> None:
    code = f"""
import casatasks
from casatools import ms
casatasks.listobs(vis={str(our_ms)!r}, listfile={str(tmp_path / "listobs.txt")!r})
m = ms(); m.open({str(our_ms)!r}); print("ROWS", m.nrow()); m.close()
"""
    result = run_casa(code, workdir=tmp_path)
    assert "ROWS" in result.stdout
    text = (tmp_path / "listobs.txt").read_text()
    assert "OVRO_MMA" in text and "XX  YY" in text
