"""Streaming load end to end: raychat (`raychat serve --demo`, HAProxy mode, SQLite) against a
single-process baseline speaking the same frames, in the same run, loaded by the same client.

    python bench/stream.py [--clients 100] [--tps 30] [--tokens 60] [--turns 3]
                           [--open-chats 2000] [--only raychat|baseline] [--deflate on|off]

Load: `--clients` WebSocket clients, each on its own chat, run `--turns` turns one after the
other; every answer is `--tokens` tokens paced at `--tps` tokens/s by the demo echo model
(`answer_tokens`, `tokens_per_second`). All clients start their first ask together.

Baseline: one uvicorn process (this file, `--serve-baseline`), the same WebSocket path and frames
(every key, `seq`), one INSERT + COMMIT per message (question and answer) on SQLite, the same
pacing (a sleep per token), no Ray, no auth, no LangChain.

raychat's limits are turned off for the bench through their env twins (0 = off):
RAYCHAT_RATE_ASKS_PER_MINUTE, RAYCHAT_RATE_CONCURRENT_TURNS, RAYCHAT_MAX_SESSIONS_PER_USER,
RAYCHAT_RATE_FRAMES_PER_SECOND, RAYCHAT_WS_MAX_CHATS, RAYCHAT_RATE_LOGINS_PER_MINUTE. Ray's token
authentication stays as `raychat serve` leaves it (on); the bench never talks to Ray itself, only
HTTP/WebSocket with the demo token the server prints.

Prints per server: delivered tokens/s, TTFT p50/p99, turn duration / the model's own pace, CPU per
delivered token by process (utime+stime from /proc/<pid>/stat of every process of the server:
ingress replica, session hosts, storage actor, raylet, GCS, HAProxy, ...), then memory (PSS from
/proc/<pid>/smaps_rollup) per open chat by process after `--open-chats` sockets each ran one short
turn and stay open, and the CPU those idle chats cost over `--idle-seconds`. Ratios last.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import procstat
from bench.percentiles import pct
from bench.procstat import cpu_s, descendants, pss_kb
from storage.records import FLOW_ONLINE

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

READY_TIMEOUT_S = 180
NO_LIMITS = {
    "RAYCHAT_RATE_ASKS_PER_MINUTE": "0",
    "RAYCHAT_RATE_CONCURRENT_TURNS": "0",
    "RAYCHAT_MAX_SESSIONS_PER_USER": "0",
    "RAYCHAT_RATE_FRAMES_PER_SECOND": "0",
    "RAYCHAT_WS_MAX_CHATS": "0",
    "RAYCHAT_RATE_LOGINS_PER_MINUTE": "0",
}
# Process classes, first match of the command line wins.
CLASSES = (
    ("replica", "ServeReplica"),
    ("host", "_RaySessionHost"),
    ("storage", "StorageActor"),
    ("haproxy", "haproxy"),
    ("gcs", "gcs_server"),
    ("raylet", "raylet"),
    ("serve-proxy", "ProxyActor"),
    ("serve-controller", "ServeController"),
    ("baseline", "--serve-baseline"),
    ("driver", "serve_app.cli"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def flow_graph(tokens: int, tps: float) -> dict[str, Any]:
    model = {"provider": "demo", "model": "echo", "tokens_per_second": tps, "answer_tokens": tokens}
    return {
        "nodes": [
            {"id": "in", "type": "Input", "params": {"key": "input"}},
            {"id": "model", "type": "ChatModel", "params": model},
            {"id": "out", "type": "Output"},
        ],
        "edges": [{"source": "in", "target": "model"}, {"source": "model", "target": "out"}],
    }


# ---------------------------------------------------------------------------------------------
# The baseline server (child process)


def base_frame(type_: str, category: str, chat_id: str, flow_id: str, seq: int, **kw: Any) -> str:
    frame = {
        "is_bot": True,
        "message": kw.get("message", ""),
        "type": type_,
        "category": category,
        "intermediate_steps": None,
        "files": [],
        "user_id": 1,
        "message_id": kw.get("message_id"),
        "source": 0,
        "sender": None,
        "receiver": None,
        "liked": 0,
        "extra": "{}",
        "flow_id": flow_id,
        "chat_id": chat_id,
        "seq": seq,
    }
    return orjson.dumps(frame).decode()  # the same serializer as raychat's frames


def serve_baseline(port: int, db_path: str, deflate: bool) -> None:
    """One uvicorn process: WebSocket chat with paced echo answers, one commit per message.
    The flow id names the pace: `base-<tokens>-<tps>`."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    db = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS message (id INTEGER PRIMARY KEY, chat_id TEXT, "
        "is_bot INTEGER, message TEXT)"
    )

    def insert(chat_id: str, is_bot: bool, text: str) -> int:
        cur = db.execute("BEGIN")
        cur = db.execute(
            "INSERT INTO message (chat_id, is_bot, message) VALUES (?, ?, ?)",
            (chat_id, int(is_bot), text),
        )
        db.execute("COMMIT")
        return int(cur.lastrowid or 0)

    async def chat(ws: WebSocket) -> None:
        flow_id = ws.path_params["flow_id"]
        _, tokens_s, tps_s = flow_id.split("-")
        tokens, tps = int(tokens_s), float(tps_s)
        chat_id = ws.query_params.get("chat_id") or uuid.uuid4().hex
        await ws.accept()
        seq = 0
        try:
            while True:
                ask = json.loads(await ws.receive_text())
                text = str((ask.get("inputs") or {}).get("input", ""))
                insert(chat_id, False, json.dumps(ask.get("inputs") or {}))
                out: list[str] = []
                for type_, cat in (("begin", "system"), ("start", "processing")):
                    seq += 1
                    await ws.send_text(base_frame(type_, cat, chat_id, flow_id, seq))
                words = text.split() or ["echo"]
                words += [f"w{i}" for i in range(1, tokens - len(words) + 1)]
                for word in words[:tokens]:
                    await asyncio.sleep(1.0 / tps if tps > 0 else 0)
                    token = f" {word}" if out else word
                    out.append(token)
                    seq += 1
                    message = {"content": token, "reasoning_content": None}
                    await ws.send_text(
                        base_frame("stream", "processing", chat_id, flow_id, seq, message=message)
                    )
                answer = "".join(out)
                for type_, cat in (("end", "processing"), ("start", "answer")):
                    seq += 1
                    await ws.send_text(base_frame(type_, cat, chat_id, flow_id, seq))
                message_id = insert(chat_id, True, answer)
                seq += 1
                await ws.send_text(
                    base_frame(
                        "end",
                        "answer",
                        chat_id,
                        flow_id,
                        seq,
                        message=answer,
                        message_id=message_id,
                    )
                )
                seq += 1
                await ws.send_text(base_frame("close", "processing", chat_id, flow_id, seq))
        except WebSocketDisconnect:
            return

    async def health(_request: Any) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(
        routes=[
            Route("/health", health),
            WebSocketRoute("/api/v1/chat/chat/{flow_id}", chat),
        ]
    )
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_per_message_deflate=deflate,
        ws_max_queue=1024,
    )


