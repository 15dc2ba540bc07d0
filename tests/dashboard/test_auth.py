"""Sign-in in the real browser: sign in and out, a wrong password, an ended session,
CSRF refusal, and a reader refused a write from the page.

Each test has its own browser context (its own cookies) on a site whose DB
its module owns (``writable_site``); users are made through the repositories.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from dashboard_support import TIMEOUT_MS, Site, Tab, add_user, sign_in
from playwright.sync_api import expect

from dsa110_contimg.products import make_engine
from dsa110_contimg.products.models import User, UserSession

PASSWORD = "a long enough password"


@pytest.fixture(scope="module")
def people(writable_site: Site) -> Site:
    for name, role in (("olga", "operator"), ("rhea", "reader"), ("otto", "operator")):
        add_user(writable_site, name, role, PASSWORD)
    return writable_site


@pytest.fixture
def fresh(browser: Any, people: Site) -> Iterator[Tab]:
    """A tab in a browser context of its own: no cookies from other tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield Tab(context.new_page(), people)
    finally:
        context.close()


def _me_status(tab: Tab) -> int:
    return tab.page.evaluate(
        "async () => (await fetch('/api/auth/me', {credentials: 'same-origin'})).status"
    )


def _expire_sessions(site: Site, name: str) -> None:
    engine = make_engine(site.seed.url)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    with engine.begin() as conn:
        user_id = conn.execute(sa.select(User.id).where(User.name == name)).scalar_one()
        conn.execute(
            sa.update(UserSession).where(UserSession.user_id == user_id).values(expires_at=past)
        )
    engine.dispose()


def test_sign_in_shows_the_user_and_sign_out_ends_it(fresh: Tab, people: Site) -> None:
    page = fresh.page
    fresh.open("/")
    expect(page.locator("#user #sign-in-link")).to_be_visible()
    sign_in(page, people.url, "olga", PASSWORD)
    expect(page.locator("#user .user-role")).to_have_text("operator")
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert (
        cookies["dsa110_session"]["httpOnly"] and cookies["dsa110_session"]["sameSite"] == "Strict"
    )
    assert not cookies["dsa110_csrf"]["httpOnly"]
    # The session survives a reload and a navigation.
    fresh.open("/sources")
    expect(page.locator("#user .user-name")).to_have_text("olga")
    page.click("#sign-out")
    page.wait_for_url(re.compile(r"#/sign-in$"))
    expect(page.locator("#user #sign-in-link")).to_be_visible()
    assert _me_status(fresh) == 401
    assert "dsa110_session" not in {c["name"] for c in page.context.cookies()}
    fresh.assert_clean("/api/auth/me")


def test_a_wrong_password_says_so_and_signs_nobody_in(fresh: Tab, people: Site) -> None:
    page = fresh.page
    fresh.open("/sign-in")
    page.fill("#sign-in-name", "olga")
    page.fill("#sign-in-password", "not the password")
    page.click("#sign-in-submit")
    message = page.locator("#sign-in-message .error-box")
    expect(message).to_contain_text("wrong user name or password")
    expect(page.locator("#sign-in-password")).to_have_value("")
    assert page.url.endswith("#/sign-in")
    expect(page.locator("#user #sign-in-link")).to_be_visible()
    assert _me_status(fresh) == 401
    # the same message for a name that does not exist
    page.fill("#sign-in-name", "nobody")
    page.fill("#sign-in-password", "not the password")
    page.click("#sign-in-submit")
    expect(message).to_contain_text("wrong user name or password")
    fresh.assert_clean("/api/auth/")


def test_an_ended_session_sends_you_back_to_sign_in(fresh: Tab, people: Site) -> None:
    page = fresh.page
    sign_in(page, people.url, "otto", PASSWORD)
    fresh.open("/sources")
    _expire_sessions(people, "otto")
    page.click("#nav a[href='#/images']")  # the next navigation finds the session ended
    page.wait_for_url(re.compile(r"#/sign-in\?next=%2Fimages&ended=1$"))
    expect(page.locator("#session-ended")).to_contain_text("sign in again")
    expect(page.locator("#user #sign-in-link")).to_be_visible()
    # Signing in again goes back to where the user was going.
    page.fill("#sign-in-name", "otto")
    page.fill("#sign-in-password", PASSWORD)
    page.click("#sign-in-submit")
    page.wait_for_url(re.compile(r"#/images$"))
    fresh.wait_rendered("/images")
    expect(page.locator("#user .user-name")).to_have_text("otto")
    fresh.assert_clean("/api/auth/me", "thumbnail.png")  # the seed has no thumbnail for one


def _rate(tab: Tab, which: str) -> Any:
    panel = tab.page.locator("section.rating")
    panel.locator(f"button[data-rate='{which}']").click()
    return panel


def _image_rating(tab: Tab, image_id: int) -> Any:
    return tab.page.evaluate(
        "async (id) => (await (await fetch(`/api/images/${id}`)).json()).rating", image_id
    )


def test_a_write_without_the_csrf_header_is_refused(fresh: Tab, people: Site) -> None:
    page = fresh.page
    sign_in(page, people.url, "olga", PASSWORD)
    candidate = people.seed.candidate_ids[0]
    # A request carrying the session cookie but not the header: refused.
    refused = page.evaluate(
        """async (id) => {
          const r = await fetch(`/api/candidates/${id}`, {
            method: 'PATCH', credentials: 'same-origin',
            headers: {'Content-Type': 'application/json'},
            body: JSON.stringify({status: 'confirmed'}),
          });
          return [r.status, (await r.json()).error.code];
        }""",
        candidate,
    )
    assert refused == [403, "csrf"]
    # The page's own writes send it, and are recorded as the user's.
    done = page.evaluate(
        """async (id) => {
          const m = await import('/dashboard/js/api.js');
          return m.write('PATCH', `/api/candidates/${id}`, {status: 'dismissed'});
        }""",
        candidate,
    )
    assert done["status"] == "dismissed" and done["reviewed_by"] == "user:olga"
    # From the page: with its CSRF cookie gone, the rating button's write is refused.
    image_id = people.seed.image_ids[0]
    fresh.open(f"/images/{image_id}")
    page.evaluate("() => { document.cookie = 'dsa110_csrf=; Max-Age=0; Path=/'; }")
    panel = _rate(fresh, "bad")
    expect(panel.locator(".error-box")).to_contain_text("X-CSRF-Token")
    assert _image_rating(fresh, image_id) is None
    fresh.assert_clean("/api/images/", "/api/candidates/")


def test_a_reader_is_refused_a_write_from_the_page(fresh: Tab, people: Site) -> None:
    page = fresh.page
    sign_in(page, people.url, "rhea", PASSWORD)
    expect(page.locator("#user .user-role")).to_have_text("reader")
    image_id = people.seed.image_ids[0]
    fresh.open(f"/images/{image_id}")
    panel = _rate(fresh, "bad")
    error = panel.locator(".error-box")
    expect(error).to_contain_text("reader")
    expect(error).to_contain_text("403")
    assert _image_rating(fresh, image_id) is None  # nothing was written
    expect(page.locator("#user .user-name")).to_have_text("rhea")  # still signed in
    fresh.assert_clean("/api/images/")
