"""The monitor's numbers (docs/api.md, "Monitor"): gathered from the session hosts and the
storage actor concurrently, each read bounded by its actor-call timeout, shaped for the
dashboard. A source that does not answer becomes an entry in `errors`, never a failed reply."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import asdict
from typing import Any, TypeVar

from actors.ray.registry import HostReport, Runtime
from actors.sessions.activity import BUCKET_S, BUCKETS, Bucket, ErrorSeen, SessionSummary
from actors.storage_actor.group_commit import FlushStats

T = TypeVar("T")
# Recent storage flushes shown (the storage actor keeps up to 100).
FLUSHES_SHOWN = 60
# User names looked up per answer (each a storage read), and how many one replica remembers.
NAMES_LOOKED_UP = 50
NAMES_KEPT = 10_000
_names: dict[int, str] = {}


async def _read(source: str, work: Awaitable[T], errors: list[dict[str, Any]]) -> T | None:
    try:
        return await work
    except Exception as exc:  # the monitor reports a silent actor instead of failing
        errors.append(_problem(source, f"{type(exc).__name__}: {exc}"[:300]))
        return None


def _problem(source: str, message: str) -> dict[str, Any]:
    return {"time": time.time(), "source": source, "code": None, "message": message}


async def overview(runtime: Runtime, sessions_per_host: int) -> dict[str, Any]:
    """Everything the dashboard shows, in one answer: hosts (per node) with their sessions,
    activity rates over the last minutes, storage batches/latency/queue, errors, the Ray
    dashboard's address."""
    errors: list[dict[str, Any]] = []
    reports, depth, flushes, dashboard = await asyncio.gather(
        runtime.host_reports(sessions_per_host),
        _read("storage.queue_depth", runtime.storage.queue_depth(), errors),
        _read("storage.flush_stats", runtime.storage.flush_stats(), errors),
        runtime.ray_dashboard_url(),
    )
    await _resolve_names(runtime, reports, errors)
    now = time.time()
    errors += [_problem(r.name, r.error) for r in reports if r.error]
    errors += [_turn_error(e) for r in reports if r.summary for e in r.summary.errors]
    errors.sort(key=lambda e: e["time"], reverse=True)
    return {
        "time": now,
        "hosts": [_host(r) for r in reports],
        "nodes": _nodes(reports),
        "rates": _rates([b for r in reports if r.summary for b in r.summary.buckets], now),
        "storage": _storage(depth, flushes),
        "errors": errors[:50],
        "ray_dashboard": f"http://{dashboard}" if dashboard else None,
    }


async def _resolve_names(
    runtime: Runtime, reports: list[HostReport], errors: list[dict[str, Any]]
) -> None:
    """Fill the user-name cache for the sessions' owners (at most NAMES_LOOKED_UP reads, run
    concurrently, each bounded by the storage call timeout)."""
    owners = {s.user_id for r in reports if r.summary for s in r.summary.sessions}
    missing = [u for u in owners if u is not None and u not in _names][:NAMES_LOOKED_UP]
    if not missing:
        return
    found = await _read(
        "storage.get_user", asyncio.gather(*(runtime.storage.get_user(u) for u in missing)), errors
    )
    if len(_names) > NAMES_KEPT:
        _names.clear()
    for user in found or []:
        if user is not None:
            _names[user.id] = user.user_name


def _session(summary: SessionSummary) -> dict[str, Any]:
    row = asdict(summary)
    row["user_name"] = _names.get(summary.user_id) if summary.user_id is not None else None
    return row


def _host(report: HostReport) -> dict[str, Any]:
    found = report.summary
    return {
        "name": report.name,
        "index": report.index,
        "running": found is not None,
        "error": report.error,
        "node_id": found.node.get("node_id") if found else None,
        "node_ip": found.node.get("node_ip") if found else None,
        "live_sessions": found.live if found else 0,
        "sessions": [_session(s) for s in found.sessions] if found else [],
        "truncated": bool(found and found.live > len(found.sessions)),
    }


def _nodes(reports: list[HostReport]) -> list[dict[str, Any]]:
    """Hosts grouped by the node they run on (started hosts only), with the node's live
    sessions (the sum over its hosts)."""
    nodes: dict[str, dict[str, Any]] = {}
    for report in reports:
        if report.summary is None:
            continue
        node_id = report.summary.node.get("node_id", "local")
        node = nodes.setdefault(
            node_id,
            {
                "node_id": node_id,
                "node_ip": report.summary.node.get("node_ip"),
                "hosts": [],
                "live_sessions": 0,
            },
        )
        node["hosts"].append(report.name)
        node["live_sessions"] += report.summary.live
    return list(nodes.values())


def _rates(buckets: list[Bucket], now: float) -> dict[str, Any]:
    """Every host's buckets summed per slot over the last `BUCKETS` slots (zeros where nothing
    happened); rates per second, the current slot divided by its elapsed time."""
    current = int(now) // BUCKET_S * BUCKET_S
    first = current - (BUCKETS - 1) * BUCKET_S
    sums = {start: [0, 0, 0] for start in range(first, current + 1, BUCKET_S)}
    for bucket in buckets:
        slot = sums.get(bucket.start)
        if slot is not None:
            slot[0] += bucket.turns
            slot[1] += bucket.tokens
            slot[2] += bucket.errors
    series = []
    for start, (turns, tokens, errs) in sums.items():
        span = max(1.0, now - start) if start == current else float(BUCKET_S)
        series.append(
            {
                "start": start,
                "turns": turns,
                "tokens": tokens,
                "errors": errs,
                "turns_per_s": round(turns / span, 3),
                "tokens_per_s": round(tokens / span, 3),
            }
        )
    return {"bucket_s": BUCKET_S, "series": series}


def _storage(depth: int | None, flushes: list[FlushStats] | None) -> dict[str, Any]:
    recent = (flushes or [])[-FLUSHES_SHOWN:]
    return {
        "queue_depth": depth,
        "flushes": [
            {"ops": f.ops, "rows": f.rows, "ms": round(f.seconds * 1000, 2)} for f in recent
        ],
        "mean_batch_rows": round(sum(f.rows for f in recent) / len(recent), 1) if recent else 0,
        "max_batch_rows": max((f.rows for f in recent), default=0),
        "mean_flush_ms": (
            round(sum(f.seconds for f in recent) / len(recent) * 1000, 2) if recent else 0
        ),
        "max_flush_ms": round(max((f.seconds for f in recent), default=0.0) * 1000, 2),
    }


def _turn_error(error: ErrorSeen) -> dict[str, Any]:
    return {
        "time": error.time,
        "source": f"chat {error.chat_id}",
        "code": error.code,
        "message": error.message,
        "chat_id": error.chat_id,
        "flow_id": error.flow_id,
    }


async def actors_summary(runtime: Runtime) -> dict[str, Any]:
    """The older, smaller `GET /api/v1/monitor/actors` answer: sessions per host, storage
    numbers and raychat's named actors."""
    hosts = await runtime.live_sessions()
    flushes = await runtime.storage.flush_stats()
    recent = flushes[-20:]
    return {
        "hosts": {f"session-host-{i}": n for i, n in hosts.items()},
        "storage": {
            "queue_depth": await runtime.storage.queue_depth(),
            "recent_flushes": len(recent),
            "mean_batch_rows": round(sum(f.rows for f in recent) / len(recent), 1) if recent else 0,
            "max_flush_ms": round(max((f.seconds for f in recent), default=0.0) * 1000, 2),
        },
        "actors": await runtime.actor_names(),
    }
