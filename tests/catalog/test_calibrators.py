"""Primary calibrators and the VLA calibrator list."""

from __future__ import annotations

from pathlib import Path

import pytest

from dsa110_contimg.catalog.calibrators import (
    calibrators_near,
    primary_calibrators,
    read_vla_calibrators,
)
from dsa110_contimg.catalog.readers import CatalogFormatError

VLA_LIST = """\
               VLA CALIBRATOR LIST
IAU NAME  EQUINOX  PC       RA                DEC          POS.REF   ALT. NAME
==================================================================================
1331+305   J2000  A 13h31m08.288060s  30d30'32.958850"  Aug01  3C286
1328+307   B1950  A 13h28m49.657700s  30d45'58.640000"
-----------------------------------------------------
BAND        A B C D    FLUX(Jy)    UVMIN(kL)  UVMAX(kL)
=====================================================
 90cm    P  X X X X    26.00
 20cm    L  P P P P    15.00
  6cm    C  P P P P     7.47
0005+383   J2000  A 00h05m57.175409s  38d20'15.148570''  Aug01
-----------------------------------------------------
 20cm    L  P P P P     0.50
1800+440   J2000  B 18h00m00.00s  44d00'00.0"  Aug01  J1800
 20cm    L  P P S ?     6.20
  6cm    C  P P P P     3.10
2230-100   J2000  C 22h30m00.00s  -10d00'00.0"  Aug01
 20cm    L  P P P P     9.00
"""


def test_primary_calibrators() -> None:
    cals = {c.name: c for c in primary_calibrators()}
    assert set(cals) == {"3C286", "3C48", "3C147", "3C138", "3C295"}
    c286 = cals["3C286"]
    assert c286.ra_deg == pytest.approx(15 * (13 + 31 / 60 + 8.288 / 3600))
    assert c286.dec_deg == pytest.approx(30 + 30 / 60 + 32.96 / 3600)
    assert c286.flux_at(1.4e9) == pytest.approx(14.86)
    assert c286.flux_at(2.8e9) == pytest.approx(14.86 * 2**-0.467)
    assert cals["3C295"].flux_at(1.311e9) == pytest.approx(22.0 * (1.311 / 1.4) ** -0.58)


def test_read_vla_list(tmp_path: Path) -> None:
    path = tmp_path / "vla.txt"
    path.write_text(VLA_LIST)
    cals = read_vla_calibrators(path)
    assert [c.name for c in cals] == ["J1331+305", "J0005+383", "J1800+440", "J2230-100"]
    assert cals[0].aliases == ("3C286",)
    assert cals[0].band_flux_jy == {"P": 26.0, "L": 15.0, "C": 7.47}
    assert cals[1].dec_deg == pytest.approx(38 + 20 / 60 + 15.14857 / 3600)
    assert cals[3].dec_deg == pytest.approx(-10.0)
    assert cals[2].flux_jy == 6.2 and cals[2].position_code == "B"


def test_unreadable_position_named(tmp_path: Path) -> None:
    path = tmp_path / "vla.txt"
    path.write_text("1331+305   J2000  A 13h31m68.2s  30d30'32.9\"  Aug01\n")
    with pytest.raises(CatalogFormatError, match="vla.txt:1"):
        read_vla_calibrators(path)


def test_calibrators_near(tmp_path: Path) -> None:
    path = tmp_path / "vla.txt"
    path.write_text(VLA_LIST)
    vla = read_vla_calibrators(path)
    names = [c.name for c in calibrators_near(37.0, 10.0, 5.0, vla=vla)]
    # 3C48 (33.2) and 3C286 (30.5) primary, brightest first; the VLA 3C286 entry is a
    # duplicate; J0005+383 too faint; J1800+440 (44.0) bright enough; 3C147 at 49.9 too far
    assert names == ["3C48", "3C286", "J1800+440"]
    assert [c.name for c in calibrators_near(-10.0, 1.0, 5.0, vla=vla)] == ["J2230-100"]
    assert calibrators_near(16.6, 0.5, 9.0) == []  # 3C138 is 8.36 Jy


def test_vla_list_into_the_store(tmp_path: Path) -> None:
    from dsa110_contimg.catalog.calibrators import calibrator_rows
    from dsa110_contimg.catalog.store import CatalogStore

    path = tmp_path / "vla.txt"
    path.write_text(VLA_LIST)
    store = CatalogStore(tmp_path / "c.sqlite3")
    store.import_rows("VLACAL", calibrator_rows(read_vla_calibrators(path)))
    found = store.cone("VLACAL", 202.78, 30.51, 0.1)
    assert found["name"].tolist() == ["J1331+305"]
    assert found["flux_mjy"][0] == pytest.approx(15000.0)
    assert store.lookup("VLACAL", "J1800+440")["flux_mjy"].tolist() == [6200.0]
