"""Every Prometheus metric of the ingress, the REST middleware that counts requests, the
helpers the WebSocket layer calls, and the scrape-time reads of actor state.

Each ingress replica has its own registry (`REGISTRY`); `GET /metrics` answers from the replica
that serves it, so with several replicas scrape each one (or add a `replica` label in the
scraper). Actor-level gauges (live sessions, storage queue and flushes) are read from the actors
when `/metrics` is scraped and are the same on every replica.

The WebSocket helpers also record into a second sink, the cluster-wide `ClusterMetrics`
(`use_cluster_metrics`; the ingress installs `RayMetrics`, exported by every node's Ray metrics
agent and summed over replicas: docs/deploy.md, "Cluster metrics"). Unit tests keep the no-op.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from actors.metrics import NO_METRICS, AppType, ClusterMetrics, TurnOutcome
from actors.ray.registry import Runtime
from actors.storage_actor.group_commit import FlushStats

log = logging.getLogger(__name__)
T = TypeVar("T")
SCRAPE_TIMEOUT_S = 2.0

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

HTTP_REQUESTS = Counter(
    "raychat_http_requests_total",
    "REST requests answered, by route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_SECONDS = Histogram(
    "raychat_http_request_duration_seconds",
    "REST request latency in this replica",
    ["method", "route"],
    registry=REGISTRY,
)
WS_CONNECTIONS = Counter(
    "raychat_ws_connections_total",
    "WebSocket connections accepted and authorized",
    ["app_type"],
    registry=REGISTRY,
)
WS_OPEN = Gauge(
    "raychat_ws_connections_open", "WebSocket connections open now", ["app_type"], registry=REGISTRY
)
TURNS_STARTED = Counter(
    "raychat_turns_started_total", "Chat turns started", ["app_type"], registry=REGISTRY
)
TURNS_ENDED = Counter(
    "raychat_turns_ended_total",
    "Chat turns ended, by outcome (finished, failed, stopped)",
    ["app_type", "outcome"],
    registry=REGISTRY,
)
TOKENS_STREAMED = Counter(
    "raychat_tokens_streamed_total",
    "Answer tokens (stream frames) relayed to clients",
    ["app_type"],
    registry=REGISTRY,
)
LIVE_SESSIONS = Gauge(
    "raychat_live_sessions",
    "Sessions live in each shared session host",
    ["host"],
    registry=REGISTRY,
)
STORAGE_QUEUE_DEPTH = Gauge(
    "raychat_storage_queue_depth", "Write ops waiting for the next flush", registry=REGISTRY
)
STORAGE_BATCH_ROWS = Gauge(
    "raychat_storage_batch_rows",
    "Rows per group-commit flush over the storage actor's recent flushes",
    ["stat"],
    registry=REGISTRY,
)
STORAGE_FLUSH_SECONDS = Gauge(
    "raychat_storage_flush_seconds",
    "Group-commit flush latency over the storage actor's recent flushes",
    ["stat"],
    registry=REGISTRY,
)
TURN_ERRORS = Counter(
    "raychat_turn_errors_total",
    "Error frames that ended a turn, by status code",
    ["app_type", "code"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "raychat_rate_limited_total", "Requests refused by a rate limit", ["scope"], registry=REGISTRY
)
REDIS_ERRORS = Counter(
    "raychat_redis_errors_total",
    "Redis failures (the replica fell back to local state)",
    registry=REGISTRY,
)
EVENTS_DROPPED = Counter(
    "raychat_events_dropped_total",
    "Audit-log rows and telemetry events that could not be written",
    ["kind"],
    registry=REGISTRY,
)
SCRAPE_ERRORS = Counter(
    "raychat_metrics_scrape_errors_total",
    "Actor reads that failed while /metrics was scraped",
    ["source"],
    registry=REGISTRY,
)


# Helpers for the WebSocket layer: each records in this replica's registry and the cluster sink.

_cluster: ClusterMetrics = NO_METRICS
_open_sockets: dict[AppType, int] = {"flow": 0, "assistant": 0}


def use_cluster_metrics(recorder: ClusterMetrics) -> None:
    """Record the WebSocket helpers' metrics into `recorder` too (once per replica process)."""
    global _cluster
    _cluster = recorder


