"""Stop latency through the whole stack: `raychat serve --demo` (Ray + Serve + HAProxy), a real
WebSocket client, a paced demo model.

    python bench/stop.py [--stops 100]

For each stop: ask, wait for the first streamed token, send `stop`, time until `end/answer`
arrives (the partial answer is committed by then). Baseline in the same run: a `stop` with no
running turn, timed until its `close` frame (the bare WebSocket + Ray round trip).
Prints p50/p99 of both and their ratio. Target: stop p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from storage.records import FLOW_ONLINE, FlowRecord  # noqa: E402
from storage.sql import SqlRepository, make_engine  # noqa: E402

LONG_FLOW: dict[str, Any] = {
    "nodes": [
        {"id": "in", "type": "Input", "params": {"key": "input"}},
        {
            "id": "model",
            "type": "ChatModel",
            "params": {
                "provider": "demo",
                "model": "echo",
                "tokens_per_second": 50,
                "answer_tokens": 2000,
            },
        },
        {"id": "out", "type": "Output"},
    ],
    "edges": [{"source": "in", "target": "model"}, {"source": "model", "target": "out"}],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(workdir: str, port: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "serve_app.cli", "serve", "--demo", "--port", str(port)],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    values: dict[str, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.match(r"demo (\w+): (\S+)", line)
        if match:
            values[match.group(1)] = match.group(2)
        if "raychat ready" in line:
            return proc, values
    raise RuntimeError("server exited before it was ready")


async def next_of(
    ws: websockets.ClientConnection, type_: str, category: str | None = None
) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await ws.recv())
        if frame["type"] == type_ and category in (None, frame["category"]):
            return frame


async def measure(url: str, stops: int) -> tuple[list[float], list[float]]:
    stop_ms, idle_ms = [], []
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"inputs": {"input": "warm-up"}}))  # activates host + session
        await next_of(ws, "stream")
        await ws.send(json.dumps({"action": "stop"}))
        await next_of(ws, "close")
        for i in range(stops):
            started = time.perf_counter()
            await ws.send(json.dumps({"action": "stop"}))
            await next_of(ws, "close")
            idle_ms.append((time.perf_counter() - started) * 1000)
            await ws.send(json.dumps({"inputs": {"input": f"question {i}"}}))
            await next_of(ws, "stream")
            started = time.perf_counter()
            await ws.send(json.dumps({"action": "stop"}))
            await next_of(ws, "end", "answer")
            stop_ms.append((time.perf_counter() - started) * 1000)
            await next_of(ws, "close")
    return stop_ms, idle_ms


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100)[p - 1]


async def run(stops: int) -> None:
    with tempfile.TemporaryDirectory() as workdir:
        port = free_port()
        proc, demo = start_server(workdir, port)
        try:
            repo = SqlRepository(make_engine(f"sqlite:///{workdir}/raychat.db"))
            flow_id = uuid.uuid4().hex
            await repo.put_flow(
                FlowRecord(
                    id=flow_id,
                    name="stop bench",
                    status=FLOW_ONLINE,
                    version=1,
                    data=LONG_FLOW,
                    user_id=int(demo["user_id"]),
                )
            )
            await repo.close()
            url = (
                f"ws://127.0.0.1:{port}/api/v1/chat/chat/{flow_id}"
                f"?t={demo['token']}&chat_id={uuid.uuid4().hex}"
            )
            stop_ms, idle_ms = await measure(url, stops)
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(90)
    print(f"{'what':<34}{'p50 ms':>9}{'p99 ms':>9}")
    print(f"{'idle stop -> close (baseline)':<34}{pct(idle_ms, 50):>9.2f}{pct(idle_ms, 99):>9.2f}")
    print(f"{'running stop -> end/answer':<34}{pct(stop_ms, 50):>9.2f}{pct(stop_ms, 99):>9.2f}")
    print(
        f"stop / baseline: p50 {pct(stop_ms, 50) / pct(idle_ms, 50):.2f}x, "
        f"p99 {pct(stop_ms, 99) / pct(idle_ms, 99):.2f}x; target p99 <= 100 ms: "
        f"{'met' if pct(stop_ms, 99) <= 100 else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stops", type=int, default=100)
    asyncio.run(run(parser.parse_args().stops))


if __name__ == "__main__":
    main()