# ---------------------------------------------------------------------------------------------
# Processes and /proc (bench/procstat.py)


def class_of(pid: int) -> str:
    return procstat.class_of(pid, CLASSES)


def by_class(root: int, read: Callable[[int], float]) -> dict[str, float]:
    return procstat.by_class(root, read, class_of)


# ---------------------------------------------------------------------------------------------
# The load client


@dataclass
class Stats:
    ttft_s: list[float] = field(default_factory=list)
    turn_ratio: list[float] = field(default_factory=list)
    tokens: int = 0
    errors: int = 0


async def run_turn(ws: Any, text: str, ideal_s: float, stats: Stats | None) -> None:
    started = time.perf_counter()
    await ws.send(json.dumps({"inputs": {"input": text}}))
    first: float | None = None
    while True:
        frame = json.loads(await ws.recv())
        kind = frame["type"]
        if kind == "stream":
            if first is None:
                first = time.perf_counter()
            if stats is not None:
                stats.tokens += 1
        elif kind == "end" and frame["category"] == "error":
            if stats is not None:
                stats.errors += 1
        elif kind == "close":
            break
    if stats is not None and first is not None:
        stats.ttft_s.append(first - started)
        stats.turn_ratio.append((time.perf_counter() - started) / ideal_s)


async def client(
    url: str, turns: int, ideal_s: float, ready: list[int], go: asyncio.Event, stats: Stats
) -> None:
    import websockets

    async with websockets.connect(url, max_size=None, open_timeout=60) as ws:
        ready[0] += 1
        await go.wait()
        for i in range(turns):
            await run_turn(ws, f"question {i}", ideal_s, stats)


