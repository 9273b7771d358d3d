"""Alembic migration scripts, shipped inside the wheel (see `storage.migrate`)."""
