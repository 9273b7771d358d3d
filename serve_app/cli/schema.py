"""The database schema from the command line: `raychat migrate`, and the check `raychat serve`
makes before it starts anything."""

from __future__ import annotations

import asyncio
import logging
import sys

from sqlalchemy.exc import DBAPIError

from serve_app.settings import Settings
from storage.migrate import SchemaState, SchemaStatus, schema_status, upgrade_to_head
from storage.sql import make_engine

log = logging.getLogger("raychat")


def migrate_command(settings: Settings) -> int:
    """`raychat migrate`: apply every pending Alembic migration (exit 2 when the database
    cannot be migrated, with the reason)."""
    url = settings.absolute_database_url()

    async def run() -> SchemaStatus:
        engine = make_engine(url)
        try:
            status = await schema_status(engine)
            if status.state is SchemaState.UNKNOWN:
                return status
            return await upgrade_to_head(engine)
        finally:
            await engine.dispose()

    status = asyncio.run(run())
    if status.state is not SchemaState.CURRENT:
        print(f"raychat migrate: {status.problem()}", file=sys.stderr)
        return 2
    print(
        f"schema is up to date (revision {status.revision}) at {settings.printable_database_url()}"
    )
    return 0


def schema_problem(settings: Settings) -> str | None:
    """Why the server must not start on this database, or None. An empty database is fine
    (the storage actor initializes it); an unreachable one is left to `/health` to report."""

    async def run() -> str | None:
        engine = make_engine(settings.absolute_database_url())
        try:
            return (await schema_status(engine)).problem()
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (OSError, DBAPIError) as exc:
        log.warning("cannot check the database schema yet (%s); /health will tell", exc)
        return None
