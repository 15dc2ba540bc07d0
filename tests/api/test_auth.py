"""Sign-in of named users: cookies, CSRF, roles, expiry, sign-out, rate limits, secrecy.

Every test runs the real app over a private copy of the seeded SQLite DB,
with users made through the repositories (argon2 hashes and all).
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import time
from collections.abc import Iterator
from http.cookies import SimpleCookie
from typing import Any

import pytest
import sqlalchemy as sa
from api_support import API_KEY, LOCAL, Seed, make_settings
from fastapi.testclient import TestClient

from dsa110_contimg.api import create_app
from dsa110_contimg.api.deps import Admin
from dsa110_contimg.products import make_engine, make_session_factory, session_scope
from dsa110_contimg.products import repositories as repo
from dsa110_contimg.products.models import UserSession

PASSWORDS = {
    "alice": "correct horse battery",
    "rita": "reader-pass-9876",
    "adam": "admin-pass-5432",
}
ROLES = {"alice": "operator", "rita": "reader", "adam": "admin"}


def _add_users(url: str) -> None:
    engine = make_engine(url)
    with session_scope(make_session_factory(engine)) as session:
        for name, password in PASSWORDS.items():
            repo.add_user(session, name, ROLES[name], password)
    engine.dispose()


def _client(seed: Seed, client: tuple[str, int] = LOCAL, **overrides: Any) -> TestClient:
    settings = make_settings(seed.root, seed.url, **overrides)
    return TestClient(create_app(settings), client=client)


@pytest.fixture
def users(writable_seed: Seed) -> Seed:
    _add_users(writable_seed.url)
    return writable_seed


@pytest.fixture
def web(users: Seed) -> Iterator[TestClient]:
    with _client(users) as test_client:
        yield test_client


def _login(client: TestClient, name: str, password: str | None = None) -> Any:
    return client.post(
        "/api/auth/login", json={"name": name, "password": password or PASSWORDS[name]}
    )


def _set_cookies(response: Any) -> dict[str, Any]:
    cookies: dict[str, Any] = {}
    for header in response.headers.get_list("set-cookie"):
        parsed = SimpleCookie()
        parsed.load(header)
        for name, morsel in parsed.items():
            cookies[name] = (morsel, header.lower())
    return cookies


def _csrf(client: TestClient) -> dict[str, str]:
    return {"X-CSRF-Token": client.cookies["dsa110_csrf"]}


def _verdict(client: TestClient, seed: Seed, headers: dict[str, str] | None = None) -> Any:
    return client.patch(
        f"/api/candidates/{seed.candidate_ids[0]}",
        json={"status": "confirmed", "note": "seen by eye"},
        headers=headers or {},
    )


def test_login_sets_a_session_and_me_names_the_user(web: TestClient) -> None:
    assert web.get("/api/auth/me").status_code == 401
    response = _login(web, "alice")
    assert response.status_code == 200
    assert response.json() == {"name": "alice", "role": "operator"}
    me = web.get("/api/auth/me")
    assert me.status_code == 200 and me.headers["cache-control"] == "no-store"
    body = me.json()
    assert (body["name"], body["role"]) == ("alice", "operator")
    expires = dt.datetime.fromisoformat(body["expires_at"])
    expected = dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)
    assert abs((expires - expected).total_seconds()) < 60


def test_cookie_attributes(web: TestClient, users: Seed) -> None:
    cookies = _set_cookies(_login(web, "alice"))
    session, session_raw = cookies["dsa110_session"]
    csrf, csrf_raw = cookies["dsa110_csrf"]
    assert "httponly" in session_raw and "httponly" not in csrf_raw
    for morsel, raw in ((session, session_raw), (csrf, csrf_raw)):
        assert morsel["samesite"].lower() == "strict"
        assert morsel["path"] == "/"
        assert abs(int(morsel["max-age"]) - 12 * 3600) < 60
        assert "secure" not in raw  # plain HTTP: a Secure cookie would never come back
    assert len(session.value) >= 32 and len(csrf.value) >= 32 and session.value != csrf.value
    # The DB keeps only the token's digest.
    engine = make_engine(users.url)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(UserSession.token_sha256)).scalars().all()
    engine.dispose()
    assert stored == [repo.token_digest(session.value)] and session.value not in stored

    # Behind the TLS proxy (a trusted peer saying https): Secure.
    behind = web.post(
        "/api/auth/login",
        json={"name": "alice", "password": PASSWORDS["alice"]},
        headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "127.0.0.1"},
    )
    for _, raw in _set_cookies(behind).values():
        assert "; secure" in raw


def test_forwarded_proto_from_an_untrusted_peer_is_not_believed(users: Seed) -> None:
    peer = ("10.1.2.3", 40000)
    with _client(users, client=peer, allowed_ips=["10.0.0.0/8"]) as client:
        response = client.post(
            "/api/auth/login",
            json={"name": "alice", "password": PASSWORDS["alice"]},
            headers={"X-Forwarded-Proto": "https"},
        )
    assert response.status_code == 200
    for _, raw in _set_cookies(response).values():
        assert "secure" not in raw


def test_wrong_password_and_unknown_user_look_the_same(web: TestClient) -> None:
    wrong = _login(web, "alice", "not the password")
    unknown = _login(web, "nobody", "not the password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"
    assert "set-cookie" not in wrong.headers

    def timed(name: str) -> float:
        t0 = time.perf_counter()
        _login(web, name, "not the password")
        return time.perf_counter() - t0

    # Both pay one argon2 verification: the median times agree within a factor of 2
    # (without the dummy verification an unknown name answers many times faster).
    known = statistics.median(timed("alice") for _ in range(5))
    nobody = statistics.median(timed(f"nobody{i}") for i in range(5))
    assert 0.5 < nobody / known < 2.0, (known, nobody)


def test_a_cookie_write_needs_the_csrf_header(web: TestClient, users: Seed) -> None:
    _login(web, "alice")
    missing = _verdict(web, users)
    assert missing.status_code == 403 and missing.json()["error"]["code"] == "csrf"
    wrong = _verdict(web, users, {"X-CSRF-Token": "x" * 43})
    assert wrong.status_code == 403 and wrong.json()["error"]["code"] == "csrf"
    right = _verdict(web, users, _csrf(web))
    assert right.status_code == 200, right.text
    assert right.json()["reviewed_by"] == "user:alice"


def test_a_reader_cannot_write(web: TestClient, users: Seed) -> None:
    _login(web, "rita")
    response = _verdict(web, users, _csrf(web))
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "forbidden" and "reader" in error["message"]


def test_an_operator_writes_and_is_recorded(web: TestClient, users: Seed) -> None:
    _login(web, "alice")
    created = web.post(
        "/api/batch/reprocess", json={"group_ids": users.groups[:1]}, headers=_csrf(web)
    )
    assert created.status_code == 202, created.text
    job = web.get(f"/api/jobs/{created.json()['run_id']}").json()
    assert job["requested_by"] == "user:alice"
    # an admin may make the same writes; an API key still works alone, as an operator
    web.cookies.clear()
    _login(web, "adam")
    assert _verdict(web, users, _csrf(web)).json()["reviewed_by"] == "user:adam"
    web.cookies.clear()
    by_key = _verdict(web, users, {"X-API-Key": API_KEY})
    assert by_key.status_code == 200 and by_key.json()["reviewed_by"].startswith("key:")


def test_no_credentials_is_401(web: TestClient, users: Seed) -> None:
    response = _verdict(web, users)
    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_an_expired_session_is_401(web: TestClient, users: Seed) -> None:
    _login(web, "alice")
    engine = make_engine(users.url)
    with engine.begin() as conn:
        past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        conn.execute(sa.update(UserSession).values(expires_at=past))
    engine.dispose()
    assert web.get("/api/auth/me").status_code == 401
    response = _verdict(web, users, _csrf(web))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "session_expired"


def test_session_lifetime_is_a_setting(users: Seed) -> None:
    with _client(users, auth_session_hours=0.5) as client:
        _login(client, "alice")
        expires = dt.datetime.fromisoformat(client.get("/api/auth/me").json()["expires_at"])
    left = (expires - dt.datetime.now(dt.UTC)).total_seconds()
    assert 1700 < left <= 1800


def test_sign_out_revokes_the_session(web: TestClient, users: Seed) -> None:
    _login(web, "alice")
    token, csrf = web.cookies["dsa110_session"], web.cookies["dsa110_csrf"]
    out = web.post("/api/auth/logout")
    assert out.status_code == 204
    cleared = _set_cookies(out)
    assert cleared["dsa110_session"][0].value == "" and cleared["dsa110_csrf"][0].value == ""
    assert web.get("/api/auth/me").status_code == 401
    # The old cookie, replayed, no longer works: the session was revoked in the DB.
    replay = {"Cookie": f"dsa110_session={token}; dsa110_csrf={csrf}"}
    web.cookies.clear()
    assert web.get("/api/auth/me", headers=replay).status_code == 401
    again = _verdict(web, users, {**replay, "X-CSRF-Token": csrf})
    assert again.status_code == 401


def test_disabling_or_a_new_password_ends_sessions(web: TestClient, users: Seed) -> None:
    _login(web, "alice")
    engine = make_engine(users.url)
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        repo.set_password(session, "alice", "a brand new password")
    assert web.get("/api/auth/me").status_code == 401
    assert _login(web, "alice").status_code == 401
    assert _login(web, "alice", "a brand new password").status_code == 200
    with session_scope(factory) as session:
        repo.disable_user(session, "alice")
    engine.dispose()
    assert web.get("/api/auth/me").status_code == 401
    assert _login(web, "alice", "a brand new password").status_code == 401


def test_sign_in_attempts_are_rate_limited_per_name(users: Seed) -> None:
    with _client(users, auth_max_failures_per_user=3, auth_failure_window_s=120) as client:
        for _ in range(3):
            assert _login(client, "alice", "guess guess").status_code == 401
        limited = _login(client, "alice")  # even the right password waits
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 120
        error = limited.json()["error"]
        assert error["code"] == "too_many_requests" and error["details"]["retry_after_s"] >= 1
        assert "set-cookie" not in limited.headers
        assert _login(client, "rita").status_code == 200  # other names are not held up


def test_sign_in_attempts_are_rate_limited_per_address(users: Seed) -> None:
    with _client(users, auth_max_failures_per_address=4) as client:
        for i in range(4):
            assert _login(client, f"spray{i}", "guess guess").status_code == 401
        limited = _login(client, "alice")
        assert limited.status_code == 429 and "retry-after" in limited.headers


def test_bad_sign_in_bodies_are_422(web: TestClient) -> None:
    for body in ({}, {"name": "alice"}, {"name": "", "password": "x"}, {"name": 3, "password": []}):
        response = web.post("/api/auth/login", json=body)
        assert response.status_code == 422, body
        assert set(response.json()["error"]) == {"code", "message", "details"}
    assert web.post("/api/auth/login", content=b"{nope").status_code == 422
    # A cross-site form (no preflight) cannot sign a browser in: only JSON is read.
    as_form = web.post("/api/auth/login", data={"name": "alice", "password": PASSWORDS["alice"]})
    as_text = web.post(
        "/api/auth/login",
        content=b'{"name": "alice", "password": "correct horse battery"}',
        headers={"Content-Type": "text/plain"},
    )
    assert as_form.status_code == as_text.status_code == 422
    assert "set-cookie" not in as_form.headers and "set-cookie" not in as_text.headers


def test_passwords_never_appear_in_logs_or_answers(
    web: TestClient, users: Seed, caplog: pytest.LogCaptureFixture
) -> None:
    secret_wrong = "wrong-secret-Zq81x"
    too_long = "long-secret-" + "y" * 2000
    answers = []
    with caplog.at_level(logging.DEBUG):
        answers.append(_login(web, "alice", secret_wrong))
        answers.append(_login(web, "alice"))
        answers.append(_login(web, "alice", too_long))
        answers.append(web.get("/api/auth/me"))
        answers.append(web.post("/api/auth/logout"))
    assert [a.status_code for a in answers] == [401, 200, 422, 200, 204]
    assert "signed in" in caplog.text  # the log does record sign-ins ...
    for secret in (secret_wrong, PASSWORDS["alice"], too_long[:20]):
        assert secret not in caplog.text  # ... but never a password
        for answer in answers:
            assert secret not in answer.text
    assert "$argon2" not in caplog.text and all("$argon2" not in a.text for a in answers)


def test_admin_only_dependency(users: Seed) -> None:
    app = create_app(make_settings(users.root, users.url))

    @app.post("/api/admin-probe")
    async def probe(who: Admin) -> dict[str, str]:
        return {"who": who}

    with TestClient(app, client=LOCAL) as client:
        assert client.post("/api/admin-probe", headers={"X-API-Key": API_KEY}).status_code == 403
        _login(client, "alice")
        operator = client.post("/api/admin-probe", headers=_csrf(client))
        assert operator.status_code == 403 and "operator" in operator.json()["error"]["message"]
        client.cookies.clear()
        _login(client, "adam")
        assert client.post("/api/admin-probe").status_code == 403  # still needs the CSRF header
        admin = client.post("/api/admin-probe", headers=_csrf(client))
        assert admin.status_code == 200 and admin.json() == {"who": "user:adam"}
