"""Server-wide values decided once (issue 8): the generated JWT secret is the same for every
caller, concurrent or after a restart, and two racing first registrations make one admin."""

from __future__ import annotations

import asyncio

from storage.repository import Repository
from storage.sql import SqlRepository, make_engine
from storage.sql.server_state import JWT_SECRET_NAME

RACERS = 8


async def test_first_value_wins_and_stays(repo: Repository) -> None:
    first = await repo.ensure_server_value(JWT_SECRET_NAME, "a" * 64)
    again = await repo.ensure_server_value(JWT_SECRET_NAME, "b" * 64)
    assert first == again == "a" * 64
    assert await repo.ensure_server_value("other", "c") == "c"  # names are independent


async def test_concurrent_generators_agree(repo: Repository) -> None:
    candidates = [f"candidate-{i}" for i in range(RACERS)]
    got = await asyncio.gather(*(repo.ensure_server_value("race", c) for c in candidates))
    assert len(set(got)) == 1 and got[0] in candidates


async def test_a_second_engine_reads_the_same_secret(sql_repo: SqlRepository) -> None:
    """What a restart or another replica sees: a fresh engine on the same database."""
    secret = await sql_repo.ensure_server_value(JWT_SECRET_NAME, "kept-" + "x" * 40)
    url = sql_repo.engine.url.render_as_string(hide_password=False)
    other = SqlRepository(make_engine(url))
    try:
        assert await other.ensure_server_value(JWT_SECRET_NAME, "new-" + "y" * 40) == secret
    finally:
        await other.close()


async def test_racing_first_registrations_make_one_admin(repo: Repository) -> None:
    names = [f"first-{i}" for i in range(RACERS)]
    users = await asyncio.gather(*(repo.create_user(n, "hash", None) for n in names))
    roles = sorted(u.role for u in users if u is not None)
    assert len(roles) == RACERS
    assert roles.count("admin") == 1, roles
    later = await repo.create_user("later", "hash", None)
    assert later is not None and later.role == "user"


async def test_racing_registrations_across_engines_make_one_admin(
    sql_repo: SqlRepository,
) -> None:
    """Two replicas (their own engines and pools) race on an empty database."""
    url = sql_repo.engine.url.render_as_string(hide_password=False)
    other = SqlRepository(make_engine(url))
    try:
        users = await asyncio.gather(
            *(
                (sql_repo if i % 2 else other).create_user(f"replica-{i}", "hash", None)
                for i in range(RACERS)
            )
        )
    finally:
        await other.close()
    roles = [u.role for u in users if u is not None]
    assert len(roles) == RACERS and roles.count("admin") == 1, roles


async def test_explicit_roles_are_kept(repo: Repository) -> None:
    assert (await repo.create_user("plain", "hash", "user")).role == "user"  # type: ignore[union-attr]
    # A registrant after the first account is a user even though no admin exists yet.
    assert (await repo.create_user("second", "hash", None)).role == "user"  # type: ignore[union-attr]
