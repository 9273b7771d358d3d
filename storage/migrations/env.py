"""Alembic environment. Migrations always run on a connection handed in by `storage.migrate`
(our engines are async; `storage.migrate` runs Alembic inside `AsyncConnection.run_sync`)."""

from __future__ import annotations

from alembic import context

from storage.migrate import render_revision_context


def run_migrations() -> None:
    """Run the pending migrations on the connection passed in `config.attributes`."""
    settings = render_revision_context(context.config)
    connection = settings["connection"]
    if connection is None:
        raise RuntimeError("run migrations through `raychat migrate` (storage.migrate)")
    context.configure(
        connection=connection,
        target_metadata=settings["target_metadata"],
        # SQLite cannot ALTER most things: batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
