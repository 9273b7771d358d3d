"""Migrations: head matches the tables on every SQL backend; the startup check initializes an
empty database and refuses an unknown one with a message saying how to migrate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, text

from storage.migrate import (
    SchemaMismatch,
    SchemaState,
    SchemaStatus,
    check_schema,
    head_revision,
    schema_status,
)
from storage.sql import SqlRepository
from storage.sql.engine import make_engine
from storage.sql.tables import Base


def _differences(conn: Connection) -> list[Any]:
    def ours(name: str | None, type_: str, _parent: Any) -> bool:
        # Test databases are shared: compare only raychat's tables.
        return type_ != "table" or name in Base.metadata.tables

    context = MigrationContext.configure(conn, opts={"compare_type": False, "include_name": ours})
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_tables(sql_repo: SqlRepository) -> None:
    async with sql_repo.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []
    status = await schema_status(sql_repo.engine)
    assert status.state is SchemaState.CURRENT and status.revision == head_revision()


async def test_empty_database_is_initialized_to_head(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert (await schema_status(engine)).state is SchemaState.EMPTY
    status = await check_schema(engine)
    assert status.state is SchemaState.CURRENT
    assert (await check_schema(engine)).state is SchemaState.CURRENT  # idempotent
    with pytest.raises(SchemaMismatch, match="raychat migrate"):
        await check_schema(
            make_engine(f"sqlite:///{tmp_path / 'other.db'}"), initialize_empty=False
        )
    await engine.dispose()


async def test_unknown_revision_and_unversioned_tables_are_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'future.db'}")
    await check_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    with pytest.raises(SchemaMismatch, match=r"f00d is unknown.*raychat migrate"):
        await check_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE alembic_version"))
    with pytest.raises(SchemaMismatch, match=r"no migration history.*raychat migrate"):
        await check_schema(engine)
    await engine.dispose()


def test_an_older_revision_asks_for_raychat_migrate() -> None:
    problem = SchemaStatus(SchemaState.OLDER, "0000", head_revision()).problem()
    assert problem is not None and "run `raychat migrate`" in problem
    assert SchemaStatus(SchemaState.CURRENT, "x", "x").problem() is None


def test_raychat_migrate_brings_a_database_to_head(tmp_path: Path) -> None:
    from serve_app.cli.main import main

    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["migrate", "--database-url", url]) == 0
    assert main(["migrate", "--database-url", url]) == 0  # nothing left to do

    async def state() -> SchemaState:
        engine = make_engine(url)
        try:
            return (await schema_status(engine)).state
        finally:
            await engine.dispose()

    import asyncio

    assert asyncio.run(state()) is SchemaState.CURRENT
