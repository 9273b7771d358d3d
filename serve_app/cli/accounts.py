"""`raychat user` and the database side of `raychat token`: create an account from the command
line (how an operator gets an admin: no API grants the admin role, and in prod registration never
does), and read the JWT secret the server keeps in the database."""

from __future__ import annotations

import asyncio
import getpass
import secrets
import sys
from dataclasses import dataclass

from serve_app.auth.passwords import hash_password
from serve_app.schemas.users import normalize_user_name
from storage.migrate import SchemaState, schema_status, upgrade_to_head
from storage.records import UserRecord
from storage.sql import SqlRepository, make_engine
from storage.sql.server_state import JWT_SECRET_NAME


async def _migrated(repo: SqlRepository) -> str | None:
    """None when the schema is current (an empty database is initialized), else the problem."""
    status = await schema_status(repo.engine)
    if status.state is SchemaState.EMPTY:
        status = await upgrade_to_head(repo.engine)
    if status.state is not SchemaState.CURRENT:
        return status.problem() or f"the database schema is {status.state}"
    return None


async def _create(url: str, user_name: str, password: str, role: str) -> UserRecord | str:
    repo = SqlRepository(make_engine(url))
    try:
        problem = await _migrated(repo)
        if problem is not None:
            return problem
        created = await repo.create_user(user_name, await hash_password(password), role)
        return created if created is not None else f"user {user_name!r} already exists"
    finally:
        await repo.close()


def read_password(given: str | None, from_stdin: bool) -> str:
    """The password: `--password` (kept for scripts; visible in `ps`), one line of standard
    input with `--password-stdin`, else an interactive prompt (asked twice)."""
    if given is not None:
        print(
            "raychat user: warning: --password is visible to other users (ps) and in shell"
            " history; prefer --password-stdin",
            file=sys.stderr,
        )
        return given
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("password again: ") != first:
        print("raychat user: the passwords differ", file=sys.stderr)
        return ""
    return first


def create_user_command(
    url: str, user_name: str, password: str, admin: bool, min_length: int = 8
) -> int:
    """Create the account; exit 0 with its id, or 2 with the reason."""
    try:
        user_name = normalize_user_name(user_name)
    except ValueError as exc:
        print(f"raychat user: {exc}", file=sys.stderr)
        return 2
    if len(password) < min_length:
        print(f"raychat user: the password needs at least {min_length} characters", file=sys.stderr)
        return 2
    result = asyncio.run(_create(url, user_name, password, "admin" if admin else "user"))
    if isinstance(result, str):
        print(f"raychat user: {result}", file=sys.stderr)
        return 2
    print(f"created user_id: {result.id} ({result.role})")
    return 0


@dataclass(frozen=True, slots=True)
class StoredSecret:
    """The database's JWT secret, or why it cannot be read."""

    secret: str = ""
    problem: str | None = None


def database_jwt_secret(url: str) -> StoredSecret:
    """The JWT secret kept in the database (generated now, insert-if-absent, when no server has
    started on it yet), as the server uses it when RAYCHAT_JWT_SECRET is not set."""

    async def read() -> StoredSecret:
        repo = SqlRepository(make_engine(url))
        try:
            problem = await _migrated(repo)
            if problem is not None:
                return StoredSecret(problem=problem)
            candidate = secrets.token_urlsafe(48)
            return StoredSecret(await repo.ensure_server_value(JWT_SECRET_NAME, candidate))
        finally:
            await repo.close()

    return asyncio.run(read())
