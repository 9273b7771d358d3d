"""`raychat user`: create an account from the command line (how an operator gets an admin:
no API grants the admin role, and with `--demo` the database's first account is the demo user)."""

from __future__ import annotations

import asyncio
import sys

from serve_app.passwords import hash_password
from storage import SqlRepository, make_engine
from storage.migrate import SchemaState, schema_status, upgrade_to_head
from storage.records import UserRecord


async def _create(url: str, user_name: str, password: str, role: str) -> UserRecord | str:
    engine = make_engine(url)
    try:
        status = await schema_status(engine)
        if status.state is SchemaState.EMPTY:
            status = await upgrade_to_head(engine)
        if status.state is not SchemaState.CURRENT:
            return status.problem() or f"the database schema is {status.state}"
        created = await SqlRepository(engine).create_user(
            user_name, await hash_password(password), role
        )
        return created if created is not None else f"user {user_name!r} already exists"
    finally:
        await engine.dispose()


def create_user_command(url: str, user_name: str, password: str, admin: bool) -> int:
    """Create the account; exit 0 with its id, or 2 with the reason."""
    if len(password) < 6:
        print("raychat user: the password needs at least 6 characters", file=sys.stderr)
        return 2
    result = asyncio.run(_create(url, user_name, password, "admin" if admin else "user"))
    if isinstance(result, str):
        print(f"raychat user: {result}", file=sys.stderr)
        return 2
    print(f"created user_id: {result.id} ({result.role})")
    return 0
