"""The frame channel (issue 9) without Ray: one `HostChannel` long-polls one `SessionHost` for
every chat it carries; frames arrive complete and in order per subscription, idle chats cost no
polls, ownership is checked on the host, a passivated session or a restarted host ends the
subscriptions as a per-chat pull did."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from actors.config import SessionConfig
from actors.errors import ChatServiceError, Forbidden
from actors.frames import ChannelBatch, RelayFrame, logged_seq, make_frame
from actors.sessions.channel import RETRY_DELAY_S, HostChannel, Subscription
from actors.sessions.frame_log import FrameLog
from actors.sessions.host import SessionHost
from actors.sessions.session import Ask, SessionKey
from actors.storage_actor.actor import StorageActor
from tests.conftest import demo_graph, flow_record

FLOW = "c" * 32
ALICE, BOB = 1, 2


class Target:
    """The host a channel talks to, swappable (a restart is a new SessionHost)."""

    def __init__(self, host: SessionHost) -> None:
        self.host = host
        self.polls = 0

    async def poll(self, *args: Any) -> ChannelBatch:
        self.polls += 1
        return await self.host.pull_channel(*args)

    async def watch(self, *args: Any) -> ChannelBatch:
        return await self.host.watch_channel(*args)


def channel_to(target: Target, timeout_s: float = 5.0) -> HostChannel:
    return HostChannel(target.poll, target.watch, timeout_s)


@pytest.fixture
async def host(storage: StorageActor) -> SessionHost:
    await storage.put_flow(flow_record(FLOW, demo_graph(tokens_per_second=400, answer_tokens=40)))
    return SessionHost(SessionConfig(pull_timeout_s=0.3), storage)


def ask(text: str, user_id: int = ALICE) -> Ask:
    return Ask(user_id=user_id, inputs={"input": text})


async def until_close(sub: Subscription) -> list[RelayFrame]:
    frames: list[RelayFrame] = []
    async with asyncio.timeout(20):
        while not frames or frames[-1]["type"] != "close":
            frames += (await sub.next()).frames
    return frames


def assert_contiguous(frames: list[RelayFrame], after: int) -> None:
    assert [f["seq"] for f in frames] == list(range(after + 1, after + 1 + len(frames)))


async def test_many_chats_share_one_channel_and_get_every_frame_in_order(
    host: SessionHost,
) -> None:
    target = Target(host)
    channel = channel_to(target)
    keys = [SessionKey(FLOW, f"chat-{i}") for i in range(8)]
    subs = []
    for key in keys:
        point = await host.watch(key, ALICE)
        subs.append(channel.subscribe(key, ALICE, point.newest_seq))
    firsts = [await host.start_turn(key, ask(f"q{i}")) for i, key in enumerate(keys)]
    results = await asyncio.gather(*(until_close(s) for s in subs))
    frames_total = 0
    for i, (frames, first) in enumerate(zip(results, firsts, strict=True)):
        assert_contiguous(frames, first - 1)
        assert frames[-2]["message"].startswith(f"echo(0): q{i}")
        frames_total += len(frames)
    # One long-poll carries all chats: far fewer polls than chats x frames.
    assert target.polls < frames_total / 4
    for sub in subs:
        sub.close()


async def test_idle_chats_cost_no_polls(host: SessionHost) -> None:
    target = Target(host)
    channel = channel_to(target, timeout_s=0.3)
    subs = []
    for i in range(30):
        key = SessionKey(FLOW, f"idle-{i}")
        point = await host.watch(key, ALICE)
        subs.append(channel.subscribe(key, ALICE, point.newest_seq))
    await asyncio.sleep(0.1)
    before = target.polls
    await asyncio.sleep(1.0)
    # 30 idle chats: the one channel re-polls every 0.3 s (its timeout), not per chat.
    assert target.polls - before <= 5
    for sub in subs:
        sub.close()


async def test_another_users_chat_is_refused_when_it_joins(host: SessionHost) -> None:
    channel = channel_to(Target(host))
    key = SessionKey(FLOW, "alices")
    await host.watch(key, ALICE)
    sub = channel.subscribe(key, BOB, 0)
    async with asyncio.timeout(5):
        with pytest.raises(Forbidden):
            await sub.next()


async def test_two_viewers_and_a_late_resume_each_get_their_frames(host: SessionHost) -> None:
    channel = channel_to(Target(host))
    key = SessionKey(FLOW, "shared")
    point = await host.watch(key, ALICE)
    first_viewer = channel.subscribe(key, ALICE, point.newest_seq)
    second_viewer = channel.subscribe(key, ALICE, point.newest_seq)
    first = await host.start_turn(key, ask("hello"))
    one, two = await asyncio.gather(until_close(first_viewer), until_close(second_viewer))
    assert one == two
    assert_contiguous(one, first - 1)
    late = channel.subscribe(key, ALICE, first + 1)  # a resume after the second frame
    resumed = await until_close(late)
    assert resumed == one[2:]
    for sub in (first_viewer, second_viewer, late):
        sub.close()


async def test_a_passivated_session_ends_its_subscription(host: SessionHost) -> None:
    channel = channel_to(Target(host))
    key = SessionKey(FLOW, "goes-idle")
    point = await host.watch(key, ALICE)
    sub = channel.subscribe(key, ALICE, point.newest_seq)
    await asyncio.sleep(0.05)
    assert await host.drop(key)
    async with asyncio.timeout(5):
        batch = await sub.next()
    assert batch.live is False


async def test_a_restarted_host_resets_the_channel_and_reports_sessions_gone(
    host: SessionHost, storage: StorageActor
) -> None:
    target = Target(host)
    channel = channel_to(target, timeout_s=0.3)
    key = SessionKey(FLOW, "restart")
    point = await host.watch(key, ALICE)
    sub = channel.subscribe(key, ALICE, point.newest_seq)
    await asyncio.sleep(0.05)
    target.host = SessionHost(SessionConfig(pull_timeout_s=0.3), storage)  # nothing in memory
    async with asyncio.timeout(5):
        batch = await sub.next()
    assert batch.live is False and batch.frames == []


async def test_frames_are_serialized_once_in_the_log_and_trimmed_with_it() -> None:
    log = FrameLog(max_frames=3)
    for i in range(5):
        log.append(make_frame("stream", "processing", flow_id="f", chat_id="c", message=str(i)))
    frames, wire = log.read_after(0), log.read_wire_after(0)
    assert [f["seq"] for f in frames] == [w.seq for w in wire] == [3, 4, 5]
    for frame, relayed in zip(frames, wire, strict=True):
        assert json.loads(relayed.text) == frame  # the text is the frame, every key, its seq
        assert (relayed.type, relayed.category) == ("stream", "processing")
    assert [w.seq for w in log.read_wire_after(4)] == [5]


async def test_warm_up_runs_one_flow_once_per_host(host: SessionHost) -> None:
    assert await host.warm_up() == 0
    first = host._warm
    assert first is not None and first.done() and first.exception() is None
    assert await host.warm_up() == 0
    assert host._warm is first  # not run again


async def test_a_chat_activated_again_keeps_flowing_through_its_subscription(
    host: SessionHost,
) -> None:
    channel = channel_to(Target(host))
    key = SessionKey(FLOW, "comes-back")
    point = await host.watch(key, ALICE)
    sub = channel.subscribe(key, ALICE, point.newest_seq)
    await asyncio.sleep(0.05)
    # Passivated and activated again before the channel's poll looks (no `gone` mark).
    del host._sessions[key]
    await host.watch(key, ALICE)
    first = await host.start_turn(key, ask("again"))
    frames = await until_close(sub)
    assert frames[0]["seq"] == first and frames[-2]["message"].startswith("echo(0): again")


class HostExited(Exception):
    """Stands in for Ray's actor-died error (the unit tier has no Ray)."""


