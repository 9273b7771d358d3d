"""Ingress modes compared in one run: plain uvicorn, Serve's default proxy, Serve + HAProxy.

    python bench/ingress.py [--seconds 5] [--rest-concurrency 32] [--ws-connections 50]

Each mode runs in its own process (Serve reads RAY_SERVE_ENABLE_HA_PROXY when Ray starts), serves
the same FastAPI app (`bench/ingress_app.py`) and is loaded by the same aiohttp client from this
process. Prints req/s, msgs/s and WS round-trip p50/p99, and ratios against plain uvicorn.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp

if TYPE_CHECKING:  # the app is imported in the server's child process only
    from fastapi import FastAPI

ROOT = Path(__file__).resolve().parent.parent
MODES = ("uvicorn", "serve-default", "serve-haproxy")


@dataclass
class Result:
    mode: str
    rest_rps: float
    ws_mps: float
    ws_p50_ms: float
    ws_p99_ms: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_server(mode: str, port: int) -> None:
    """Child process: serve the bench app in `mode` until SIGTERM."""
    sys.path.insert(0, str(ROOT))
    from bench.ingress_app import build_bench_api

    if mode == "uvicorn":
        import uvicorn

        uvicorn.run(build_bench_api(), host="127.0.0.1", port=port, log_level="warning")
        return
    import ray
    from ray import serve

    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    serve.start(http_options={"host": "127.0.0.1", "port": port})

    class Bench:
        def __serve_build_asgi_app__(self) -> FastAPI:
            return build_bench_api()

    deployment = serve.deployment(max_ongoing_requests=10_000)(serve.ingress()(Bench))
    serve.run(deployment.bind(), name="bench", route_prefix="/")
    print("READY", flush=True)
    signal.sigwait([signal.SIGTERM, signal.SIGINT])
    serve.shutdown()  # type: ignore[no-untyped-call]  # Ray Serve leaves it unannotated
    ray.shutdown()


async def wait_ready(base: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(f"{base}/ping") as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    raise RuntimeError(f"{base} never became ready")


async def rest_load(base: str, concurrency: int, seconds: float) -> float:
    done = 0
    deadline = time.monotonic() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            nonlocal done
            while time.monotonic() < deadline:
                async with http.get(f"{base}/ping") as resp:
                    await resp.read()
                    done += resp.status == 200

        started = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.monotonic() - started)


async def ws_load(base: str, connections: int, seconds: float) -> tuple[float, list[float]]:
    latencies: list[float] = []
    url = base.replace("http", "ws", 1) + "/echo"
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as http:

        async def client() -> None:
            async with http.ws_connect(url) as ws:
                while time.monotonic() < deadline:
                    sent = time.perf_counter()
                    await ws.send_str("x" * 64)
                    await ws.receive()
                    latencies.append(time.perf_counter() - sent)

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(connections)))
        return len(latencies) / (time.monotonic() - started), latencies


async def measure(mode: str, args: argparse.Namespace) -> Result:
    port = free_port()
    env = dict(os.environ, RAY_AUTH_MODE="disabled")
    env.pop("RAY_SERVE_ENABLE_HA_PROXY", None)
    if mode == "serve-haproxy":
        env["RAY_SERVE_ENABLE_HA_PROXY"] = "1"
        env["RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S"] = "1"
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", mode, "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base)
        await rest_load(base, 4, 1.0)  # warm-up
        rps = await rest_load(base, args.rest_concurrency, args.seconds)
        mps, lat = await ws_load(base, args.ws_connections, args.seconds)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(90)
        except subprocess.TimeoutExpired:
            proc.kill()
    q = statistics.quantiles(lat, n=100)
    return Result(mode, rps, mps, q[49] * 1000, q[98] * 1000)


def report(results: list[Result]) -> None:
    base = results[0]
    print(
        f"{'mode':<15}{'REST req/s':>12}{'x base':>8}{'WS msgs/s':>12}{'x base':>8}"
        f"{'WS p50 ms':>11}{'WS p99 ms':>11}"
    )
    for r in results:
        print(
            f"{r.mode:<15}{r.rest_rps:>12.0f}{r.rest_rps / base.rest_rps:>8.2f}"
            f"{r.ws_mps:>12.0f}{r.ws_mps / base.ws_mps:>8.2f}"
            f"{r.ws_p50_ms:>11.2f}{r.ws_p99_ms:>11.2f}"
        )
    by = {r.mode: r for r in results}
    if "serve-haproxy" in by and "serve-default" in by:
        h, d = by["serve-haproxy"], by["serve-default"]
        print(
            f"haproxy / default proxy: REST {h.rest_rps / d.rest_rps:.2f}x, "
            f"WS {h.ws_mps / d.ws_mps:.2f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rest-concurrency", type=int, default=32)
    parser.add_argument("--ws-connections", type=int, default=50)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--serve", choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        run_server(args.serve, args.port)
        return
    results = [asyncio.run(measure(m, args)) for m in args.modes.split(",")]
    report(results)


if __name__ == "__main__":
    main()
