"""JWT (HS256, PyJWT): the `sub` claim is a JSON string `{"user_id", "user_name", "role"}`."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import jwt

from actors.errors import Unauthorized

ALGORITHM = "HS256"
COOKIE_NAME = "access_token_cookie"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller."""

    user_id: int
    user_name: str
    role: str = "user"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def issue_token(secret: str, principal: Principal, ttl_s: int = 86_400) -> str:
    """A signed token for `principal`, valid for `ttl_s` seconds."""
    sub = json.dumps(
        {"user_id": principal.user_id, "user_name": principal.user_name, "role": principal.role}
    )
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl_s}, secret, algorithm=ALGORITHM)


def decode_token(secret: str, token: str) -> Principal:
    """Verify signature, algorithm (HS256 only: `alg: none` is refused) and expiry. A secret
    shorter than 32 bytes verifies nothing (`enforce_minimum_key_length`)."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            options={"require": ["exp", "sub"], "enforce_minimum_key_length": True},
        )
        sub = json.loads(claims["sub"])
        return Principal(
            user_id=_int(sub["user_id"]),
            user_name=str(sub["user_name"]),
            role=str(sub.get("role", "user")),
        )
    except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
        raise Unauthorized("Invalid or expired token") from exc


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("user_id must be an integer")
    return int(value)


TokenSource = Literal["header", "cookie", "query"]


def token_with_source(
    headers: Mapping[str, str], cookies: Mapping[str, str], query_token: str | None = None
) -> tuple[str, TokenSource]:
    """The caller's token and where it came from: Bearer header, then cookie, then
    (WebSockets) the `t` parameter. A browser sends the cookie on its own, so the WebSocket
    edge checks `Origin` for it (cross-site socket hijacking)."""
    header = headers.get("authorization", "")
    if header.lower().startswith("bearer ") and header[7:].strip():
        return header[7:].strip(), "header"
    if cookies.get(COOKIE_NAME):
        return cookies[COOKIE_NAME], "cookie"
    if query_token:
        return query_token, "query"
    raise Unauthorized("Missing token")


def token_from(
    headers: Mapping[str, str], cookies: Mapping[str, str], query_token: str | None = None
) -> str:
    """The caller's token: Bearer header, then cookie, then (WebSockets) the `t` parameter."""
    return token_with_source(headers, cookies, query_token)[0]