async def poll_exited_host(*_args: Any) -> ChannelBatch:
    raise ChatServiceError("actor unavailable, retry") from HostExited()


async def test_a_channel_ends_when_its_injected_predicate_says_the_host_is_gone() -> None:
    def gone(exc: BaseException) -> bool:
        return isinstance(exc.__cause__, HostExited)

    key = SessionKey(FLOW, "dedicated")
    ending = HostChannel(poll_exited_host, poll_exited_host, 1.0, host_gone=gone)
    sub = ending.subscribe(key, ALICE, 0)
    async with asyncio.timeout(5):
        assert (await sub.next()).live is False
    assert ending.closed

    # Without the predicate (a shared host, restarted by Ray) the same failure is retried.
    retrying = HostChannel(poll_exited_host, poll_exited_host, 1.0)
    sub = retrying.subscribe(key, ALICE, 0)
    with pytest.raises(ChatServiceError):
        async with asyncio.timeout(5):
            await sub.next()
    assert not retrying.closed
    sub.close()
    await asyncio.sleep(RETRY_DELAY_S + 0.1)  # the retry loop sees no subscriber and ends


class FlakyWatch(Target):
    """A host whose next `watch_channel` call fails (its deadline passed under load)."""

    def __init__(self, host: SessionHost) -> None:
        super().__init__(host)
        self.failing_watches = 0
        self.polling = asyncio.Event()

    async def poll(self, *args: Any) -> ChannelBatch:
        self.polling.set()
        return await super().poll(*args)

    async def watch(self, *args: Any) -> ChannelBatch:
        if self.failing_watches:
            self.failing_watches -= 1
            raise ChatServiceError("The session host did not answer in time")
        return await super().watch(*args)


