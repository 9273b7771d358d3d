"""The host's per-token path, in one process, no Ray, no sockets.

    python bench/turn_path.py [--turns 300] [--tokens 60] [--repeat 5] [--chats 50] [--tps 30]

1. The turn path: CPU µs per streamed token of a demo flow turn (the flow's `astream`, the
   `stream` frame's build, its JSON, the frame log), no sleeping (`tokens_per_second=0`), against
   a baseline in the same run that yields the same tokens from a plain async generator and
   serializes the same frame dict (what bench/stream.py's single-process server does per token).
   Best of `--repeat` runs of each (the least disturbed by other work on a shared machine).
2. The whole host without Ray: a real `SessionHost` on an in-process `StorageActor` (SQLite),
   `--chats` chats each running 3 turns of `--tokens` tokens at `--tps`, all frames taken by one
   local frame-channel poller the way a replica's channel takes them (answers pickled, as Ray
   would). CPU µs per token of the process (host, storage actor and its SQLite thread): set
   against bench/stream.py's host + storage CPU per token, the rest is what Ray's calls cost.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from actors.config import SessionConfig, StorageConfig
from actors.flows.compiler import compile_flow
from actors.flows.demo_graph import demo_graph
from actors.frames import ChannelBatch, logged_seq, stream_message
from actors.sessions.frame_log import FrameLog
from actors.sessions.host import SessionHost
from actors.sessions.keys import Ask, SessionKey
from actors.sessions.turns.recording import TurnEmitter, chunk_text
from actors.storage_actor.actor import StorageActor
from bench.stream import base_frame
from storage.records import FLOW_ONLINE, FlowRecord


async def raychat_turns(turns: int, tokens: int) -> int:
    """`turns` flow turns the way `FlowTurn.run` streams them; returns the tokens streamed."""
    flow = compile_flow(demo_graph(tokens_per_second=0, answer_tokens=tokens))
    log = FrameLog(max_frames=10_000, max_bytes=1_000_000)
    emitter = TurnEmitter(log, "flow", "chat", 1)
    streamed = 0
    for turn in range(turns):
        values = flow.prompt_inputs(f"question {turn}", [], {})
        async for chunk in flow.astream(values):
            token = chunk_text(chunk)
            if token:
                streamed += 1
                emitter.emit("stream", "processing", message=stream_message(token))
    return streamed


async def baseline_turns(turns: int, tokens: int) -> int:
    """The same tokens from a plain generator, one frame dict and `json.dumps` each."""

    async def answer(text: str) -> AsyncIterator[str]:
        for word in [text, *(f" w{i}" for i in range(1, tokens))]:
            await asyncio.sleep(0)
            yield word

    streamed, sent = 0, []
    for turn in range(turns):
        async for token in answer(f"question {turn}"):
            streamed += 1
            message = {"content": token, "reasoning_content": None}
            sent.append(
                base_frame("stream", "processing", "chat", "flow", streamed, message=message)
            )
        sent.clear()
    return streamed


def best_us_per_token(run: Callable[[], Coroutine[Any, Any, int]], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        tokens = asyncio.run(run())
        best = min(best, (time.process_time() - start) / tokens * 1e6)
    return best


class LocalChannel:
    """One replica-like frame channel polling `host` for `keys`; counts tokens and closes."""

    def __init__(self, host: SessionHost, keys: list[SessionKey]) -> None:
        self.host, self.keys = host, keys
        self.cursors = dict.fromkeys(keys, 0)
        self.closed = {key: asyncio.Event() for key in keys}  # set at each turn's `close`
        self.tokens = 0

    async def run(self) -> None:
        watch: dict[SessionKey, tuple[int, int]] | None = {k: (1, 0) for k in self.keys}
        while True:
            answer = await self.host.pull_channel("bench", watch, dict(self.cursors), [], 5.0)
            batch: ChannelBatch = pickle.loads(pickle.dumps(answer, protocol=5))
            watch = None
            for key, news in batch.batches.items():
                for frame in news.frames:
                    self.tokens += frame["type"] == "stream"
                    if frame["type"] == "close":
                        self.closed[key].set()
                if news.frames:
                    self.cursors[key] = logged_seq(news.frames[-1])


async def host_us_per_token(chats: int, tps: float, tokens: int) -> float:
    """CPU µs per token of a SessionHost and its in-process storage (see the module doc)."""
    with tempfile.TemporaryDirectory() as workdir:
        storage = StorageActor(StorageConfig(database_url=f"sqlite:///{workdir}/chat.db"))
        await storage.ping()
        graph = demo_graph(tokens_per_second=tps, answer_tokens=tokens)
        flow = FlowRecord(
            id=uuid.uuid4().hex, name="bench", status=FLOW_ONLINE, version=1, data=graph, user_id=1
        )
        await storage.put_flow(flow)
        host = SessionHost(SessionConfig(), storage)
        keys = [SessionKey(flow.id, uuid.uuid4().hex) for _ in range(chats)]
        for key in keys:
            await host.watch(key, 1)  # live before the channel watches them
        channel = LocalChannel(host, keys)
        poller = asyncio.create_task(channel.run())

        async def chat(key: SessionKey) -> None:
            for turn in range(3):
                channel.closed[key].clear()
                await host.start_turn(key, Ask(user_id=1, inputs={"input": f"question {turn}"}))
                await channel.closed[key].wait()

        started = time.process_time()
        await asyncio.gather(*(chat(k) for k in keys))
        cpu_s = time.process_time() - started
        poller.cancel()
        await storage.shutdown()
        return cpu_s / channel.tokens * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--tps", type=float, default=30.0)
    args = parser.parse_args()
    raychat = best_us_per_token(lambda: raychat_turns(args.turns, args.tokens), args.repeat)
    baseline = best_us_per_token(lambda: baseline_turns(args.turns, args.tokens), args.repeat)
    print(
        f"host path: raychat {raychat:.1f} µs/token, baseline {baseline:.1f} µs/token, "
        f"ratio {raychat / baseline:.1f}x"
    )
    whole = asyncio.run(host_us_per_token(args.chats, args.tps, args.tokens))
    print(
        f"host + storage without Ray, {args.chats} chats at {args.tps:g} tok/s: "
        f"{whole:.0f} µs/token"
    )


if __name__ == "__main__":
    main()
