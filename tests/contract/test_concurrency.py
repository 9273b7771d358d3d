"""Concurrent feedback through a real connection pool: counters never drift from the rows."""

from __future__ import annotations

import asyncio
import random

from storage.sql import SqlRepository
from tests.contract.conftest import chat_with

ROUNDS = 120


async def test_concurrent_likes_copies_and_deletes_keep_counters_exact(
    sql_repo: SqlRepository,
) -> None:
    ids = await chat_with(sql_repo, "c1", [f"m{i}" for i in range(6)])
    rng = random.Random(7)
    ops = [sql_repo.set_liked(rng.choice(ids), rng.choice((0, 1, 2))) for _ in range(ROUNDS)]
    ops += [sql_repo.mark_copied(rng.choice(ids)) for _ in range(ROUNDS // 4)]
    ops.append(sql_repo.delete_message(ids[0]))
    rng.shuffle(ops)
    await asyncio.gather(*ops)
    rows = await sql_repo.session_messages("c1")
    s = await sql_repo.get_session("c1")
    assert s is not None
    assert s.like == sum(1 for m in rows if m.liked == 1)
    assert s.dislike == sum(1 for m in rows if m.liked == 2)
    assert s.copied == sum(m.copied for m in rows)
    assert min(s.like, s.dislike, s.copied) >= 0
