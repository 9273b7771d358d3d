"""Accounts hardening in process (issue 8): the generated JWT secret, login and registration
throttling per client address and per user name, the bounded argon2 pool, prod registration,
NFKC user names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from actors.errors import RateLimited
from serve_app.auth.passwords import PasswordHashing
from serve_app.auth.tokens import Principal, decode_token, issue_token
from serve_app.settings import ApiConfig
from tests.unit.rest.conftest import Api, make_api

# What `serve_app/settings.py` shipped as the dev secret before issue 8 (public in git history).
OLD_DEV_SECRET = "raychat-dev-secret-change-me-before-production"
PW = "secret-pw"


async def attempt(api: Api, path: str, name: str, password: str = PW, **headers: str) -> int:
    response = await api.client.post(
        f"/api/v1/user/{path}", json={"user_name": name, "password": password}, headers=headers
    )
    return response.status_code


@pytest.fixture
async def generated(tmp_path: Path) -> AsyncIterator[Api]:
    """An app started without RAYCHAT_JWT_SECRET."""
    async for made in make_api(tmp_path, ApiConfig(logins_per_minute=0), jwt_secret=None):
        yield made


async def test_without_a_configured_secret_the_database_secret_signs(generated: Api) -> None:
    await generated.register("ann")
    headers = await generated.login("ann")
    assert (await generated.client.get("/api/v1/user/info", headers=headers)).status_code == 200
    secret = await generated.runtime.storage.server_secret("jwt_secret")
    assert len(secret.encode()) >= 32
    token = headers["Authorization"].removeprefix("Bearer ")
    assert decode_token(secret, token).user_name == "ann"


async def test_a_token_signed_with_the_old_public_dev_secret_is_refused(generated: Api) -> None:
    user = await generated.register("root")
    assert user["role"] == "admin"
    forged = issue_token(OLD_DEV_SECRET, Principal(user["user_id"], "root", "admin"))
    response = await generated.client.get(
        "/api/v1/user/info", headers={"Authorization": f"Bearer {forged}"}
    )
    assert response.status_code == 401


async def test_the_generated_secret_survives_a_restart(tmp_path: Path) -> None:
    """A second app (a restart, another replica) on the same database accepts the first's token."""
    async for first in make_api(tmp_path, ApiConfig(logins_per_minute=0), jwt_secret=None):
        await first.register("ann")
        headers = await first.login("ann")
    async for second in make_api(tmp_path, ApiConfig(logins_per_minute=0), jwt_secret=None):
        response = await second.client.get("/api/v1/user/info", headers=headers)
        assert response.status_code == 200, response.text


@pytest.mark.filterwarnings("ignore:The HMAC key is 31 bytes")
def test_a_short_secret_verifies_nothing() -> None:
    token = issue_token("k" * 31, Principal(1, "x"))
    with pytest.raises(Exception, match="Invalid or expired token"):
        decode_token("k" * 31, token)


@pytest.fixture
async def throttled(tmp_path: Path) -> AsyncIterator[Api]:
    config = ApiConfig(logins_per_minute=3, logins_per_address_per_minute=8)
    async for made in make_api(tmp_path, config):
        yield made


async def test_logins_per_user_name_are_limited_with_retry_after(throttled: Api) -> None:
    await throttled.register("ann")
    # Successful logins never lock their user out: only failures count per name.
    assert [await attempt(throttled, "login", "ann") for _ in range(2)] == [200, 200]
    assert await attempt(throttled, "login", "ann", "wrong-pw") == 401
    assert await attempt(throttled, "register", "ann") == 409  # a taken name is a failure too
    assert await attempt(throttled, "login", "ann", "wrong-pw") == 401  # third failure
    response = await throttled.client.post(
        "/api/v1/user/login",
        json={"user_name": "ANN", "password": PW},  # case folded; even the right password
    )
    assert response.status_code == 429
    assert response.json()["status_code"] == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["data"]["scope"] == "logins_per_user_name"


async def test_logins_per_address_are_limited(throttled: Api) -> None:
    codes = [await attempt(throttled, "login", f"user-{i}") for i in range(9)]
    assert codes == [401] * 8 + [429]
    assert await attempt(throttled, "register", "fresh") == 429  # registration counts too


async def test_forwarded_for_is_ignored_unless_trusted(tmp_path: Path) -> None:
    for trusted in (False, True):
        config = ApiConfig(
            logins_per_minute=0, logins_per_address_per_minute=2, trust_x_forwarded_for=trusted
        )
        workdir = tmp_path / str(trusted)
        workdir.mkdir()
        async for api in make_api(workdir, config):
            codes = [
                await attempt(api, "login", "x", **{"X-Forwarded-For": f"10.0.0.{i}"})
                for i in range(3)
            ]
            assert codes == ([401] * 3 if trusted else [401, 401, 429])


async def test_zero_turns_the_login_limit_off(tmp_path: Path) -> None:
    config = ApiConfig(logins_per_minute=0, logins_per_address_per_minute=0)
    async for api in make_api(tmp_path, config):
        codes = {await attempt(api, "login", "same") for _ in range(12)}
        assert codes == {401}


async def test_hashing_pool_is_bounded() -> None:
    pool = PasswordHashing(workers=1, queue=1)
    try:
        results = await asyncio.gather(
            *(pool.hash(f"pw-{i}") for i in range(3)), return_exceptions=True
        )
        assert [type(r) for r in results[:2]] == [str, str]
        assert isinstance(results[2], RateLimited) and results[2].code == 429
        assert pool.admitted == 0
        assert await pool.verify(str(results[0]), "pw-0")  # usable after a refusal
    finally:
        pool.close()


async def test_prod_registration_never_makes_an_admin(tmp_path: Path) -> None:
    config = ApiConfig(first_user_admin=False, logins_per_minute=0)
    async for api in make_api(tmp_path, config):
        assert (await api.register("first"))["role"] == "user"


async def test_user_names_are_nfkc_normalized(api: Api) -> None:
    created = await api.register("\uff41\uff44\uff4d\uff49\uff4e")  # full-width "admin"
    assert created["user_name"] == "admin"
    response = await api.client.post(
        "/api/v1/user/register", json={"user_name": "admin", "password": PW}
    )
    assert response.status_code == 409
    assert await attempt(api, "login", "\uff41dmin") == 200
