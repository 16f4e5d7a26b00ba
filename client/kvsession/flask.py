"""A Flask session interface on ``SessionStore`` (blocking): server-side sessions with the same
guarantees as the ASGI middleware (docs/sessions.md, "Flask").

    from kvsession import SessionStore
    from kvsession.flask import KvSessionInterface

    app.session_interface = KvSessionInterface(SessionStore.from_url("redis://127.0.0.1:6379/0"))

    @app.post("/login")
    def login():
        session.login(user_id)          # flask.session is a kvsession.web.SessionState
        session["theme"] = "dark"

Cookie name, domain, path, Secure, HttpOnly and SameSite come from the app's ``SESSION_COOKIE_*``
settings, except that an unset SameSite means Lax (Flask's default is not Secure: set
``SESSION_COOKIE_SECURE = True`` in production).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin

from kvsession.model import Session
from kvsession.store import SessionStore
from kvsession.web import Outcome, SessionState, cookie_max_age, grace_seconds, run_plan

DEFAULT_ROTATION_GRACE = 10.0


class FlaskSession(SessionState, SessionMixin):
    """``flask.session``: the request's session on a blocking ``SessionStore``."""

    def __init__(self, session: Session | None, token: str | None, store: SessionStore, rotation_grace: float) -> None:
        super().__init__(session, token, rotation_grace)
        self._store = store

    def increment(self, key: str, by: int = 1) -> int:
        """Add ``by`` to an integer in the session, atomically, at once; the new value."""
        value: int = run_plan(self._store, self.increment_plan(key, by))
        return value


class KvSessionInterface(SessionInterface):
    def __init__(
        self, store: SessionStore, *, remember: bool = True, rotation_grace: float | timedelta = DEFAULT_ROTATION_GRACE
    ) -> None:
        self.store = store
        self.remember = remember
        self.rotation_grace = grace_seconds(rotation_grace)

    def open_session(self, app: Flask, request: Request) -> FlaskSession:
        token = request.cookies.get(self.get_cookie_name(app))
        session = self.store.get(token) if token else None
        return FlaskSession(session, token or None, self.store, self.rotation_grace)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, FlaskSession):
            return
        outcome: Outcome = run_plan(self.store, session.commit_plan(self.remember))
        if outcome is None and session.session is None and session.token is not None:
            outcome = run_plan(self.store, session.gone_plan(session.token))  # a cookie naming no session
        if outcome is None:
            return
        options: dict[str, Any] = {
            "domain": self.get_cookie_domain(app),
            "path": self.get_cookie_path(app),
            "secure": self.get_cookie_secure(app),
            "httponly": self.get_cookie_httponly(app),
            "samesite": self.get_cookie_samesite(app) or "Lax",  # Flask's default sets no SameSite
        }
        if str(options["samesite"]).lower() == "none" and not options["secure"]:
            raise ValueError("SESSION_COOKIE_SAMESITE='None' requires SESSION_COOKIE_SECURE=True")
        response.vary.add("Cookie")
        name = self.get_cookie_name(app)
        if outcome[0] == "clear":
            response.delete_cookie(name, **options)
            return
        response.set_cookie(name, outcome[1].token or "", max_age=cookie_max_age(outcome[1]), **options)
