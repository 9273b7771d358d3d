"""Accounts in process: first user admin, login and cookie, forged admin claims, settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from serve_app.auth.tokens import COOKIE_NAME, Principal, issue_token
from serve_app.settings import ApiConfig
from tests.unit.rest.conftest import SECRET, Api, make_api


async def test_first_user_is_admin_later_ones_are_not(api: Api) -> None:
    assert (await api.register("root"))["role"] == "admin"
    assert (await api.register("ann"))["role"] == "user"


async def test_taken_name_is_a_conflict_and_short_password_invalid(api: Api) -> None:
    await api.register("ann")
    again = await api.client.post(
        "/api/v1/user/register", json={"user_name": "ann", "password": "other-pw"}
    )
    assert again.status_code == 409 and again.json()["status_code"] == 409
    short = await api.client.post(
        "/api/v1/user/register", json={"user_name": "bob", "password": "12345"}
    )
    assert short.status_code == 422 and short.json()["data"]["min_length"] == 8


async def test_login_answers_token_and_sets_the_cookie(api: Api) -> None:
    created = await api.register("ann")
    response = await api.client.post(
        "/api/v1/user/login", json={"user_name": "ann", "password": "secret-pw"}
    )
    data = response.json()["data"]
    assert set(data) == {"user_id", "user_name", "access_token"}
    assert data["user_id"] == created["user_id"]
    cookie = response.cookies[COOKIE_NAME]
    assert cookie == data["access_token"]
    assert "httponly" in response.headers["set-cookie"].lower()
    api.client.cookies.set(COOKIE_NAME, cookie)
    me = await api.client.get("/api/v1/user/info")
    assert me.json()["data"] == {"user_id": created["user_id"], "user_name": "ann", "role": "admin"}


@pytest.mark.parametrize("name, password", [("ann", "wrong-pw"), ("nobody", "secret-pw")])
async def test_bad_login_is_401_with_one_message(api: Api, name: str, password: str) -> None:
    await api.register("ann")
    response = await api.client.post(
        "/api/v1/user/login", json={"user_name": name, "password": password}
    )
    assert response.status_code == 401
    assert response.json()["status_message"] == "Invalid user name or password"
    assert COOKIE_NAME not in response.cookies


async def test_account_without_password_cannot_log_in(api: Api) -> None:
    await api.runtime.storage.ensure_user("demo", "user", "")
    response = await api.client.post(
        "/api/v1/user/login", json={"user_name": "demo", "password": "anything"}
    )
    assert response.status_code == 401


async def test_forged_admin_claim_is_not_admin(api: Api) -> None:
    await api.register("root")
    ann = await api.register("ann")
    forged = issue_token(SECRET, Principal(ann["user_id"], "ann", "admin"))
    headers = {"Authorization": f"Bearer {forged}"}
    me = await api.client.get("/api/v1/user/info", headers=headers)
    assert me.json()["data"]["role"] == "user"
    audit = await api.client.get("/api/v1/audit/session", headers=headers)
    assert audit.status_code == 403
    root = await api.login("root")
    assert (await api.client.get("/api/v1/audit/session", headers=root)).status_code == 200


@pytest.fixture
async def closed(tmp_path: Path) -> AsyncIterator[Api]:
    async for made in make_api(tmp_path, ApiConfig(allow_registration=False)):
        yield made


async def test_registration_can_be_disabled(closed: Api) -> None:
    response = await closed.client.post(
        "/api/v1/user/register", json={"user_name": "ann", "password": "secret-pw"}
    )
    assert response.status_code == 403
    assert await closed.runtime.storage.get_user_by_name("ann") is None