@dataclass
class Result:
    name: str
    tokens_per_s: float
    ttft_p50_ms: float
    ttft_p99_ms: float
    turn_ratio_p50: float
    cpu_ms_per_token: dict[str, float]
    mem_kb_per_chat: dict[str, float]
    idle_cpu_ms_per_s: dict[str, float]
    errors: int
    first_begin_ms: float


async def load(base_ws: str, flow: str, args: argparse.Namespace, token: str) -> Stats:
    """Connect every client, then release their first asks together."""
    stats, go, ready = Stats(), asyncio.Event(), [0]
    ideal_s = args.tokens / args.tps
    tasks = [
        asyncio.create_task(
            client(
                f"{base_ws}/api/v1/chat/chat/{flow}?t={token}&chat_id={uuid.uuid4().hex}",
                args.turns,
                ideal_s,
                ready,
                go,
                stats,
            )
        )
        for _ in range(args.clients)
    ]
    deadline = time.monotonic() + 60
    while ready[0] < args.clients and time.monotonic() < deadline:
        failed = [t for t in tasks if t.done() and t.exception() is not None]
        if failed:
            raise RuntimeError(f"a client failed to connect: {failed[0].exception()!r}")
        await asyncio.sleep(0.05)
    go.set()
    await asyncio.gather(*tasks)
    return stats


async def first_begin(base_ws: str, flow: str, token: str) -> float:
    """The first turn after the server said ready: ms from the ask to its `begin` frame."""
    import websockets

    url = f"{base_ws}/api/v1/chat/chat/{flow}?t={token}&chat_id={uuid.uuid4().hex}"
    async with websockets.connect(url, max_size=None, open_timeout=60) as ws:
        started = time.perf_counter()
        await ws.send(json.dumps({"inputs": {"input": "first"}}))
        while json.loads(await ws.recv())["type"] != "begin":
            pass
        begin_ms = (time.perf_counter() - started) * 1000
        while json.loads(await ws.recv())["type"] != "close":
            pass
    return begin_ms


async def open_chats(base_ws: str, flow: str, count: int, token: str) -> list[Any]:
    import websockets

    sockets: list[Any] = []
    sem = asyncio.Semaphore(50)

    async def one() -> None:
        async with sem:
            url = f"{base_ws}/api/v1/chat/chat/{flow}?t={token}&chat_id={uuid.uuid4().hex}"
            ws = await websockets.connect(url, max_size=None, open_timeout=60)
            await run_turn(ws, "hi", 1.0, None)
            sockets.append(ws)

    await asyncio.gather(*(one() for _ in range(count)))
    return sockets


