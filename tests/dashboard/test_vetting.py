"""Vetting, keyboard verdicts, image ratings and shareable filters in the real browser."""

from __future__ import annotations

from typing import Any

import pytest
from dashboard_support import TIMEOUT_MS, Site, Tab, add_user, sign_in


@pytest.fixture(scope="module")
def operator_tab(browser: Any, writable_site: Site) -> Any:
    add_user(writable_site, "vera", "operator", "correct horse battery")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    sign_in(page, writable_site.url, "vera", "correct horse battery")
    try:
        yield Tab(page, writable_site)
    finally:
        context.close()


def test_keyboard_verdict_tag_and_an_edited_comment_keep_their_history(operator_tab: Tab) -> None:
    tab, page = operator_tab, operator_tab.page
    root = tab.open("/candidates")
    assert "j / k" in root.locator("#key-help").inner_text()
    first = root.locator("table.data tbody tr[data-key]").first
    cid = first.get_attribute("data-key")
    page.keyboard.press("j")
    panel = page.locator(f'section.vetting[data-target="candidate:{cid}"]')
    panel.locator("button[data-verdict]").first.wait_for()
    page.keyboard.press("c")
    page.wait_for_function(
        "() => document.querySelector('section.vetting .verdict')?.textContent.includes('confirmed')"
    )
    assert "confirmed" in first.locator("td.status").inner_text()

    panel.locator("input[name=tag]").fill("Flare")
    panel.locator("form.tag-form button").click()
    panel.locator('.tag[data-tag="flare"]').wait_for()
    panel.locator("textarea[name=comment]").fill("dip at epoch 3")
    panel.locator("form.comment-form button").click()
    panel.locator("ul.comments li button.edit-comment").wait_for()
    panel.locator("ul.comments li button.edit-comment").click()
    panel.locator("textarea[name=edit]").fill("dip is RFI")
    panel.locator("form.edit-form button").click()
    panel.locator("ul.comments .edited").wait_for()
    history = panel.locator("details.history").inner_text()
    assert "dip at epoch 3" in history and "dip is RFI" in history
    assert "user:vera" in history and "confirmed" in history and "flare" in history

    # The verdict filter lives in the URL: a reload (or a shared link) shows the same view.
    root = tab.open("/candidates?status=confirmed&tag=flare")
    assert root.locator("#filter-status").input_value() == "confirmed"
    assert root.locator("#filter-tag").input_value() == "flare"
    page.reload()
    root = tab.wait_rendered("/candidates?status=confirmed&tag=flare")
    keys = root.locator("table.data tbody tr[data-key]").evaluate_all(
        "rows => rows.map(r => r.dataset.key)"
    )
    assert keys == [cid]
    assert root.locator("#filter-status").input_value() == "confirmed"
    tab.assert_clean()


def test_a_bad_rating_removes_an_epoch_from_a_light_curve_and_back(operator_tab: Tab) -> None:
    tab, page, seed = operator_tab, operator_tab.page, operator_tab.site.seed
    source = f"/sources/{seed.source_ids[0]}"

    def points() -> int:
        root = tab.open(source)
        return root.locator("table.measurements tbody tr").count()

    before = points()
    assert before >= 2
    root = tab.open(f"/images/{seed.image_ids[0]}")
    root.locator("input[name=rating-comment]").fill("calibration failed")
    root.locator("button[data-rate=bad]").click()
    page.wait_for_selector("section.rating[data-rating=bad] .rating-result")
    assert "calibration failed" in root.locator("ol.rating-history").inner_text()
    assert points() < before
    root = tab.open(f"/images/{seed.image_ids[0]}")
    root.locator("button[data-rate=good]").click()
    page.wait_for_selector("section.rating[data-rating=good] .rating-result")
    assert points() == before
    tab.assert_clean("cutout.png")  # the seed's second image has no file on disk, by design


def test_a_source_page_links_out_and_lists_neighbours(tab: Tab) -> None:
    root = tab.open(f"/sources/{tab.site.seed.source_ids[0]}")
    links = root.locator(".survey-links a")
    assert links.evaluate_all("a => a.map(x => x.dataset.survey)") == ["NVSS", "FIRST", "VLASS"]
    assert all(h.startswith("https://") for h in links.evaluate_all("a => a.map(x => x.href)"))
    assert root.locator("table.neighbours").count() == 1
    assert root.locator("section.vetting").count() == 1
