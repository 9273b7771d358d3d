"""FastAPI dependencies as `Annotated` aliases: the runtime, configuration, rate limiter and the
authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from actors.errors import Forbidden
from actors.ray.registry import Runtime
from serve_app.auth.principals import authenticate
from serve_app.auth.tokens import Principal, token_from
from serve_app.limits import RateLimiter, limiter_of
from serve_app.settings import ApiConfig


def get_runtime(request: Request) -> Runtime:
    """The replica's runtime (actor handles)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def get_api_config(request: Request) -> ApiConfig:
    """The REST layer's frozen configuration."""
    config: ApiConfig = request.app.state.api_config
    return config


def get_limiter(request: Request) -> RateLimiter:
    """The replica's rate limiter (Redis-backed or in-process)."""
    return limiter_of(request.app.state)


async def current_user(
    request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]
) -> Principal:
    """The caller, from the Bearer header or the cookie (401 otherwise); an admin claim counts
    only if the user table agrees."""
    return await authenticate(runtime, token_from(request.headers, request.cookies))


async def admin_user(user: Annotated[Principal, Depends(current_user)]) -> Principal:
    """The caller, who must be an admin (403 otherwise)."""
    if not user.is_admin:
        raise Forbidden("Admins only")
    return user


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ApiConfigDep = Annotated[ApiConfig, Depends(get_api_config)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]
CurrentUser = Annotated[Principal, Depends(current_user)]
AdminUser = Annotated[Principal, Depends(admin_user)]
