"""The response envelope (API.md §1) and the shared wire types."""

from __future__ import annotations

import builtins
from datetime import date, datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from storage.records import iso

T = TypeVar("T")

# Times leave as ISO 8601 with an explicit offset (`+00:00`); naive database values are UTC.
IsoTime = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "date-time", "example": "2026-05-01T12:00:00+00:00"}
    ),
]


class Envelope(BaseModel, Generic[T]):
    """Every JSON body: `{status_code, status_message, data}`; 200/"SUCCESS" on success."""

    status_code: int = 200
    status_message: str = "SUCCESS"
    data: T


class ErrorEnvelope(BaseModel):
    """An error body: the business code (API.md §6), a message, and structured details."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status_code": 422,
                    "status_message": "Invalid input",
                    "data": {
                        "errors": [
                            {"loc": ["query", "limit"], "msg": "...", "type": "less_than_equal"}
                        ]
                    },
                }
            ]
        }
    )

    status_code: int
    status_message: str
    data: dict[str, Any] | None = None


class PageOf(BaseModel, Generic[T]):
    """A page of a list and the total number of matches."""

    list: builtins.list[T]
    total: int = Field(ge=0)


class BishengPageOf(PageOf[T], Generic[T]):
    """A page with its items also under `data`, where Bisheng's platform reads them."""

    data: builtins.list[T]


def ok(data: T) -> Envelope[T]:
    """A success envelope."""
    return Envelope[T](data=data)


Responses = dict[int | str, dict[str, Any]]


def _error(code: int, description: str) -> Responses:
    return {code: {"model": ErrorEnvelope, "description": description}}


UNAUTHORIZED = _error(401, "Missing, invalid or expired token")
FORBIDDEN = _error(403, "Not the caller's resource (or an admin-only endpoint)")
NOT_FOUND = _error(404, "The resource does not exist")
CONFLICT = _error(409, "Conflict with the resource's current state")
INVALID = _error(422, "Invalid input; `data.errors` or `data` says what")
RATE_LIMITED = _error(429, "Rate limited; see the Retry-After header")

# The usual answers of an authenticated endpoint that reads or changes one object.
OBJECT_ERRORS: Responses = {
    **UNAUTHORIZED,
    **FORBIDDEN,
    **NOT_FOUND,
    **INVALID,
}


def _day_or_time(value: object) -> object:
    # `YYYY-MM-DD` is a day; anything longer is an ISO 8601 time. Parsed here because a
    # `date | datetime` union would read a bare day as midnight, losing "the whole day".
    if isinstance(value, str):
        text = value.strip()
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    return value


DayOrTime = Annotated[
    date | datetime,
    BeforeValidator(_day_or_time),
    WithJsonSchema(
        {
            "type": "string",
            "description": "a UTC day `YYYY-MM-DD` (an end day is included) or an ISO 8601 time",
            "examples": ["2026-05-01", "2026-05-01T12:00:00+00:00"],
        }
    ),
]
