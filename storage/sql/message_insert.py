"""The message INSERT of a group-commit flush, written as SQL text once per shape.

SQLAlchemy's executemany path ("insertmanyvalues") rebuilds and type-processes every row's
parameter dict and, on PostgreSQL, renders a different statement for every batch size, which
asyncpg then prepares again. This module sends the same rows with far less Python per row:

* PostgreSQL: one constant statement, `INSERT … SELECT … FROM unnest($1::type[], …)`, one
  array per column (asyncpg encodes them in binary; the statement is prepared once);
* SQLite, MySQL/MariaDB: one multi-row `VALUES (…), (…)` statement per chunk of rows, its text
  cached by row count.

Rows are inserted in the given order (unnest and VALUES yield rows in order), so ids increase in
that order. Duplicates of a unique key (`row_key`, `(chat_id, client_msg_id)`) are skipped;
where the dialect can (SQLite, PostgreSQL, MariaDB >= 10.5) the statement returns
`row_key, id` of the rows it wrote, and the caller reads back whatever is missing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection

from storage.records import MessageRecord
from storage.sql.tables import ChatMessage, table_of

# Columns taken from the record, in statement order.
RECORD_COLUMNS = (
    "row_key", "client_msg_id", "is_bot", "message", "type", "category", "intermediate_steps",
    "files", "extra", "flow_id", "chat_id", "user_id", "source", "remark",
)  # fmt: skip
# Columns every new row starts with, written as SQL literals (no parameters per row).
FIXED_COLUMNS = {
    "comment": "NULL", "liked": "0", "copied": "0", "solved": "0", "sensitive_status": "1",
}  # fmt: skip
TIME_COLUMNS = ("create_time", "update_time")
# SQLite allows 32,766 parameters per statement; MySQL's packet size also bounds a statement.
MAX_VALUES_ROWS = 1000

Processor = Callable[[Any], Any]


def supports_returning(dialect: Dialect) -> bool:
    """True when an INSERT can return its rows: SQLite >= 3.35, PostgreSQL, MariaDB >= 10.5
    (SQLAlchemy reads the server version); MySQL has no INSERT … RETURNING."""
    return bool(dialect.insert_returning)


async def insert_messages(
    conn: AsyncConnection, messages: Sequence[MessageRecord], now: datetime
) -> dict[str, int]:
    """Insert `messages` (skipping duplicates) with `now` as their create/update time; return
    `row_key -> id` of the rows the database returned (only rows it inserted on SQLite and
    PostgreSQL; also existing rows on MariaDB; nothing without RETURNING)."""
    dialect = conn.dialect
    columns = _record_columns(dialect)
    wanted = {m.row_key for m in messages}
    ids: dict[str, int] = {}
    if dialect.name == "postgresql":
        ids.update(await _insert_unnest(conn, messages, columns, now))
    else:
        for start in range(0, len(messages), MAX_VALUES_ROWS):
            part = messages[start : start + MAX_VALUES_ROWS]
            ids.update(await _insert_values(conn, part, columns, now))
    # MariaDB returns the stored row of a duplicate, which may carry another row's key.
    return {key: id_ for key, id_ in ids.items() if key in wanted}


async def _insert_unnest(
    conn: AsyncConnection,
    messages: Sequence[MessageRecord],
    columns: tuple[tuple[str, Processor | None], ...],
    now: datetime,
) -> dict[str, int]:
    arrays = [_column_values(messages, name, proc) for name, proc in columns]
    result = await conn.exec_driver_sql(_unnest_sql(conn.dialect), (*arrays, now))
    return _returned_ids(result.all())


async def _insert_values(
    conn: AsyncConnection,
    messages: Sequence[MessageRecord],
    columns: tuple[tuple[str, Processor | None], ...],
    now: datetime,
) -> dict[str, int]:
    dialect = conn.dialect
    stamp = _time_processor(dialect)(now)
    params: list[Any] = []
    for m in messages:
        params += [_processed(getattr(m, name), proc) for name, proc in columns]
        params += (stamp, stamp)
    returning = supports_returning(dialect)
    result = await conn.exec_driver_sql(
        _values_sql(dialect, len(messages), returning), tuple(params)
    )
    return _returned_ids(result.all()) if returning else {}


def _returned_ids(rows: Sequence[Any]) -> dict[str, int]:
    return {row[0]: row[1] for row in rows}


def _column_values(
    messages: Sequence[MessageRecord], name: str, proc: Processor | None
) -> list[Any]:
    values = [getattr(m, name) for m in messages]
    return values if proc is None else [_processed(v, proc) for v in values]


def _processed(value: Any, proc: Processor | None) -> Any:
    return value if proc is None or value is None else proc(value)


def _record_columns(dialect: Dialect) -> tuple[tuple[str, Processor | None], ...]:
    """(column, the dialect's bind processor or None) for every record column."""
    table = table_of(ChatMessage)
    return tuple(
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
        for name in RECORD_COLUMNS
    )


def _time_processor(dialect: Dialect) -> Processor:
    proc = table_of(ChatMessage).c.create_time.type.dialect_impl(dialect).bind_processor(dialect)
    return proc if proc is not None else _identity


def _identity(value: Any) -> Any:
    return value


def _column_list(dialect: Dialect) -> str:
    quote = dialect.identifier_preparer.quote
    return ", ".join(quote(c) for c in (*RECORD_COLUMNS, *FIXED_COLUMNS, *TIME_COLUMNS))


@lru_cache(maxsize=8)
def _unnest_sql(dialect: Dialect) -> str:
    """PostgreSQL: one text for every batch size, so asyncpg prepares it once."""
    table = table_of(ChatMessage)
    arrays = ", ".join(
        f"${i}::{table.c[name].type.compile(dialect=dialect)}[]"
        for i, name in enumerate(RECORD_COLUMNS, start=1)
    )
    now = f"${len(RECORD_COLUMNS) + 1}::TIMESTAMP WITH TIME ZONE"
    fixed = ", ".join(FIXED_COLUMNS.values())
    return (
        f"INSERT INTO chatmessage ({_column_list(dialect)}) "
        f"SELECT u.*, {fixed}, {now}, {now} FROM unnest({arrays}) AS u "
        "ON CONFLICT DO NOTHING RETURNING row_key, id"
    )


@lru_cache(maxsize=512)
def _values_sql(dialect: Dialect, rows: int, returning: bool) -> str:
    """SQLite, MySQL/MariaDB: a multi-row VALUES statement for `rows` rows."""
    mark = {"qmark": "?", "format": "%s", "pyformat": "%s"}[dialect.paramstyle]
    marks = ", ".join([mark] * len(RECORD_COLUMNS))
    fixed = ", ".join(FIXED_COLUMNS.values())
    row = f"({marks}, {fixed}, {mark}, {mark})"
    values = ", ".join([row] * rows)
    conflict = (
        "ON CONFLICT DO NOTHING" if dialect.name == "sqlite" else "ON DUPLICATE KEY UPDATE id = id"
    )
    tail = " RETURNING row_key, id" if returning else ""
    return f"INSERT INTO chatmessage ({_column_list(dialect)}) VALUES {values} {conflict}{tail}"
