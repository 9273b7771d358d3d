"""`/chat/stats`: totals and per-day figures for an owner's apps, one app, or everything."""

from __future__ import annotations

from datetime import timedelta

from storage.records import AssistantRecord, FlowRecord, StatsFilter, utcnow
from storage.repository import Repository
from tests.contract.conftest import chat_with


async def _apps(repo: Repository) -> None:
    await repo.create_flow(FlowRecord("f1", "f1", 2, 1, {}, user_id=1))
    await repo.create_flow(FlowRecord("f2", "f2", 2, 1, {}, user_id=2))
    await repo.create_assistant(AssistantRecord("a1", "a1", "p", {}, user_id=1))


async def test_stats_for_an_owner_one_app_and_everything(repo: Repository) -> None:
    await _apps(repo)
    ids = await chat_with(repo, "c1", ["q", "a"], flow_id="f1", user_id=10)
    await chat_with(repo, "c2", ["q", "a", "q"], flow_id="a1", user_id=11)
    other = await chat_with(repo, "c3", ["q"], flow_id="f2", user_id=10)
    await repo.set_liked(ids[1], 1)
    await repo.mark_copied(ids[1])
    await repo.set_liked(other[0], 2)
    await repo.delete_session("c2")  # deleted sessions still count: they happened

    owner = await repo.stats(StatsFilter(owner_id=1))
    assert (owner.sessions, owner.messages, owner.users) == (2, 5, 2)
    assert (owner.like, owner.dislike, owner.copied) == (1, 0, 1)
    today = utcnow().strftime("%Y-%m-%d")
    assert [d.to_public() for d in owner.by_day] == [
        {"date": today, "sessions": 2, "messages": 5, "like": 1, "dislike": 0, "copied": 1}
    ]
    app = await repo.stats(StatsFilter(flow_id="f2"))
    assert (app.sessions, app.messages, app.dislike) == (1, 1, 1)
    everything = await repo.stats(StatsFilter())
    assert (everything.sessions, everything.messages, everything.users) == (3, 6, 2)
    later = await repo.stats(StatsFilter(start=utcnow() + timedelta(days=1)))
    assert (later.sessions, later.messages, later.by_day) == (0, 0, ())
    assert (await repo.stats(StatsFilter(owner_id=99))).sessions == 0
