"""Schema migrations (Alembic, scripts in `storage/migrations/`), run on our async engines.

`upgrade_to_head` is what `raychat migrate` runs. `check_schema` is what the storage actor and
`raychat serve` run before serving: an empty database is initialized to head (so a fresh
`raychat serve --demo` just works), a database at head is used, anything else is refused with
a message saying how to migrate.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.sql.tables import Base

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATE_HINT = "run `raychat migrate` (with the same RAYCHAT_DATABASE_URL) to upgrade it"


class SchemaState(StrEnum):
    """What a database holds compared to this code's migration head."""

    EMPTY = "empty"  # none of our tables, no revision: safe to initialize
    CURRENT = "current"  # at head
    OLDER = "older"  # a known revision before head: `raychat migrate`
    UNKNOWN = "unknown"  # a revision we do not ship (newer code wrote it), or tables without one


@dataclass(frozen=True, slots=True)
class SchemaStatus:
    """The state, the database's revision and the head this code expects."""

    state: SchemaState
    revision: str | None
    head: str

    def problem(self) -> str | None:
        """A message for the operator when the server must not start, else None."""
        if self.state is SchemaState.OLDER:
            return (
                f"database schema is at revision {self.revision}, this raychat needs"
                f" {self.head}: {MIGRATE_HINT}"
            )
        if self.state is SchemaState.UNKNOWN and self.revision is None:
            return (
                "database has raychat tables but no migration history (created before migrations"
                f" existed): {MIGRATE_HINT} on a fresh database, or drop those tables"
            )
        if self.state is SchemaState.UNKNOWN:
            return (
                f"database schema revision {self.revision} is unknown to this raychat (head"
                f" {self.head}); upgrade raychat, or {MIGRATE_HINT} from a raychat that knows it"
            )
        return None


class SchemaMismatch(RuntimeError):
    """The database schema is not the one this code runs on; the message says what to do."""


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged scripts (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration this code ships."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def _status(conn: Connection) -> SchemaStatus:
    head = head_revision()
    revision = MigrationContext.configure(conn).get_current_revision()
    ours = set(Base.metadata.tables) & set(inspect(conn).get_table_names())
    if revision is None:
        return SchemaStatus(SchemaState.UNKNOWN if ours else SchemaState.EMPTY, None, head)
    if revision == head:
        return SchemaStatus(SchemaState.CURRENT, revision, head)
    script = ScriptDirectory.from_config(alembic_config())
    known = {rev.revision for rev in script.walk_revisions()}
    state = SchemaState.OLDER if revision in known else SchemaState.UNKNOWN
    return SchemaStatus(state, revision, head)


def _upgrade(conn: Connection, target: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = conn
    command.upgrade(config, target)


async def schema_status(engine: AsyncEngine) -> SchemaStatus:
    """Where the database stands relative to head (one short read transaction)."""
    async with engine.connect() as conn:
        return await conn.run_sync(_status)


async def upgrade_to_head(engine: AsyncEngine, target: str = "head") -> SchemaStatus:
    """Apply every migration up to `target` (`raychat migrate`); returns the new status."""
    async with engine.begin() as conn:
        await conn.run_sync(_upgrade, target)
    return await schema_status(engine)


async def check_schema(engine: AsyncEngine, initialize_empty: bool = True) -> SchemaStatus:
    """Make sure the schema is the one this code needs: an empty database is upgraded to head
    (when `initialize_empty`), a current one passes, anything else raises SchemaMismatch."""
    status = await schema_status(engine)
    if status.state is SchemaState.EMPTY and initialize_empty:
        return await upgrade_to_head(engine)
    problem = status.problem()
    if problem is not None:
        raise SchemaMismatch(problem)
    if status.state is SchemaState.EMPTY:
        raise SchemaMismatch(f"database is empty: {MIGRATE_HINT}")
    return status


def render_revision_context(config: Config) -> dict[str, Any]:
    """Attributes env.py reads (kept here so env.py stays a thin shim)."""
    return {"target_metadata": Base.metadata, "connection": config.attributes.get("connection")}