async def measure(
    name: str, root: int, port: int, flows: tuple[str, str], token: str, args: argparse.Namespace
) -> Result:
    base_ws = f"ws://127.0.0.1:{port}"
    first_begin_ms = await first_begin(base_ws, flows[1], token)
    # Warm-up: one short turn (process start, first activation) outside the measurement.
    warm = await open_chats(base_ws, flows[1], 2, token)
    for ws in warm:
        await ws.close()
    cpu0, t0 = by_class(root, cpu_s), time.perf_counter()
    profilers = start_profilers(root, name, args.profile) if args.profile else []
    stats = await load(base_ws, flows[0], args, token)
    wall = time.perf_counter() - t0
    stop_profilers(profilers)
    cpu1 = by_class(root, cpu_s)
    tokens = max(1, stats.tokens)
    cpu_per_token = {k: (cpu1.get(k, 0) - cpu0.get(k, 0)) * 1000 / tokens for k in cpu1}
    mem: dict[str, float] = {}
    idle: dict[str, float] = {}
    if args.open_chats:
        mem0 = by_class(root, pss_kb)
        sockets = await open_chats(base_ws, flows[1], args.open_chats, token)
        await asyncio.sleep(2)  # let group commits and pumps settle before reading memory
        mem1 = by_class(root, pss_kb)
        mem = {k: (mem1.get(k, 0) - mem0.get(k, 0)) / args.open_chats for k in mem1}
        c0 = by_class(root, cpu_s)
        await asyncio.sleep(args.idle_seconds)
        c1 = by_class(root, cpu_s)
        idle = {k: (c1.get(k, 0) - c0.get(k, 0)) * 1000 / args.idle_seconds for k in c1}
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)
    return Result(
        name,
        stats.tokens / wall,
        pct(stats.ttft_s, 50) * 1000,
        pct(stats.ttft_s, 99) * 1000,
        pct(stats.turn_ratio, 50),
        cpu_per_token,
        mem,
        idle,
        stats.errors,
        first_begin_ms,
    )


PROFILED = ("replica", "host", "storage", "baseline")


def start_profilers(root: int, name: str, out_dir: str) -> list[subprocess.Popen[bytes]]:
    """`py-spy record` (raw collapsed stacks, 50 Hz, with idle frames off) on the replica, the
    hosts and the storage actor for the load phase."""
    os.makedirs(out_dir, exist_ok=True)
    procs = []
    for pid in descendants(root):
        kind = class_of(pid)
        if kind in PROFILED:
            out = f"{out_dir}/{name}-{kind}-{pid}.txt"
            cmd = ["py-spy", "record", "-r", "50", "-p", str(pid), "-f", "raw", "-o", out]
            procs.append(
                subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
    return procs


def stop_profilers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGINT)
    for proc in procs:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---------------------------------------------------------------------------------------------
# Starting the servers


def start_raychat(
    workdir: str, port: int, args: argparse.Namespace
) -> tuple[subprocess.Popen[str], dict[str, str]]:
    env = {**os.environ, **NO_LIMITS, "PYTHONPATH": str(ROOT)}
    if args.deflate is not None:
        env["RAYCHAT_WS_DEFLATE"] = "true" if args.deflate == "on" else "false"
    proc = subprocess.Popen(
        [sys.executable, "-m", "serve_app.cli", "serve", "--demo", "--port", str(port)],
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    values: dict[str, str] = {}
    assert proc.stdout is not None
    deadline = time.monotonic() + READY_TIMEOUT_S
    for line in proc.stdout:
        match = re.match(r"demo (\w+): (\S+)", line)
        if match:
            values[match.group(1)] = match.group(2)
        if "raychat ready" in line:
            return proc, values
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise RuntimeError("raychat did not become ready")


async def install_flows(workdir: str, user_id: int, args: argparse.Namespace) -> tuple[str, str]:
    from storage.records import FlowRecord
    from storage.sql import SqlRepository, make_engine

    repo = SqlRepository(make_engine(f"sqlite:///{workdir}/raychat.db"))
    ids = (uuid.uuid4().hex, uuid.uuid4().hex)
    graphs = (flow_graph(args.tokens, args.tps), flow_graph(3, 0))
    for flow_id, graph in zip(ids, graphs, strict=True):
        await repo.put_flow(
            FlowRecord(
                id=flow_id,
                name="stream bench",
                status=FLOW_ONLINE,
                version=1,
                data=graph,
                user_id=user_id,
            )
        )
    await repo.close()
    return ids


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)


async def bench_raychat(args: argparse.Namespace) -> Result:
    with tempfile.TemporaryDirectory() as workdir:
        port = free_port()
        proc, demo = start_raychat(workdir, port, args)
        try:
            flows = await install_flows(workdir, int(demo["user_id"]), args)
            return await measure("raychat", proc.pid, port, flows, demo["token"], args)
        finally:
            stop(proc)


