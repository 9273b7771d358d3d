"""Accounts: registration, login and the caller's identity."""

from __future__ import annotations

import unicodedata

from pydantic import BaseModel, ConfigDict, Field, field_validator

from serve_app.schemas.text import RequestBody

USER_NAME_MAX = 128
PASSWORD_MAX = 256


def normalize_user_name(value: str) -> str:
    """NFKC-normalized and stripped, so look-alike spellings (full-width, ligatures,
    compatibility forms) of one name are one account. ValueError for empty or unprintable."""
    name = unicodedata.normalize("NFKC", value).strip()
    if not name or not name.isprintable():
        raise ValueError("user_name must be printable text, not only spaces")
    if len(name) > USER_NAME_MAX:
        raise ValueError(f"user_name must be at most {USER_NAME_MAX} characters")
    return name


class UserCreate(RequestBody):
    """`POST /api/v1/user/register` and `/login` body. The password's minimum length is a
    setting (`RAYCHAT_PASSWORD_MIN_LENGTH`), checked by the service."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"user_name": "alice", "password": "correct horse"}]},
    )

    user_name: str = Field(min_length=1, max_length=USER_NAME_MAX)
    password: str = Field(min_length=1, max_length=PASSWORD_MAX)

    @field_validator("user_name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        return normalize_user_name(value)


class UserPublic(BaseModel):
    """A user as other endpoints show it."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"user_id": 2, "user_name": "alice", "role": "user"}]}
    )

    user_id: int
    user_name: str
    role: str


class LoginPublic(BaseModel):
    """`/login` answer; the same token is set as the `access_token_cookie` cookie."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"user_id": 2, "user_name": "alice", "access_token": "eyJhbGciOi..."}]
        }
    )

    user_id: int
    user_name: str
    access_token: str
