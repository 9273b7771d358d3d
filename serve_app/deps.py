"""FastAPI dependencies as `Annotated` aliases: the runtime and the authenticated caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from actors.registry import Runtime
from serve_app.auth import Principal, decode_token, token_from


def get_runtime(request: Request) -> Runtime:
    """The replica's runtime (actor handles)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


def current_user(request: Request, runtime: Annotated[Runtime, Depends(get_runtime)]) -> Principal:
    """The caller, from the Bearer header or the cookie; 401 otherwise."""
    token = token_from(request.headers, request.cookies)
    return decode_token(runtime.config.jwt_secret, token)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
CurrentUser = Annotated[Principal, Depends(current_user)]