async def test_a_chat_whose_join_failed_is_sent_again_with_the_next_poll(
    host: SessionHost,
) -> None:
    target = FlakyWatch(host)
    channel = channel_to(target, timeout_s=0.3)
    first, late = SessionKey(FLOW, "joined"), SessionKey(FLOW, "join-failed")
    sub = channel.subscribe(first, ALICE, (await host.watch(first, ALICE)).newest_seq)
    async with asyncio.timeout(5):
        await target.polling.wait()  # the channel's long-poll runs
    target.failing_watches = 1
    late_sub = channel.subscribe(late, ALICE, (await host.watch(late, ALICE)).newest_seq)
    start = await host.start_turn(late, ask("still here"))
    frames = await until_close(late_sub)  # never arrived before: the chat was not watched
    assert frames[0]["seq"] == start and frames[-2]["message"].startswith("echo(0): still here")
    assert target.failing_watches == 0
    sub.close()
    late_sub.close()


async def test_a_chat_added_before_the_channels_first_poll_arrives_is_kept(
    host: SessionHost,
) -> None:
    """Ray does not order an async actor's calls: a replica's `watch_channel` for a chat that
    joined after the first poll was sent can reach the host before that poll."""
    early, late = SessionKey(FLOW, "in-first-poll"), SessionKey(FLOW, "added-meanwhile")
    for key in (early, late):
        await host.watch(key, ALICE)
    added = await host.watch_channel("channel-1", {late: (ALICE, 0)})
    assert added.known and not added.batches
    # Until that first poll, a poll without a watch list still says the channel is unknown.
    assert not (await host.pull_channel("channel-1", None, {}, [], 0.1)).known
    first = await host.start_turn(late, ask("raced"))
    frames: list[RelayFrame] = []
    watch: dict[SessionKey, tuple[int, int]] | None = {early: (ALICE, 0)}  # the first poll
    async with asyncio.timeout(20):
        while not frames or frames[-1]["type"] != "close":
            cursors = {late: logged_seq(frames[-1])} if frames else {}
            batch = await host.pull_channel("channel-1", watch, cursors, [], 0.3)
            watch = None
            assert batch.known
            frames += batch.batches[late].frames if late in batch.batches else []
    assert frames[0]["seq"] == first and frames[-2]["message"].startswith("echo(0): raced")


class HeldRemoval(Target):
    """Delivers a poll that removes chats only when released, while joins go through at once:
    the order in which Ray may run a replica's calls on an async host."""

    def __init__(self, host: SessionHost) -> None:
        super().__init__(host)
        self.held = asyncio.Event()
        self.release = asyncio.Event()

    async def poll(self, *args: Any) -> ChannelBatch:
        if args[3]:  # `remove`
            self.held.set()
            await self.release.wait()
        return await super().poll(*args)


async def test_a_chat_joined_again_while_its_removal_was_in_flight_keeps_its_frames(
    host: SessionHost,
) -> None:
    target = HeldRemoval(host)
    channel = channel_to(target, timeout_s=0.3)
    keeper, key = SessionKey(FLOW, "keeps-the-channel-busy"), SessionKey(FLOW, "again")
    busy = channel.subscribe(keeper, ALICE, (await host.watch(keeper, ALICE)).newest_seq)
    first = channel.subscribe(key, ALICE, (await host.watch(key, ALICE)).newest_seq)
    start = await host.start_turn(key, ask("one"))
    frames = await until_close(first)
    first.close()  # the next poll removes the chat...
    async with asyncio.timeout(5):
        await target.held.wait()
    # ...and the chat is subscribed again, its join reaching the host before that removal.
    again = channel.subscribe(key, ALICE, logged_seq(frames[-1]))
    second = await host.start_turn(key, ask("two"))
    target.release.set()
    frames = await until_close(again)
    assert frames[0]["seq"] == second > start and frames[-2]["message"].startswith("echo(2): two")
    busy.close()
    again.close()