async def bench_baseline(args: argparse.Namespace) -> Result:
    import urllib.request

    with tempfile.TemporaryDirectory() as workdir:
        port = free_port()
        deflate = "on" if args.deflate == "on" else "off"  # raychat's default: off
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve-baseline",
                str(port),
                f"{workdir}/base.db",
                "--deflate",
                deflate,
            ],
            text=True,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2):
                        break
                except OSError:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
            flows = (f"base-{args.tokens}-{args.tps:g}", "base-3-0")
            return await measure("baseline", proc.pid, port, flows, "none", args)
        finally:
            stop(proc)


# ---------------------------------------------------------------------------------------------
# Report


def report(results: list[Result], args: argparse.Namespace) -> None:
    print(
        f"\nload: {args.clients} clients x {args.turns} turns x {args.tokens} tokens at "
        f"{args.tps:g} tok/s ({args.clients * args.tps:g} tok/s offered); "
        f"open chats {args.open_chats}; deflate {args.deflate or 'default'}"
    )
    print(
        f"{'server':<10}{'tok/s':>9}{'ttft p50':>10}{'ttft p99':>10}{'turn/ideal':>12}"
        f"{'cpu ms/tok':>12}{'KB/chat':>10}{'idle ms/s':>11}{'errors':>8}"
    )
    for r in results:
        print(
            f"{r.name:<10}{r.tokens_per_s:>9.0f}{r.ttft_p50_ms:>10.0f}{r.ttft_p99_ms:>10.0f}"
            f"{r.turn_ratio_p50:>12.2f}{sum(r.cpu_ms_per_token.values()):>12.3f}"
            f"{sum(r.mem_kb_per_chat.values()):>10.1f}{sum(r.idle_cpu_ms_per_s.values()):>11.1f}"
            f"{r.errors:>8}"
        )
    for r in results:
        print(f"  {r.name} first turn after ready: {r.first_begin_ms:.0f} ms to `begin`")
        parts = ", ".join(
            f"{k} {v:.3f}"
            for k, v in sorted(r.cpu_ms_per_token.items(), key=lambda kv: -kv[1])
            if v >= 0.0005
        )
        print(f"  {r.name} cpu ms/token by process: {parts}")
        if r.mem_kb_per_chat:
            parts = ", ".join(
                f"{k} {v:.1f}"
                for k, v in sorted(r.mem_kb_per_chat.items(), key=lambda kv: -kv[1])
                if abs(v) >= 0.05
            )
            print(f"  {r.name} KB/open chat by process: {parts}")
            parts = ", ".join(
                f"{k} {v:.1f}"
                for k, v in sorted(r.idle_cpu_ms_per_s.items(), key=lambda kv: -kv[1])
                if v >= 0.05
            )
            print(f"  {r.name} idle cpu ms/s by process ({args.open_chats} idle chats): {parts}")
    named = {r.name: r for r in results}
    if len(named) == 2:
        ray_, base = named["raychat"], named["baseline"]
        print(
            f"raychat/baseline: tokens/s {ray_.tokens_per_s / base.tokens_per_s:.2f}x, "
            f"ttft p99 {ray_.ttft_p99_ms / base.ttft_p99_ms:.2f}x, cpu/token "
            f"{sum(ray_.cpu_ms_per_token.values()) / sum(base.cpu_ms_per_token.values()):.1f}x"
        )


async def run(args: argparse.Namespace) -> None:
    results = []
    if args.only in (None, "raychat"):
        results.append(await bench_raychat(args))
    if args.only in (None, "baseline"):
        results.append(await bench_baseline(args))
    report(results, args)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-baseline":
        serve_baseline(int(sys.argv[2]), sys.argv[3], sys.argv[5] == "on")
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--tps", type=float, default=30)
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--open-chats", type=int, default=2000)
    parser.add_argument("--idle-seconds", type=float, default=20)
    parser.add_argument("--only", choices=("raychat", "baseline"))
    parser.add_argument("--deflate", choices=("on", "off"))
    parser.add_argument("--profile", metavar="DIR", help="py-spy the load phase into DIR")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
