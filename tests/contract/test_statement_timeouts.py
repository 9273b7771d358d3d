"""Every statement has a deadline on every SQL backend (review §10): a table locked by another
connection makes a write end with a timeout (mapped to StorageUnavailable) within seconds, and
the same engine works once the lock is gone."""

from __future__ import annotations

import time

from sqlalchemy import text

from actors.errors import StorageUnavailable
from actors.storage_actor.errors import to_domain_error
from storage.records import WriteBatch
from storage.sql import SqlRepository
from storage.sql.engine import make_engine
from tests.contract.conftest import message, session

LOCKS = {
    "postgresql": ("LOCK TABLE chatmessage IN ACCESS EXCLUSIVE MODE", None),
    "mysql": ("LOCK TABLES chatmessage WRITE", "UNLOCK TABLES"),
    "sqlite": ("BEGIN EXCLUSIVE", None),
}


async def test_a_locked_table_ends_the_statement_in_time(sql_repo: SqlRepository) -> None:
    url = sql_repo.engine.url.render_as_string(hide_password=False)
    bounded = SqlRepository(make_engine(url, statement_timeout_s=1.0, pool_timeout_s=1.0))
    lock, unlock = LOCKS[sql_repo.engine.dialect.name]
    try:
        async with sql_repo.engine.connect() as holder:
            if sql_repo.engine.dialect.name == "sqlite":
                await holder.exec_driver_sql(lock)
            else:
                await holder.begin()
                await holder.execute(text(lock))
            started = time.monotonic()
            try:
                await bounded.bulk_write(WriteBatch([message("c1", "blocked")], [session("c1")]))
                raise AssertionError("the write went through a locked table")
            except Exception as exc:
                assert isinstance(to_domain_error(exc), StorageUnavailable), repr(exc)
            assert time.monotonic() - started < 5.0
            if unlock:
                await holder.execute(text(unlock))
            await holder.rollback()
        ids = await bounded.bulk_write(WriteBatch([message("c1", "after")], [session("c1")]))
        assert len(ids) == 1
    finally:
        await bounded.close()
