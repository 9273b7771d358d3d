"""Accounts (API.md §1 "Users"): register, login, logout, who am I."""

from __future__ import annotations

from fastapi import APIRouter, Response

from serve_app.auth import COOKIE_NAME
from serve_app.deps import ApiConfigDep, CurrentUser, RuntimeDep
from serve_app.schemas.envelope import CONFLICT, FORBIDDEN, INVALID, UNAUTHORIZED, Envelope, ok
from serve_app.schemas.users import LoginPublic, UserCreate, UserPublic
from serve_app.services.users import do_login, do_register

router = APIRouter(prefix="/api/v1/user", tags=["users"])


@router.post("/register", responses={**FORBIDDEN, **CONFLICT, **INVALID})
async def register(
    runtime: RuntimeDep, config: ApiConfigDep, body: UserCreate
) -> Envelope[UserPublic]:
    """*Public.* Create an account (the first account of a database becomes admin). 403 when
    registration is disabled (`RAYCHAT_ALLOW_REGISTRATION=false`), 409 for a taken name."""
    return ok(await do_register(runtime, config, body))


@router.post("/login", responses={**UNAUTHORIZED, **INVALID})
async def login(
    runtime: RuntimeDep, config: ApiConfigDep, body: UserCreate, response: Response
) -> Envelope[LoginPublic]:
    """*Public.* Check the password; answer a token and set it as the `access_token_cookie`
    cookie (HttpOnly, SameSite=Lax)."""
    data = await do_login(runtime, config, body)
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
