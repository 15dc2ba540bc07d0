"""Catalog files: the simulator CSV, NVSS text and FITS, and the bad-row policy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.table import Table

from dsa110_contimg.catalog.readers import CatalogFormatError, read_catalog

HEADER = "name,ra_deg,dec_deg,ra_err_arcsec,dec_err_arcsec,flux_mjy,flux_err_mjy,major_arcsec,minor_arcsec,pa_deg\n"


def test_simulator_csv_with_empty_optional_fields(tmp_path: Path) -> None:
    path = tmp_path / "catalog.csv"
    path.write_text(HEADER + "s1,10.5,-20.25,0.5,0.6,12.0,0.5,20,10,45\n,359.9,89.9,,,3.0,,,,\n")
    rows = read_catalog(path).rows
    assert len(rows) == 2
    assert rows["name"].tolist() == ["s1", ""]
    assert rows["ra_deg"] == pytest.approx([10.5, 359.9])
    assert rows["pa_deg"][0] == 45 and np.isnan(rows["pa_deg"][1])
    assert np.isnan(rows["flux_err_mjy"][1])


def test_bad_rows_all_reported_nothing_imported(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        HEADER
        + "ok,10,20,,,5,,,,\n"
        + "b1,400,20,,,5,,,,\n"  # line 3: RA out of range
        + "b2,10,abc,,,5,,,,\n"  # line 4: unreadable Dec
        + "b3,10,20,,,-1,,,,\n"  # line 5: negative flux
        + "b4,10,20,,,5\n"  # line 6: short row
        + "b5,10,20,,,5,-0.1,,,\n"  # line 7: negative error
    )
    with pytest.raises(CatalogFormatError) as info:
        read_catalog(path)
    lines = [p.split(":")[1] for p in info.value.problems]
    assert lines == ["3", "4", "5", "6", "7"]
    assert "nothing imported" in str(info.value)
    assert f"{path}:4" in str(info.value)


def test_skip_bad_keeps_the_good(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "ok,10,20,,,5,,,,\nbad,10,95,,,5,,,,\nok2,11,21,,,6,,,,\n")
    table = read_catalog(path, skip_bad=True)
    assert table.rows["name"].tolist() == ["ok", "ok2"]
    assert len(table.problems) == 1 and ":3:" in table.problems[0]


def test_missing_required_column(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name,ra_deg,dec_deg\na,1,2\n")
    with pytest.raises(CatalogFormatError, match="flux_mjy"):
        read_catalog(path)


def test_nvss_vizier_tsv(tmp_path: Path) -> None:
    path = tmp_path / "nvss.tsv"
    path.write_text(
        "# VizieR VIII/65\n"
        "RAJ2000\tDEJ2000\te_RAJ2000\te_DEJ2000\tS1.4\te_S1.4\tMajAxis\tMinAxis\tPA\tNVSS\n"
        '"h:m:s"\t"d:m:s"\ts\tarcsec\tmJy\tmJy\tarcsec\tarcsec\tdeg\t\n'
        "----\t----\t-\t-\t-\t-\t-\t-\t-\t-\n"
        "13 31 08.29\t+30 30 32.9\t0.01\t0.6\t15000.0\t500\t<20.1\t<15\t\t133108+303032\n"
        "00 00 00.04\t-02 44 08.6\t0.29\t4.5\t3.0\t0.5\t\t\t\t000000-024408\n"
    )
    rows = read_catalog(path).rows
    assert rows["ra_deg"][0] == pytest.approx(15 * (13 + 31 / 60 + 8.29 / 3600))
    assert rows["dec_deg"][1] == pytest.approx(-(2 + 44 / 60 + 8.6 / 3600))
    # seconds of time -> arcsec on the sky
    assert rows["ra_err_arcsec"][1] == pytest.approx(
        0.29 * 15 * np.cos(np.radians(-2.7357)), rel=1e-4
    )
    assert rows["flux_mjy"] == pytest.approx([15000.0, 3.0])
    assert rows["major_arcsec"][0] == 20.1  # upper limit kept as the limit
    assert rows["name"][1] == "000000-024408"


def test_nvss_catalog_fit_columns(tmp_path: Path) -> None:
    table = Table(
        {
            "RA(2000)": [202.7845, 10.0],
            "DEC(2000)": [30.509, -5.0],
            "PEAK INT": [15.0, 0.0031],
            "MAJOR AX": [20 / 3600, 50 / 3600],
            "MINOR AX": [10 / 3600, 45 / 3600],
            "POSANGLE": [12.0, -30.0],
        }
    )
    table["RA(2000)"].unit = "deg"
    table["PEAK INT"].unit = "Jy"
    path = tmp_path / "CATALOG.FIT"
    table.write(path, format="fits")
    rows = read_catalog(path).rows
    assert rows["flux_mjy"] == pytest.approx([15000.0, 3.1])
    assert rows["major_arcsec"] == pytest.approx([20.0, 50.0])
    assert rows["pa_deg"] == pytest.approx([12.0, -30.0])
    assert np.all(np.isnan(rows["flux_err_mjy"]))


def test_fits_bad_row_named(tmp_path: Path) -> None:
    table = Table({"RA(2000)": [10.0, 10.0], "DEC(2000)": [0.0, -91.0], "PEAK INT": [1.0, 1.0]})
    path = tmp_path / "c.fits"
    table.write(path)
    with pytest.raises(CatalogFormatError, match="row 2"):
        read_catalog(path)
