"""The few places where SQL differs between SQLite, PostgreSQL and MySQL/MariaDB."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, String, Table, any_, bindparam, cast, func, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.dml import Insert
from sqlalchemy.sql.elements import ColumnElement


def insert_ignoring_duplicates(dialect: str, table: Table) -> Insert:
    """An INSERT that skips rows violating any unique key (idempotent retries).

    MySQL has no DO NOTHING: the duplicate row's primary key is assigned to itself, a no-op
    (INSERT IGNORE would also turn truncation errors into warnings)."""
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        pk = next(iter(table.primary_key.columns))
        return mysql.insert(table).on_duplicate_key_update({pk.name: pk})
    raise ValueError(f"unsupported dialect {dialect}")


def upsert_touching(dialect: str, table: Table) -> Insert:
    """An INSERT of new rows that, for a row whose primary key exists, only sets
    `update_time` to the new row's (a session that gets a message becomes the newest)."""
    if dialect in ("sqlite", "postgresql"):
        insert = sqlite.insert(table) if dialect == "sqlite" else postgresql.insert(table)
        return insert.on_conflict_do_update(
            index_elements=list(table.primary_key.columns),
            set_={"update_time": insert.excluded.update_time},
        )
    if dialect in ("mysql", "mariadb"):
        upsert = mysql.insert(table)
        return upsert.on_duplicate_key_update(update_time=upsert.inserted.update_time)
    raise ValueError(f"unsupported dialect {dialect}")


def chat_id_in(dialect: str, column: ColumnElement[str], values: list[str]) -> ColumnElement[bool]:
    """`column IN values`. PostgreSQL gets `= ANY(array)`: one statement text for any number of
    values, so asyncpg prepares it once instead of once per list length."""
    if dialect == "postgresql":
        return column == any_(bindparam("chat_ids", values, type_=postgresql.ARRAY(String)))
    return column.in_(values)


def utc_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a stored time, for GROUP BY."""
    if dialect == "postgresql":
        # timestamptz -> date uses the session time zone; pin it to UTC.
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)


def day_text(value: date | datetime | str) -> str:
    """`YYYY-MM-DD` from what `utc_day` returns (a date, or a string on SQLite)."""
    if isinstance(value, date | datetime):
        return value.strftime("%Y-%m-%d")
    return str(value)[:10]


async def lock_row_for_write(conn: AsyncConnection, table: Table, key: Any, value: Any) -> None:
    """Make the following SELECT ... FOR UPDATE safe on SQLite too.

    PostgreSQL and MySQL lock the row with FOR UPDATE. SQLite has no row locks and ignores FOR
    UPDATE, and its driver starts a transaction only at the first write: a no-op UPDATE first
    takes the database write lock, so nobody writes between our read and our writes."""
    if conn.dialect.name != "sqlite":
        return
    columns = {key.name: key}
    if "update_time" in table.c:
        columns["update_time"] = table.c.update_time  # keep it: nothing changed yet
    await conn.execute(update(table).where(key == value).values(columns))
