"""The Django session engine (SESSION_ENGINE = "kvsession.django"), with Django's own test client and
session middleware, on kvserver and redis-server through the built-in client, redis-py and
valkey-py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.test import Client
from django.test.utils import override_settings
from django.urls import path

from kvsession import SessionStore
from tests.sessions.conftest import MakeStore

USER_KEY = "_auth_user_id"  # django.contrib.auth.SESSION_KEY


def login(request: HttpRequest) -> JsonResponse:
    """What django.contrib.auth.login does to the session."""
    user = request.GET["user"]
    if request.session.get(USER_KEY, user) != user:
        request.session.flush()  # another user: start from empty data
    else:
        request.session.cycle_key()  # the same user, or an anonymous visitor: keep the data
    request.session[USER_KEY] = user
    return JsonResponse({"user": user})


def logout(request: HttpRequest) -> JsonResponse:
    request.session.flush()
    return JsonResponse({"user": request.session.get(USER_KEY)})


def me(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"data": dict(request.session.items())})


def write(request: HttpRequest) -> JsonResponse:
    request.session[request.GET["key"]] = request.GET["value"]
    return JsonResponse({"ok": True})


BARRIER = threading.Barrier(2, timeout=10)


def write_together(request: HttpRequest) -> JsonResponse:
    """Both requests have loaded the session before either writes: a stale snapshot each."""
    assert USER_KEY in request.session
    BARRIER.wait()
    request.session[request.GET["key"]] = request.GET["value"]
    return JsonResponse({"ok": True})


urlpatterns = [
    path("write-together", write_together),
    path("login", login),
    path("logout", logout),
    path("me", me),
    path("write", write),
]

if not settings.configured:
    settings.configure(
        SECRET_KEY="tests-only",
        ROOT_URLCONF=__name__,
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
        INSTALLED_APPS=["django.contrib.sessions"],
        SESSION_ENGINE="kvsession.django",
        SESSION_COOKIE_SECURE=True,
        ALLOWED_HOSTS=["testserver"],
        DATABASES={},
    )
    django.setup()


@pytest.fixture
def kv_store(make_store: MakeStore) -> Iterator[SessionStore]:
    store = make_store()
    with override_settings(SESSION_KVSERVER_STORE=store):
        yield store


def cookie(http: Client) -> str:
    return str(http.cookies["sessionid"].value)


def test_django_anonymous_visitor_login_and_another_user(kv_store: SessionStore) -> None:
    http = Client(secure=True)
    http.get("/write", {"key": "cart", "value": "book"})  # an anonymous visitor's session
    anonymous = cookie(http)
    stored = kv_store.get(anonymous)
    assert stored is not None
    assert stored.user_id.startswith("anonymous:")
    http.get("/login", {"user": "alice"})
    alice = cookie(http)
    assert alice != anonymous
    assert http.get("/me").json() == {"data": {"cart": "book", USER_KEY: "alice"}}  # carried to the login
    assert [s.user_id for s in kv_store.list("alice")] == ["alice"]
    assert kv_store.get(anonymous) is None  # its visitor logged in: it is gone (within the grace: replaced)
    http.get("/write", {"key": "note", "value": "alice's"})
    http.get("/login", {"user": "alice"})  # again: the data stays, the token changes
    assert cookie(http) != alice
    assert http.get("/me").json()["data"]["note"] == "alice's"
    http.get("/login", {"user": "bob"})  # another user on the same browser: empty data
    assert http.get("/me").json() == {"data": {USER_KEY: "bob"}}
    bob = cookie(http)
    http.get("/logout")
    assert kv_store.get(bob) is None
    assert kv_store.list("alice") == []


def test_django_concurrent_writes_of_different_keys_are_kept(kv_store: SessionStore) -> None:
    first, second = Client(secure=True), Client(secure=True)
    first.get("/login", {"user": "carol"})
    second.cookies["sessionid"] = cookie(first)
    threads = [
        threading.Thread(target=client.get, args=("/write-together", {"key": key, "value": value}))
        for client, key, value in ((first, "a", "1"), (second, "b", "2"))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert kv_store.get(cookie(first)).data == {USER_KEY: "carol", "a": "1", "b": "2"}  # type: ignore[union-attr]


def test_django_unknown_cookie_is_a_new_session(kv_store: SessionStore) -> None:
    http = Client(secure=True)
    http.cookies["sessionid"] = "x" * 40
    response: Any = http.get("/me")
    assert response.json() == {"data": {}}
