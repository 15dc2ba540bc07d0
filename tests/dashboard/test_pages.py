"""The dashboard's pages in headless Chromium against a real server and a seeded DB.

Every page must render what the DB holds, without console errors; plots are
checked marker by marker; API errors must read as messages, never a blank page.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from api_support import Seed
from dashboard_support import Site, Tab

from dsa110_contimg.products import make_engine
from dsa110_contimg.products import models as m

#: The seeded image whose FITS file is missing on disk: its PNGs are 404s.
MISSING = "/api/images/2/"


def db_count(site: Site, model: type, *where: object) -> int:
    engine = make_engine(site.seed.url)
    try:
        with engine.connect() as conn:
            return conn.scalar(sa.select(sa.func.count()).select_from(model).where(*where))
    finally:
        engine.dispose()


def texts(tab: Tab, selector: str) -> list[str]:
    return [t.strip() for t in tab.page.locator(selector).all_inner_texts()]


def _names(paths: list[str]) -> list[str]:
    return [p.rsplit("/", 1)[-1] for p in paths]


# A route, and what it must show of the seed: the texts of the cells a selector
# finds, or how many elements it finds.
ROUTES = [
    ("/", "#counts .card", lambda seed: 9),
    ("/ms", "tbody td:first-child", lambda seed: sorted(_names(seed.ms_paths), reverse=True)),
    ("/images", "tbody tr", lambda seed: len(seed.image_ids)),
    ("/images/1", "tbody tr", lambda seed: len(seed.source_ids)),
    ("/sources", "tbody tr", lambda seed: len(seed.source_ids) + 1),  # and the far one
    ("/sources/2", "table.measurements tbody tr", lambda seed: len(seed.image_ids)),
    ("/candidates", "tbody tr", lambda seed: len(seed.candidate_ids)),
    ("/cal", "tbody td:first-child", lambda seed: _names(seed.cal_paths)),
    ("/jobs", "tbody tr", lambda seed: len(seed.run_ids)),
    ("/mosaics", "tbody td:first-child", lambda seed: ["m1"]),
    ("/mosaics/1", "tbody tr", lambda seed: 2),  # its tiles
    ("/groups/2026-11-28T12:00:00", "tbody tr", lambda seed: 1 + 2),  # its MS and 2 files
]


@pytest.mark.parametrize(("route", "selector", "expected"), ROUTES)
def test_page_shows_the_db_without_console_errors(
    tab: Tab, site: Site, route: str, selector: str, expected: Callable[[Seed], Any]
) -> None:
    page = tab.open(route)
    assert page.get_attribute("data-ready") == "true"
    assert page.locator("h1").first.inner_text().strip()
    assert not page.locator(".error-box").count()
    want, found = expected(site.seed), page.locator(selector)
    assert (found.count() if isinstance(want, int) else found.all_inner_texts()) == want
    tab.wait_images()
    tab.assert_clean(MISSING)


def test_overview_counts_equal_the_db(tab: Tab, site: Site) -> None:
    tab.open("/")
    shown = {
        card.get_attribute("data-stat"): int(card.locator(".value").inner_text())
        for card in tab.page.locator("#counts .card").all()
    }
    expected = {
        "groups": db_count(site, m.ObservationGroup),
        "ms": db_count(site, m.MeasurementSet),
        "images": db_count(site, m.Image),
        "sources": db_count(site, m.Source),
        "photometry_rows": db_count(site, m.Photometry),
        "candidates": db_count(site, m.Candidate),
        "cal_tables": db_count(site, m.CalTable),
        "jobs": db_count(site, m.Job),
        "mosaics": db_count(site, m.Mosaic),
    }
    assert shown == expected
    assert tab.page.locator("#pipeline-status").inner_text().startswith("ok")
    groups = tab.page.locator("section.panel", has_text="Last groups")
    shown_groups = groups.locator("tbody td:first-child").all_inner_texts()
    assert shown_groups == sorted(site.seed.groups, reverse=True)
    # sky coverage: one footprint per science (primary-beam corrected) image, each
    # opening its image; the newest of them listed beside
    corrected = db_count(site, m.Image, m.Image.pbcor.is_(True))
    assert 0 < corrected < expected["images"]
    footprints = tab.page.locator("rect.footprint")
    assert footprints.count() == corrected
    newest = tab.page.locator("section.panel", has_text="Newest images").locator("tbody tr")
    assert newest.count() == corrected
    footprints.last.hover()  # the footprints overlap: the last drawn is on top
    assert "Image #" in tab.page.locator(".sky-widget .readout").inner_text()
    tab.assert_clean()


def test_navigation_between_pages(tab: Tab, site: Site) -> None:
    tab.open("/")
    tab.follow("#nav >> text=Sources", r"#/sources$")
    page = tab.follow("table.data >> text=J140001+543601", rf"#/sources/{site.seed.source_ids[1]}$")
    assert page.locator("h1").inner_text().startswith("J140001+543601")
    # from a measurement to its image, to its MS, and back
    tab.follow(tab.page.locator("table.measurements a").first, r"#/images/\d+$")
    assert site.seed.ms_paths[0] in tab.follow("dd >> a[href^='#/ms/']", r"#/ms/").inner_text()
    tab.page.go_back()
    tab.page.wait_for_url(re.compile(r"#/images/\d+$"))
    assert tab.page.locator("#nav a.current").inner_text() == "Images"
    tab.assert_clean(MISSING)


def test_sources_list_filters_and_eta_v_plot(tab: Tab, site: Site) -> None:
    tab.open("/sources")
    names = texts(tab, "table.data tbody td:first-child")
    engine = make_engine(site.seed.url)
    with engine.connect() as conn:
        assert names == list(conn.scalars(sa.select(m.Source.name).order_by(m.Source.id)))
        with_metrics = conn.scalar(
            sa.select(sa.func.count())
            .select_from(m.VariabilityMetrics)
            .where(m.VariabilityMetrics.eta > 0, m.VariabilityMetrics.v > 0)
        )
    engine.dispose()
    markers = tab.page.locator("circle.etav-point")
    assert markers.count() == with_metrics
    assert tab.page.locator("circle.etav-point.candidate").count() == len(site.seed.candidate_ids)
    target = site.seed.source_ids[2]
    marker = tab.page.locator(f"circle.etav-point[data-source='{target}']")
    marker.hover()
    assert "η 6" in tab.page.locator(".etav-widget .readout").inner_text()
    tab.follow(marker, rf"#/sources/{target}$")
    # a filter narrows the list; a half cone search is the API's 422, shown as a message
    tab.open("/sources")
    tab.page.fill("#filter-name", "J140001")
    tab.follow("form.filters button[type=submit]", r"name=J140001")
    assert texts(tab, "table.data tbody td:first-child") == ["J140001+543601"]
    # a column header sorts by it, a second click the other way
    tab.open("/sources")
    tab.follow("th a.sort >> text=η", r"sort=eta$")
    tab.follow("th a.sort >> text=η", r"sort=-eta$")
    assert texts(tab, "table.data tbody td:first-child")[0] == "J140002+543602"  # eta 6
    tab.open("/sources?ra=210")
    assert "cone search needs ra, dec and radius_deg" in tab.page.locator(".error-box").inner_text()
    assert tab.page.locator("#filter-ra").input_value() == "210"
    tab.assert_clean("status of 422")


def test_light_curve_has_a_point_per_measurement(tab: Tab, site: Site) -> None:
    source_id = site.seed.source_ids[1]
    n = db_count(site, m.Photometry, m.Photometry.source_id == source_id)
    assert n >= 3
    tab.open(f"/sources/{source_id}")
    points = tab.page.locator(".lightcurve .lc-point")
    assert points.count() == n
    assert tab.page.locator("table.measurements tbody tr").count() == n
    assert tab.page.locator("button[data-mode=normalised]").get_attribute("aria-pressed") == "true"
    normalised = [float(p.get_attribute("cy")) for p in points.all()]
    tab.page.click("button[data-mode=raw]")
    assert tab.page.locator("button[data-mode=raw]").get_attribute("aria-pressed") == "true"
    raw = [float(p.get_attribute("cy")) for p in points.all()]
    assert len(raw) == n and raw != normalised  # the seed's raw fluxes rise, normalised are flat
    points.last.hover()
    readout = tab.page.locator(".lightcurve-widget .readout").inner_text()
    assert readout.startswith("MJD ") and "mJy" in readout
    # metrics and candidate; no image of the seed reaches this far from the centre
    variability = tab.page.locator("section.panel", has_text="Variability").inner_text()
    assert "η (weighted reduced χ²)" in variability
    assert tab.page.locator("h1 .badge").inner_text() == "ese"
    assert (
        "No image covers this source."
        in tab.page.locator("section.panel", has_text="Cutouts").inner_text()
    )
    tab.assert_clean()


def test_light_curve_time_range(tab: Tab, site: Site) -> None:
    source_id = site.seed.source_ids[1]
    before = db_count(
        site, m.Photometry, m.Photometry.source_id == source_id, m.Photometry.mjd <= 61007.9
    )
    assert 0 < before < db_count(site, m.Photometry, m.Photometry.source_id == source_id)
    tab.open(f"/sources/{source_id}")
    tab.page.fill("#filter-mjd_max", "61007.9")
    tab.follow("form.filters button[type=submit]", r"mjd_max=61007.9")
    assert tab.page.locator(".lightcurve .lc-point").count() == before
    export = tab.page.locator(".exports a", has_text="CSV").get_attribute("href")
    assert "mjd_max=61007.9" in export
    tab.assert_clean()


def test_cutouts_of_a_source_one_per_image(tab: Tab, site: Site) -> None:
    tab.open(f"/sources/{site.seed.source_ids[0]}")  # at the images' centre
    assert tab.page.locator("figure.cutout").count() == len(site.seed.image_ids)
    tab.wait_images()
    assert tab.page.locator(".cutout-box .missing").count() == 1  # the file missing on disk
    loaded = tab.page.eval_on_selector_all(
        ".cutout-box img", "(imgs) => imgs.map((img) => img.naturalWidth)"
    )
    assert len(loaded) == len(site.seed.image_ids) - 1 and all(loaded)
    tab.assert_clean(MISSING)


def test_image_page_shows_preview_with_coordinates_and_fits(tab: Tab, site: Site) -> None:
    image_id = site.seed.image_ids[0]
    tab.open(f"/images/{image_id}")
    preview = tab.page.locator("img.preview")
    preview.wait_for()
    tab.page.wait_for_function("() => document.querySelector('img.preview').naturalWidth > 0")
    assert tab.page.locator(".wcs-grid polyline").count() >= 4
    box = tab.page.locator("svg.wcs-overlay").bounding_box()
    tab.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    # the seeded image is centred on RA 210 deg = 14h, Dec 54.6 deg
    readout = tab.page.locator(".sky-image-widget .readout").inner_text()
    assert "RA 14h00m0" in readout and "Dec +54°3" in readout  # within a pixel of the centre
    href = tab.page.locator("a", has_text="Download FITS").get_attribute("href")
    fits = tab.page.request.get(site.url + href)
    assert fits.status == 200 and fits.body()[:6] == b"SIMPLE"
    assert "rms_ratio" in tab.page.locator("section.panel", has_text="Quality").inner_text()
    measured = db_count(site, m.Photometry, m.Photometry.image_id == image_id)
    assert (
        tab.page.locator("section.panel", has_text="Measurements").locator("tbody tr").count()
        == measured
    )
    tab.assert_clean()


def test_bulk_download_of_selected_images(tab: Tab, site: Site) -> None:
    tab.open("/images")
    button = tab.page.locator("#download-selected")
    assert button.is_hidden()
    with_files = [site.seed.image_ids[0], site.seed.image_ids[2]]  # the second has no file
    for image_id in with_files:
        tab.page.check(f"input.pick[value='{image_id}']")
    assert button.inner_text() == "Download 2 selected as zip"
    response = tab.page.request.get(site.url + button.get_attribute("href"))
    assert response.status == 200
    with zipfile.ZipFile(io.BytesIO(response.body())) as archive:
        assert sorted(archive.namelist()) == ["img0.fits", "img2.fits"]
    tab.assert_clean(MISSING)


def test_missing_image_file_is_said_not_blank(tab: Tab, site: Site) -> None:
    tab.open(f"/images/{site.seed.image_ids[1]}")
    tab.page.wait_for_selector(".error-box")
    assert "missing on disk" in tab.page.locator(".error-box").inner_text()
    tab.assert_clean(MISSING)


@pytest.mark.parametrize(
    "route",
    [
        "/sources/999999",
        "/images/999999",
        "/mosaics/999999",
        "/jobs/no-such-run",
        f"/ms/{quote('/data/none.ms', safe='')}",
        f"/cal/{quote('/data/none.bcal', safe='')}",
        "/groups/1999-01-01T00:00:00",
    ],
)
def test_unknown_id_shows_not_found(tab: Tab, route: str) -> None:
    page = tab.open(route)
    assert page.get_attribute("data-ready") == "error"
    assert page.locator("h1").inner_text() == "Not found"
    message = page.locator(".error-box").inner_text()
    assert message.startswith("Not found:") and len(message) > len("Not found: ")
    tab.assert_clean("status of 404")


def test_unknown_page(tab: Tab) -> None:
    page = tab.open("/nowhere")
    assert page.locator("h1").inner_text() == "No such page"
    tab.assert_clean()
