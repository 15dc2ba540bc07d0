"""Source names: our convention round-trips; old and NVSS forms resolve."""

from __future__ import annotations

import re

import numpy as np
import pytest

from dsa110_contimg.catalog.naming import format_name, parse_name
from dsa110_contimg.sky import separation_deg


def test_known_name() -> None:
    # 3C286 at 13h31m08.288s +30d30m32.96s: truncated, not rounded
    assert format_name(202.78453333, 30.50915556) == "DSA J133108.28+303032.9"
    assert format_name(0.0, -0.5) == "DSA J000000.00-003000.0"


def test_truncation_never_rounds_up_to_60() -> None:
    ra = 15.0 * (1 + 2 / 60 + 59.9999 / 3600)
    assert format_name(ra, 10.0).startswith("DSA J010259.99+")


def test_round_trip_within_precision() -> None:
    rng = np.random.default_rng(3)
    ra = rng.uniform(0, 360, 2000)
    dec = np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))
    for r, d in zip(ra, dec, strict=True):
        parsed = parse_name(format_name(r, d))
        sep = separation_deg(r, d, parsed.ra_deg, parsed.dec_deg) * 3600
        assert sep <= parsed.precision_arcsec + 1e-6
        assert parsed.precision_arcsec < 0.1  # 0.15 arcsec RA cell x 0.1 arcsec Dec, halved
        assert parsed.prefix == "DSA"


def test_old_decimal_form() -> None:
    parsed = parse_name("J1293249+525013")
    assert parsed.style == "decimal"
    assert parsed.ra_deg == pytest.approx(129.3249)
    assert parsed.dec_deg == pytest.approx(52.5013)
    neg = parse_name("J0012345-051234")
    assert (neg.ra_deg, neg.dec_deg) == pytest.approx((1.2345, -5.1234))
    dotted = parse_name("J129.3249+52.5013")
    assert (dotted.ra_deg, dotted.dec_deg) == pytest.approx((129.3249, 52.5013))


def test_nvss_name() -> None:
    parsed = parse_name("NVSS J133108+303032")
    assert parsed.prefix == "NVSS"
    # cell centre of the truncated 1 s x 1 arcsec cell
    assert parsed.ra_deg == pytest.approx(15 * (13 + 31 / 60 + 8.5 / 3600))
    assert parsed.dec_deg == pytest.approx(30 + 30 / 60 + 32.5 / 3600)
    assert parsed.precision_arcsec == pytest.approx(
        0.5 * np.hypot(15 * np.cos(np.radians(30.51)), 1), rel=1e-3
    )
    south = parse_name("NVSS J000000-024408")
    assert south.dec_deg == pytest.approx(-(2 + 44 / 60 + 8.5 / 3600))


@pytest.mark.parametrize(
    "bad", ["", "3C286", "J2460+3030", "J1331+3090", "J13310+30", "DSA J1331086+30303"]
)
def test_bad_names_raise(bad: str) -> None:
    # the message names the source: either no position pattern or an impossible field
    why = "(cannot read a position from|impossible sexagesimal field in)"
    with pytest.raises(ValueError, match=f"^{why} source name '{re.escape(bad)}'$"):
        parse_name(bad)
