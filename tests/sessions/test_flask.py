"""The Flask session interface, with Flask's own test client, on kvserver and redis-server through
the built-in client, redis-py and valkey-py."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask, jsonify, request, session

from kvsession import SessionStore
from kvsession.flask import FlaskSession, KvSessionInterface
from tests.sessions.conftest import MakeStore


def make_app(store: SessionStore, **config: Any) -> Flask:
    app = Flask(__name__)
    app.config.update({"SESSION_COOKIE_SECURE": True, "TESTING": True, **config})
    app.session_interface = KvSessionInterface(store)

    def current() -> FlaskSession:
        assert isinstance(session, FlaskSession)
        return session

    @app.post("/login")
    def login() -> Any:
        if "cart" in request.args:
            session["cart"] = request.args["cart"]
        current().login(request.args["user"], remember=request.args.get("remember") != "0")
        return jsonify(user=current().user_id)

    @app.get("/me")
    def me() -> Any:
        return jsonify(user=current().user_id, data=dict(session))

    @app.post("/write")
    def write() -> Any:
        session[request.args["key"]] = request.args["value"]
        return jsonify(ok=True)

    @app.post("/append")
    def append() -> Any:
        session.setdefault("items", []).append(request.args["item"])
        session.modified = True
        return jsonify(ok=True)

    @app.post("/count")
    def count() -> Any:
        return jsonify(visits=current().increment("visits"))

    @app.post("/rotate")
    def rotate() -> Any:
        current().rotate()
        return jsonify(ok=True)

    @app.post("/logout")
    def logout() -> Any:
        current().logout()
        return jsonify(user=current().user_id)

    return app


def token_of(http: Any) -> str:
    cookie = http.get_cookie("session")
    assert cookie is not None
    return str(cookie.value)


def test_flask_login_data_rotation_and_logout(make_store: MakeStore) -> None:
    store = make_store()
    http = make_app(store).test_client()
    response = http.post("/login?user=alice")
    cookie = response.headers["Set-Cookie"]
    for attribute in ("HttpOnly", "Secure", "SameSite=Lax", "Path=/", "Max-Age=2591"):
        assert attribute in cookie
    http.post("/write?key=theme&value=dark")
    http.post("/append?item=book")
    http.post("/append?item=pen")
    assert http.get("/me").json == {"user": "alice", "data": {"theme": "dark", "items": ["book", "pen"]}}
    assert "Set-Cookie" not in http.get("/me").headers  # a read writes nothing
    assert [http.post("/count").json["visits"] for _ in range(3)] == [1, 2, 3]  # type: ignore[index]
    before = token_of(http)
    http.post("/rotate")
    assert token_of(http) != before
    assert store.get(token_of(http)).data["visits"] == 3  # type: ignore[union-attr]
    http.post("/login?user=bob")  # another user on the same browser: empty data
    assert http.get("/me").json == {"user": "bob", "data": {}}
    bob = token_of(http)
    assert http.post("/logout").json == {"user": None}
    assert store.get(bob) is None
    assert http.get_cookie("session") is None


def test_flask_visitor_data_browser_cookies_and_unknown_cookies(make_store: MakeStore) -> None:
    store = make_store()
    http = make_app(store).test_client()
    response = http.post("/login?user=carol&cart=book&remember=0")
    assert "Max-Age" not in response.headers["Set-Cookie"]  # a browser-session cookie
    assert http.get("/me").json == {"user": "carol", "data": {"cart": "book"}}
    http.set_cookie("session", "forged")
    response = http.get("/me")
    assert response.json == {"user": None, "data": {}}
    assert "session=;" in response.headers["Set-Cookie"]


def test_flask_same_site_none_needs_secure(make_store: MakeStore) -> None:
    http = make_app(make_store(), SESSION_COOKIE_SECURE=False, SESSION_COOKIE_SAMESITE="None").test_client()
    with pytest.raises(ValueError, match="requires SESSION_COOKIE_SECURE"):
        http.post("/login?user=alice")
