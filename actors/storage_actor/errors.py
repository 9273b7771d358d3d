"""Storage failures -> domain errors. The storage layer raises plain exceptions (ValueError for
bad input, SQLAlchemy errors, SchemaMismatch); the storage actor's methods translate them here,
so callers across Ray see a `RaychatError` with a stable code.

Only our own `ValueError`s (raised by `storage/` with a client-safe message) keep their text; a
driver's or codec's error (a lone surrogate, a NUL on PostgreSQL, a value out of range) becomes a
generic message, so no driver text reaches a client. A timeout anywhere on the way to the
database (pool, statement, connection) is `StorageUnavailable` (503 at the edge).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, ParamSpec, TypeVar

from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeout

from actors.errors import Conflict, InvalidInput, RaychatError, StorageUnavailable
from storage.migrate import SchemaMismatch

P = ParamSpec("P")
R = TypeVar("R")

BAD_VALUE_MESSAGE = "A value cannot be stored (invalid text or number out of range)"
# SQLSTATE classes: 22 data exception, 23 integrity violation (the row's fault); 08 connection,
# 53 insufficient resources, 57 operator intervention (statement timeout, shutdown), 40
# transaction rollback (the database's state, not the row's).
_ROW_SQLSTATES = ("22", "23")
_UNAVAILABLE_SQLSTATES = ("08", "40", "53", "57")


def _sqlstate(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code if isinstance(code, str) else ""


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database cannot be reached or did not answer in time (not
    that one row is bad)."""
    if isinstance(exc, StorageUnavailable | SchemaMismatch | PoolTimeout | TimeoutError | OSError):
        return True
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    return isinstance(exc, DBAPIError) and _sqlstate(exc).startswith(_UNAVAILABLE_SQLSTATES)


def is_row_error(exc: BaseException) -> bool:
    """True when a failed batch may be retried op by op: anything but unavailability."""
    return not is_unavailable(exc)


def to_domain_error(exc: Exception) -> RaychatError | None:
    """The domain error for a storage exception, or None to let it propagate unchanged."""
    if isinstance(exc, RaychatError):
        return exc
    if isinstance(exc, SchemaMismatch):
        return StorageUnavailable(str(exc))
    if type(exc) is ValueError:  # ours, from storage/: the message is client-safe
        return InvalidInput(str(exc))
    if isinstance(exc, ValueError | OverflowError | DataError):  # codec/driver text: not shown
        return InvalidInput(BAD_VALUE_MESSAGE)
    if isinstance(exc, IntegrityError):
        return Conflict("A row with this key already exists")
    if isinstance(exc, DBAPIError) and _sqlstate(exc).startswith(_ROW_SQLSTATES):
        return InvalidInput(BAD_VALUE_MESSAGE)
    if isinstance(exc, DBAPIError | OSError | PoolTimeout | TimeoutError):
        return StorageUnavailable(error=type(exc).__name__)
    return None


def domain_errors(method: Callable[P, Awaitable[R]]) -> Callable[P, Coroutine[Any, Any, R]]:
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
