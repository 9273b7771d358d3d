"""Chat ownership (issue 8): `claim_session` decides the owner once, in storage, on every
backend: the first creator wins, later claims only read the winner, concurrent claims agree."""

from __future__ import annotations

import asyncio

from storage.repository import Repository
from storage.sql import SqlRepository
from tests.contract.conftest import chat_with, session


async def test_first_claim_creates_the_session_and_owns_it(repo: Repository) -> None:
    claim = await repo.claim_session(session("c1", user_id=7))
    assert (claim.user_id, claim.flow_id, claim.is_delete, claim.created) == (
        7,
        "flow-1",
        False,
        True,
    )
    row = await repo.get_session("c1")
    assert row is not None and row.user_id == 7


async def test_a_later_claim_by_another_user_gets_the_first_owner(repo: Repository) -> None:
    await repo.claim_session(session("c1", user_id=7))
    other = await repo.claim_session(session("c1", user_id=8, flow_id="flow-2"))
    assert (other.user_id, other.flow_id, other.created) == (7, "flow-1", False)
    row = await repo.get_session("c1")
    assert row is not None and (row.user_id, row.flow_id) == (7, "flow-1")  # nothing changed


async def test_a_chat_created_by_a_write_is_owned_by_its_writer(repo: Repository) -> None:
    await chat_with(repo, "c1", ["q", "a"], user_id=3)
    claim = await repo.claim_session(session("c1", user_id=4))
    assert (claim.user_id, claim.created) == (3, False)


async def test_a_deleted_chat_stays_owned_and_says_so(repo: Repository) -> None:
    await chat_with(repo, "c1", ["q"], user_id=3)
    await repo.delete_session("c1")
    claim = await repo.claim_session(session("c1", user_id=3))
    assert (claim.user_id, claim.is_delete, claim.created) == (3, True, False)
    other = await repo.claim_session(session("c1", user_id=9))
    assert other.user_id == 3  # a deleted chat id is not free for someone else


async def test_concurrent_claims_agree_on_one_owner(sql_repo: SqlRepository) -> None:
    for round_ in range(5):
        chat = f"race-{round_}"
        claims = await asyncio.gather(
            *(sql_repo.claim_session(session(chat, user_id=u)) for u in range(1, 9))
        )
        owners = {c.user_id for c in claims}
        assert len(owners) == 1, claims
        [owner] = owners
        winners = [c for c in claims if c.created]
        assert [c.user_id for c in winners] == [owner]
        row = await sql_repo.get_session(chat)
        assert row is not None and row.user_id == owner
