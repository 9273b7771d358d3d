"""The host's per-token path, in one process: CPU µs per streamed token of a demo flow turn
(LangChain's `astream` of the compiled demo graph, the `stream` frame's build, its JSON and the
frame log), against a baseline in the same run that yields the same tokens from a plain async
generator and serializes the same frame dict with `json.dumps` (what bench/stream.py's
single-process server does per token).

    python bench/turn_path.py [--turns 300] [--tokens 60] [--repeat 5]

No Ray, no sockets, no sleeping (the demo model runs at `tokens_per_second=0`): what is left is
the CPU each token costs the host's event loop, the part of `host ms/token` in bench/stream.py
that does not depend on load. Prints the best of `--repeat` runs of each (the least disturbed by
the other work on a shared machine), per token, and the ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from actors.flows.compiler import compile_flow
from actors.flows.demo_graph import demo_graph
from actors.frames import stream_message
from actors.sessions.frame_log import FrameLog
from actors.sessions.turns.recording import TurnEmitter, chunk_text
from bench.stream import base_frame


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    raychat = best_us_per_token(lambda: raychat_turns(args.turns, args.tokens), args.repeat)
    baseline = best_us_per_token(lambda: baseline_turns(args.turns, args.tokens), args.repeat)
    print(
        json.dumps(
            {"raychat_us_per_token": round(raychat, 1), "baseline_us_per_token": round(baseline, 1)}
        )
    )
    print(
        f"host path: raychat {raychat:.1f} µs/token, baseline {baseline:.1f} µs/token, "
        f"ratio {raychat / baseline:.1f}x"
    )


if __name__ == "__main__":
    main()