def ws_connected(app_type: AppType) -> None:
    """An authorized socket was accepted; pair with `ws_disconnected`."""
    WS_CONNECTIONS.labels(app_type).inc()
    WS_OPEN.labels(app_type).inc()
    _open_sockets[app_type] += 1
    _cluster.sockets_open(app_type, _open_sockets[app_type])


def ws_disconnected(app_type: AppType) -> None:
    """A socket counted by `ws_connected` closed."""
    WS_OPEN.labels(app_type).dec()
    _open_sockets[app_type] -= 1
    _cluster.sockets_open(app_type, _open_sockets[app_type])


def turn_started(app_type: AppType) -> None:
    """A turn was admitted by its session."""
    TURNS_STARTED.labels(app_type).inc()
    _cluster.turn_started(app_type)


def turn_ended(app_type: AppType, outcome: TurnOutcome) -> None:
    """A turn ended: `finished` (answer committed), `failed` (error frame), `stopped`."""
    TURNS_ENDED.labels(app_type, outcome).inc()
    _cluster.turn_ended(app_type, outcome)


def tokens_streamed(app_type: AppType, count: int) -> None:
    """`count` answer tokens (stream frames) were relayed."""
    if count > 0:
        TOKENS_STREAMED.labels(app_type).inc(count)
        _cluster.tokens_streamed(app_type, count)


def turn_error(app_type: AppType, error_frame: Any) -> None:
    """An error frame (a `Frame` or `WireFrame`) ended a turn: counted by its status code."""
    message = error_frame["message"]
    code = message.get("status_code", 0) if isinstance(message, dict) else 0
    TURN_ERRORS.labels(app_type, str(code)).inc()
    _cluster.turn_error(app_type, int(code))


# Scrape-time reads and exposition.


def record_flushes(flushes: Sequence[FlushStats]) -> None:
    """Batch size and flush latency over the storage actor's recent flushes."""
    if not flushes:
        return
    rows = [f.rows for f in flushes]
    seconds = [f.seconds for f in flushes]
    for stat, row_value, second_value in (
        ("last", rows[-1], seconds[-1]),
        ("mean", sum(rows) / len(rows), sum(seconds) / len(seconds)),
        ("max", max(rows), max(seconds)),
    ):
        STORAGE_BATCH_ROWS.labels(stat).set(row_value)
        STORAGE_FLUSH_SECONDS.labels(stat).set(second_value)


def record_live_sessions(per_host: dict[int, int]) -> None:
    """Live sessions per shared session host."""
    for host, count in per_host.items():
        LIVE_SESSIONS.labels(str(host)).set(count)


def exposition() -> tuple[bytes, str]:
    """The registry in Prometheus text format, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


# REST middleware.


def _route_of(scope: Scope) -> str:
    # The route template, not the raw path: ids in paths would explode label cardinality.
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestMetrics:
    """Pure ASGI middleware: counts every HTTP request by method, route template and status,
    and observes its latency. WebSockets pass through untouched."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_counting(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_counting)
        finally:
            method, route = scope["method"], _route_of(scope)
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)


async def _read(source: str, work: Awaitable[T]) -> T | None:
    """An actor read bounded by the scrape timeout; None (and a counted error) on failure."""
    try:
        return await asyncio.wait_for(work, SCRAPE_TIMEOUT_S)
    except Exception as exc:  # a scrape must answer even when an actor does not
        SCRAPE_ERRORS.labels(source).inc()
        log.warning("metrics: reading %s failed (%s)", source, type(exc).__name__)
        return None


async def refresh_actor_gauges(runtime: Runtime) -> None:
    """Read live sessions per host, the storage queue depth and recent flushes from the actors
    (concurrently, each bounded by SCRAPE_TIMEOUT_S) into their gauges."""
    live, depth, flushes = await asyncio.gather(
        _read("session_hosts", runtime.live_sessions()),
        _read("storage_queue", runtime.storage.queue_depth()),
        _read("storage_flushes", runtime.storage.flush_stats()),
    )
    if live is not None:
        record_live_sessions(live)
    if depth is not None:
        STORAGE_QUEUE_DEPTH.set(depth)
    if flushes is not None:
        record_flushes(flushes)
