"""Engine construction: plain database URLs become their async-driver form."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgres": "postgresql+asyncpg",
    "mysql": "mysql+aiomysql",
    "mariadb": "mysql+aiomysql",
}


def to_async_url(url: str) -> str:
    """Map `sqlite:///x.db`, `postgresql://...`, `mysql://...` to the async driver we ship."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if parsed.drivername in _ASYNC_DRIVERS:
        parsed = parsed.set(drivername=_ASYNC_DRIVERS[parsed.drivername])
    elif backend not in ("sqlite", "postgresql", "mysql"):
        raise ValueError(f"unsupported database backend {backend!r} in RAYCHAT_DATABASE_URL")
    if parsed.get_backend_name() == "mysql" and "charset" not in parsed.query:
        parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run while the storage actor commits; NORMAL sync is durable in WAL mode
    # against process crashes (the failure we design for) and much faster than FULL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _timeout_connect_args(backend: str, statement_timeout_s: float) -> dict[str, Any]:
    """Driver arguments that bound every statement (0 = no bound): asyncpg's client-side
    `command_timeout` (a blackholed connection) plus the server's `statement_timeout` (a lock
    wait); SQLite's busy timeout; aiomysql's connect timeout (MariaDB/MySQL statement limits
    are set per connection in `_mysql_statement_limit`)."""
    if statement_timeout_s <= 0:
        return {}
    if backend == "postgresql":
        return {
            "command_timeout": statement_timeout_s,
            "timeout": statement_timeout_s,  # connecting
            "server_settings": {"statement_timeout": str(int(statement_timeout_s * 1000))},
        }
    if backend == "sqlite":
        return {"timeout": statement_timeout_s}
    return {"connect_timeout": max(1, int(statement_timeout_s))}


def _mysql_statement_limit(statement_timeout_s: float) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # MariaDB: max_statement_time (seconds, every statement); MySQL: max_execution_time
        # (milliseconds, SELECTs). Whichever the server knows is set; the other fails quietly.
        cursor = dbapi_connection.cursor()
        for statement in (
            f"SET SESSION max_statement_time={statement_timeout_s:.3f}",
            f"SET SESSION max_execution_time={int(statement_timeout_s * 1000)}",
        ):
            try:
                cursor.execute(statement)
                break
            except Exception:  # the other server kind's variable
                continue
        cursor.close()

    return on_connect


def is_in_memory(url: str) -> bool:
    """True for an in-memory SQLite URL (one static connection: one engine must serve all)."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and parsed.database in (None, "", ":memory:")


def make_engine(
    url: str,
    statement_timeout_s: float = 0.0,
    pool_timeout_s: float = 0.0,
    pool_size: int | None = None,
) -> AsyncEngine:
    """An AsyncEngine for `url`; SQLite gets WAL mode on every connection. With timeouts (0 =
    none), every statement and every wait for a pooled connection is bounded; a timeout raises
    (mapped to StorageUnavailable by `actors.storage_actor.errors`). `pool_size` fixes the pool at
    that many connections (no overflow), e.g. for the group-commit flusher's own pool."""
    parsed = make_url(to_async_url(url))
    backend = parsed.get_backend_name()
    options: dict[str, Any] = {"pool_pre_ping": True}
    connect_args = _timeout_connect_args(backend, statement_timeout_s)
    if connect_args:
        options["connect_args"] = connect_args
    in_memory = is_in_memory(url)
    if pool_timeout_s > 0 and not in_memory:  # an in-memory SQLite has one static connection
        options["pool_timeout"] = pool_timeout_s
    if pool_size is not None and not in_memory:
        options.update(pool_size=pool_size, max_overflow=0)
    engine = create_async_engine(to_async_url(url), **options)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    if engine.dialect.name in ("mysql", "mariadb") and statement_timeout_s > 0:
        event.listen(engine.sync_engine, "connect", _mysql_statement_limit(statement_timeout_s))
    return engine
