"""Accounts (API.md §1 "Users"): register, login, logout, who am I."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from actors.errors import Conflict, RaychatError, Unauthorized
from serve_app.auth.passwords import PasswordHashing
from serve_app.auth.tokens import COOKIE_NAME
from serve_app.deps import ApiConfigDep, CurrentUser, LimiterDep, RuntimeDep
from serve_app.limits import RateLimiter
from serve_app.schemas.envelope import (
    CONFLICT,
    FORBIDDEN,
    INVALID,
    RATE_LIMITED,
    UNAUTHORIZED,
    Envelope,
    ok,
)
from serve_app.schemas.users import LoginPublic, UserCreate, UserPublic
from serve_app.services.users import check_registration_open, do_login, do_register
from serve_app.settings import ApiConfig

router = APIRouter(prefix="/api/v1/user", tags=["users"])


def client_address(request: Request, config: ApiConfig) -> str:
    """The address login throttling counts: the TCP peer, or with `trust_x_forwarded_for` the
    last `X-Forwarded-For` entry (the one the nearest proxy added; clients forge the others)."""
    if config.trust_x_forwarded_for:
        forwarded = request.headers.get("x-forwarded-for", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return request.client.host if request.client else "unknown"


def get_passwords(request: Request) -> PasswordHashing:
    """The replica's bounded argon2 pool."""
    passwords: PasswordHashing = request.app.state.passwords
    return passwords


PasswordsDep = Annotated[PasswordHashing, Depends(get_passwords)]


@asynccontextmanager
async def _attempt(
    limiter: RateLimiter, address: str, user_name: str, failure: type[RaychatError]
) -> AsyncIterator[None]:
    """One login or registration attempt: counted for `address` and refused (429) when the
    address or the name's failures are over their limits; a `failure` (wrong password, taken
    name) counts against the case-folded name."""
    name = user_name.casefold()
    await limiter.check_login(address, name)
    try:
        yield
    except failure:
        await limiter.login_failed(name)
        raise


@router.post("/register", responses={**FORBIDDEN, **CONFLICT, **INVALID, **RATE_LIMITED})
async def register(
    runtime: RuntimeDep,
    config: ApiConfigDep,
    limiter: LimiterDep,
    passwords: PasswordsDep,
    body: UserCreate,
    request: Request,
) -> Envelope[UserPublic]:
    """*Public.* Create an account (dev: the first account of a database becomes admin; prod:
    never). 403 when registration is disabled (`RAYCHAT_ALLOW_REGISTRATION`, off in prod), 409
    for a taken name, 429 (`Retry-After`) over the attempts of one client address or the
    failures on one user name per minute (`RAYCHAT_RATE_LOGINS_PER_MINUTE`)."""
    check_registration_open(config)
    async with _attempt(limiter, client_address(request, config), body.user_name, Conflict):
        return ok(await do_register(runtime, config, body, passwords))


@router.post("/login", responses={**UNAUTHORIZED, **INVALID, **RATE_LIMITED})
async def login(
    runtime: RuntimeDep,
    config: ApiConfigDep,
    limiter: LimiterDep,
    passwords: PasswordsDep,
    body: UserCreate,
    request: Request,
    response: Response,
) -> Envelope[LoginPublic]:
    """*Public.* Check the password; answer a token and set it as the `access_token_cookie`
    cookie (HttpOnly, SameSite=Lax, Secure in prod). 429 (`Retry-After`) over the attempts of
    one client address or the failures on one user name per minute
    (`RAYCHAT_RATE_LOGINS_PER_MINUTE`): a user's own successful logins never lock them out."""
    async with _attempt(limiter, client_address(request, config), body.user_name, Unauthorized):
        data = await do_login(runtime, config, body, passwords)
    response.set_cookie(
        COOKIE_NAME,
        data.access_token,
        max_age=config.jwt_expire_s,
        httponly=True,
        samesite="lax",
        secure=config.cookie_secure,
    )
    return ok(data)


@router.post("/logout")
async def logout(response: Response) -> Envelope[None]:
    """*Public.* Clear the cookie (a token stays valid until it expires)."""
    response.delete_cookie(COOKIE_NAME)
    return ok(None)


@router.get("/info", responses=UNAUTHORIZED)
async def user_info(user: CurrentUser) -> Envelope[UserPublic]:
    """The caller, with the role the server grants (admin only if the user table agrees)."""
    return ok(UserPublic(user_id=user.user_id, user_name=user.user_name, role=user.role))
