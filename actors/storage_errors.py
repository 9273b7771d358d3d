"""Storage failures -> domain errors. The storage layer raises plain exceptions (ValueError for
bad input, SQLAlchemy errors, SchemaMismatch); the storage actor's methods translate them here,
so callers across Ray see a `RaychatError` with a stable code."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError

from actors.errors import Conflict, InvalidInput, RaychatError, StorageUnavailable
from storage.migrate import SchemaMismatch

P = ParamSpec("P")
R = TypeVar("R")


def to_domain_error(exc: Exception) -> RaychatError | None:
    """The domain error for a storage exception, or None to let it propagate unchanged."""
    if isinstance(exc, RaychatError):
        return exc
    if isinstance(exc, SchemaMismatch):
        return StorageUnavailable(str(exc))
    if isinstance(exc, ValueError):
        return InvalidInput(str(exc))
    if isinstance(exc, IntegrityError):
        return Conflict("A row with this key already exists")
    if isinstance(exc, DBAPIError | OSError):
        return StorageUnavailable(error=type(exc).__name__)
    return None


def domain_errors(method: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Decorate an async storage-actor method so storage failures leave it as domain errors."""

    @functools.wraps(method)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await method(*args, **kwargs)
        except Exception as exc:
            mapped = to_domain_error(exc)
            if mapped is None or mapped is exc:
                raise
            raise mapped from exc

    return wrapper
