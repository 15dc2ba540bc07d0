"""Helpers of the dashboard tests: the site under test and a browser tab that records errors.

Imported by ``conftest.py`` and the test modules (this folder is put on
``sys.path`` by ``conftest.py``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from api_support import Seed

#: How long a page may take to render (ms).
TIMEOUT_MS = 10_000


@dataclasses.dataclass
class Site:
    """A running app: its base URL and what its DB holds."""

    url: str
    seed: Seed

    def page_url(self, route: str) -> str:
        return f"{self.url}/dashboard/#{route}"


class Tab:
    """A browser page that records console errors and uncaught exceptions."""

    def __init__(self, page: Any, site: Site):
        self.page, self.site = page, site
        self.errors: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(f"{message.text} ({message.location.get('url', '')})")

    def open(self, route: str) -> Any:
        """Show a dashboard route and wait until its page has rendered (or shown its error).

        From another route of the dashboard this is the router's own navigation
        (the hash changes, the document stays); the same route is reloaded.
        Console errors recorded before are forgotten.
        """
        url = self.site.page_url(route)
        self.errors.clear()
        if self.page.url == url:
            self.page.reload()
        else:
            self.page.goto(url)
        return self.wait_rendered(route)

    def wait_rendered(self, route: str | None = None) -> Any:
        """The page's section once rendered for ``route`` (default: the URL's)."""
        if route is None:
            route = self.page.url.partition("#")[2] or "/"
        selector = f"section.page[data-ready][data-route={json.dumps(route)}]"
        self.page.wait_for_selector(selector, timeout=TIMEOUT_MS)
        return self.page.locator("section.page")

    def follow(self, target: Any, url: str) -> Any:
        """Click ``target`` (a selector or a locator), wait for the URL to match the
        regular expression ``url`` and for the new page to render; return its section."""
        (self.page.locator(target) if isinstance(target, str) else target).click()
        self.page.wait_for_url(re.compile(url))
        return self.wait_rendered()

    def wait_images(self) -> None:
        """Wait until every image of the page has loaded or failed."""
        self.page.wait_for_function("() => [...document.images].every((img) => img.complete)")

    def assert_clean(self, *expected: str) -> None:
        """No console error except failed loads of URLs containing one of ``expected``."""
        unexpected = [e for e in self.errors if not any(x in e for x in expected)]
        assert not unexpected, unexpected


def add_user(site: Site, name: str, role: str, password: str) -> None:
    """Create a user in the site's products DB (through the repositories), to sign in as.

    Names must differ between tests sharing a site (one site serves a whole session).
    """
    from dsa110_contimg.products import make_engine, make_session_factory, session_scope
    from dsa110_contimg.products import repositories as repo

    engine = make_engine(site.seed.url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            repo.add_user(session, name, role, password)
    finally:
        engine.dispose()


def sign_in(page: Any, base_url: str, name: str, password: str) -> None:
    """Sign in through the dashboard's own sign-in page, and wait until the header shows it.

    ``base_url`` is the site's (``site.url``); the page is left on the overview.
    """
    page.goto(f"{base_url}/dashboard/#/sign-in")
    page.wait_for_selector("section.page[data-ready] #sign-in", timeout=TIMEOUT_MS)
    page.fill("#sign-in-name", name)
    page.fill("#sign-in-password", password)
    page.click("#sign-in-submit")
    page.wait_for_selector(
        f"#user[data-state='signed-in'] .user-name:text-is({json.dumps(name)})", timeout=TIMEOUT_MS
    )
