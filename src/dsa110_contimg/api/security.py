"""Access control: the IP allow-list, API keys for writes, headers and body limits.

The allow-list is enforced by :class:`AllowListMiddleware` for HTTP and
WebSocket alike, before any route runs. The client address is the peer's,
unless the peer is a trusted proxy: then ``X-Forwarded-For`` is read from the
right, skipping trusted hops, and the first untrusted address is the client
(the left-most entries are whatever the client chose to send, so they are
never believed). By default only loopback is allowed; the operator lists the
site's networks (``allowed_ips``).

:class:`TrustedHostMiddleware` answers only requests whose ``Host`` is one of
the configured names (``api_allowed_hosts``), so a page on another site cannot
read the API through DNS rebinding, and accepts a WebSocket handshake only when
its ``Origin`` names one of them too (or is a configured CORS origin).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dsa110_contimg.api.errors import error_response

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Paths open to every address: the liveness probe.
ALWAYS_OPEN = frozenset({"/api/health"})


def parse_ip(text: str) -> Address | None:
    """An IP address from a header or peer string, or None if it is not one."""
    text = text.strip()
    if text.startswith("[") and "]" in text:  # "[::1]:8000"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "1.2.3.4:5678"
        text = text.split(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def in_networks(address: Address | None, networks: Iterable[Network]) -> bool:
    """Whether ``address`` lies in any of ``networks`` (None never does)."""
    return address is not None and any(address in net for net in networks)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]
) -> Address | None:
    """The address to judge a request by.

    Parameters
    ----------
    peer
        The TCP peer's address.
    forwarded_for
        The values of every ``X-Forwarded-For`` header, in order.
    trusted
        Networks of trusted reverse proxies.

    Returns
    -------
    The right-most untrusted hop when the peer is a trusted proxy (an
    unparsable hop yields None: refused), else the peer itself.
    """
    current = parse_ip(peer) if peer else None
    if not in_networks(current, trusted):
        return current
    hops = [h for value in forwarded_for for h in value.split(",") if h.strip()]
    for hop in reversed(hops):
        current = parse_ip(hop)
        if not in_networks(current, trusted):
            return current
    return current


class AllowListMiddleware:
    """Refuse HTTP requests (403) and WebSocket handshakes from addresses not allowed."""

    def __init__(self, app: ASGIApp, allowed: Sequence[Network], trusted: Sequence[Network]):
        self.app, self.allowed, self.trusted = app, list(allowed), list(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in ALWAYS_OPEN:
            await self.app(scope, receive, send)
            return
        peer = scope.get("client")
        forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
        address = client_address(peer[0] if peer else None, forwarded, self.trusted)
        if in_networks(address, self.allowed):
            scope.setdefault("state", {})["client_ip"] = str(address)
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": "address not allowed"})
            return
        response = error_response(403, "forbidden", f"address {address} is not allowed")
        await response(scope, receive, send)


def host_name(value: str) -> str:
    """The host name of a ``Host`` header value: no port, lower case, no trailing dot."""
    value = value.strip().lower()
    if value.startswith("["):  # "[::1]:8000"
        value = value[1 : value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:  # "example.org:8000"
        value = value.split(":")[0]
    return value.rstrip(".")


class HostNames:
    """The configured host names: exact ones, ``*.domain`` suffixes, or ``*`` for any."""

    def __init__(self, names: Iterable[str]):
        names = [host_name(n) if n.strip() != "*" else "*" for n in names]
        self.any = "*" in names
        self.exact = {n for n in names if not n.startswith("*")}
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name:
            return False
        if self.any or name in self.exact:
            return True
        return bool(self.suffixes) and name.endswith(self.suffixes)

    def origin_allowed(self, origin: str, cors_origins: Iterable[str]) -> bool:
        """Whether a browser's ``Origin`` names a configured host or a CORS origin."""
        if origin in cors_origins:
            return True
        try:
            hostname = urlsplit(origin).hostname
        except ValueError:
            return False
        return hostname is not None and host_name(hostname) in self


class TrustedHostMiddleware:
    """Refuse requests whose ``Host`` is not a configured name (400), and WebSocket
    handshakes from a browser ``Origin`` that names none of them (closed, HTTP 403).

    The liveness probe is answered whatever the Host (load balancers probe by address).
    """

    def __init__(self, app: ASGIApp, hosts: Iterable[str], cors_origins: Iterable[str] = ()):
        self.app, self.hosts, self.cors_origins = app, HostNames(hosts), set(cors_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or scope["path"] in ALWAYS_OPEN:
            await self.app(scope, receive, send)
            return
        host = origin = None
        for key, value in scope["headers"]:
            if key == b"host":
                host = value.decode("latin-1")
            elif key == b"origin":
                origin = value.decode("latin-1")
        host_ok = host is not None and host_name(host) in self.hosts
        if scope["type"] == "websocket":
            if host_ok and (origin is None or self.hosts.origin_allowed(origin, self.cors_origins)):
                await self.app(scope, receive, send)
            else:
                reason = "host not served here" if not host_ok else "cross-origin WebSocket refused"
                await send({"type": "websocket.close", "code": 1008, "reason": reason})
            return
        if host_ok:
            await self.app(scope, receive, send)
            return
        response = error_response(
            400,
            "invalid_host",
            f"host {host!r} is not served here",
            {"hint": "the operator lists the API's host names in DSA110_API_ALLOWED_HOSTS"},
        )
        await response(scope, receive, send)


SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"interest-cohort=()"),
)
# The documentation pages load Swagger UI / GraphiQL scripts from a CDN.
_STRICT_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
_DOCS_PATHS = ("/api/docs", "/api/redoc", "/api/graphql")


class SecurityHeadersMiddleware:
    """Add the standard protective headers to every HTTP response.

    The Content-Security-Policy is the strictest (nothing may load) unless the
    response already set one; the API documentation pages get none.
    """

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        strict = not scope["path"].startswith(_DOCS_PATHS)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.extend(SECURITY_HEADERS)
                # A response with its own policy keeps it (the dashboard's pages).
                if strict and not any(k == _STRICT_CSP[0] for k, _ in headers):
                    headers.append(_STRICT_CSP)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BodyTooLarge(StarletteHTTPException):
    """Raised by the counting ``receive``: an HTTP error, so the route's body reading
    passes it on (any other exception there becomes a 400) and it is answered 413."""

    def __init__(self, max_bytes: int):
        super().__init__(413, f"body over {max_bytes} bytes")


class BodySizeLimitMiddleware:
    """Refuse request bodies larger than ``max_bytes`` (413), declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length" and (not value.isdigit() or int(value) > self.max_bytes):
                await self._too_large()(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise _BodyTooLarge(self.max_bytes)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._too_large()(scope, receive, send)

    def _too_large(self) -> Any:
        return error_response(413, "payload_too_large", f"body over {self.max_bytes} bytes")


class KeyRing:
    """The API keys allowed to write, kept only as SHA-256 digests.

    Parameters
    ----------
    keys
        The configured keys (``settings.api_keys``); none means writes are refused.
        A key given as ``sha256:<64 hex digits>`` is already a digest, so
        configuration files need not hold the plain key at all
        (``python -c "import hashlib; print(hashlib.sha256(b'KEY').hexdigest())"``).
    """

    PREFIX = "sha256:"

    def __init__(self, keys: Iterable[SecretStr]):
        self._digests = [self._configured(k.get_secret_value()) for k in keys]

    @classmethod
    def _configured(cls, key: str) -> bytes:
        if key.startswith(cls.PREFIX):
            try:
                digest = bytes.fromhex(key[len(cls.PREFIX) :])
            except ValueError:
                digest = b""
            if len(digest) != 32:
                raise ValueError("an API key digest must be sha256: and 64 hex digits")
            return digest
        return cls.digest(key)

    @staticmethod
    def digest(key: str) -> bytes:
        """The SHA-256 digest of a key."""
        return hashlib.sha256(key.encode("utf-8")).digest()

    @property
    def enabled(self) -> bool:
        """Whether any key is configured (else every write is refused)."""
        return bool(self._digests)

    def check(self, presented: str) -> str | None:
        """The fingerprint of the matching key (for ``requested_by``), or None.

        Every configured digest is compared in constant time, so the timing
        tells nothing about which key nearly matched.
        """
        given = self.digest(presented)
        match = None
        for digest in self._digests:
            if hmac.compare_digest(given, digest):
                match = digest
        return None if match is None else f"key:{match.hex()[:12]}"


def request_is_https(scope: Scope, trusted: Sequence[Network]) -> bool:
    """Whether the browser's request came over HTTPS.

    Directly (the app's own scheme), or through a trusted reverse proxy that
    terminated TLS and said so in ``X-Forwarded-Proto`` (nginx sets it to its
    ``$scheme``; uvicorn runs with ``proxy_headers=False``, so the app reads it
    here, and only from a trusted peer). The right-most value is the proxy's.
    """
    if scope.get("scheme") in ("https", "wss"):
        return True
    peer = scope.get("client")
    if not in_networks(parse_ip(peer[0]) if peer else None, trusted):
        return False
    values = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-proto"]
    hops = [h.strip().lower() for value in values for h in value.split(",") if h.strip()]
    return bool(hops) and hops[-1] == "https"


class SignInThrottle:
    """Failed sign-ins counted per client address and per user name over a sliding window.

    In memory, per API process (the API runs one worker). A success clears the
    name's failures (not the address's).

    Parameters
    ----------
    per_address, per_name
        Failures within ``window_s`` after which further attempts are refused.
    window_s
        The window (s).
    clock
        The time source (s; ``time.monotonic``), replaceable in tests.
    """

    def __init__(
        self,
        per_address: int,
        per_name: int,
        window_s: float,
        clock: Any = None,
    ):
        self.limits = {"address": per_address, "name": per_name}
        self.window_s = window_s
        self.clock = clock or time.monotonic
        self._failures: dict[tuple[str, str], list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        times = [t for t in self._failures.get(key, ()) if t > now - self.window_s]
        if times:
            self._failures[key] = times
        else:
            self._failures.pop(key, None)
        return times

    def retry_after(self, address: str, name: str) -> tuple[str, int] | None:
        """``(what, seconds)`` when attempts from ``address`` or for ``name`` are refused now."""
        now = self.clock()
        with self._lock:
            for what, value in (("address", address), ("name", name.lower())):
                times = self._recent((what, value), now)
                if len(times) >= self.limits[what]:
                    wait = times[-self.limits[what]] + self.window_s - now
                    return what, max(1, int(wait + 0.999))
        return None

    def failed(self, address: str, name: str) -> None:
        """Count a failed attempt."""
        now = self.clock()
        with self._lock:
            if len(self._failures) > 100_000:  # many distinct names: forget the stale ones
                for key in list(self._failures):
                    self._recent(key, now)
            for key in (("address", address), ("name", name.lower())):
                self._failures.setdefault(key, []).append(now)

    def succeeded(self, name: str) -> None:
        """Clear the failures of ``name``."""
        with self._lock:
            self._failures.pop(("name", name.lower()), None)
