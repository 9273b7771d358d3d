"""raychat's cluster-wide metrics, defined once, recorded through `ray.util.metrics`.

Every Ray process (ingress replicas, session hosts, the storage actor) records into its core
worker; each node's metrics agent (`ray start --metrics-export-port`, or
`ray.init(_metrics_export_port=...)`) exports all of them on that node's `/metrics`, every
`metrics_report_interval_ms` (10 s by default). Ray prefixes each name with `ray_` and adds the
tags `WorkerId`, `NodeAddress`, `SessionName`, so `sum(...)` over a query means the whole cluster,
the way Serve's own `ray_serve_*` series do. See docs/deploy.md, "Cluster metrics".

Ray's metric objects are made lazily, once per process (`_metrics()`): a `RayMetrics` holds no
state, so it pickles into an actor's constructor arguments and records in the actor's process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Literal

import ray
from ray.util.metrics import Counter, Gauge, Histogram

from actors.metrics import AppType, TurnOutcome

log = logging.getLogger(__name__)
EXPORT_PREFIX = "ray_"
# A gauge series the agent has not heard of for 2 report intervals is dropped, and a process
# sets some gauges only when they change: every gauge's last value is set again this often.
GAUGE_REFRESH_S = 5.0
# Counter increments add up in the process and reach Ray's counter this often: recording a
# point costs ~10 µs (tag checks and the core worker's recorder), once per relayed batch was
# 13 % of a replica's busy time at 3,000 tokens/s. The agent exports every 10 s anyway.
COUNTER_FLUSH_S = 1.0
BATCH_ROWS_BOUNDARIES = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]
FLUSH_SECONDS_BOUNDARIES = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One cluster metric: its kind, name (before Ray's `ray_` prefix), help and tag keys."""

    kind: Literal["counter", "gauge", "histogram"]
    name: str
    description: str
    tag_keys: tuple[str, ...] = ()
    boundaries: tuple[float, ...] = ()


def _counter(name: str, description: str, *tag_keys: str) -> MetricSpec:
    return MetricSpec("counter", name, description, tag_keys)


def _gauge(name: str, description: str, *tag_keys: str) -> MetricSpec:
    return MetricSpec("gauge", name, description, tag_keys)


def _histogram(name: str, description: str, boundaries: Sequence[float]) -> MetricSpec:
    return MetricSpec("histogram", name, description, boundaries=tuple(boundaries))


TURNS_STARTED = _counter("raychat_turns_started_total", "Chat turns admitted", "app_type")
TURNS_ENDED = _counter(
    "raychat_turns_ended_total", "Turns ended: finished, failed, stopped", "app_type", "outcome"
)
TOKENS_STREAMED = _counter("raychat_tokens_streamed_total", "Stream frames relayed", "app_type")
TURN_ERRORS = _counter(
    "raychat_turn_errors_total", "Error frames ending a turn", "app_type", "code"
)
SOCKETS_OPEN = _gauge("raychat_ws_connections_open", "WebSockets open now", "app_type")
LIVE_SESSIONS = _gauge("raychat_live_sessions", "Live sessions per host", "host", "node_id")
STORAGE_BATCH_ROWS = _histogram(
    "raychat_storage_batch_rows", "Rows per group-commit flush", BATCH_ROWS_BOUNDARIES
)
STORAGE_FLUSH_SECONDS = _histogram(
    "raychat_storage_flush_seconds", "Group-commit flush latency", FLUSH_SECONDS_BOUNDARIES
)
STORAGE_QUEUE_DEPTH = _gauge("raychat_storage_queue_depth", "Write ops waiting for a flush")
SPECS = (
    TURNS_STARTED,
    TURNS_ENDED,
    TOKENS_STREAMED,
    TURN_ERRORS,
    SOCKETS_OPEN,
    LIVE_SESSIONS,
    STORAGE_BATCH_ROWS,
    STORAGE_FLUSH_SECONDS,
    STORAGE_QUEUE_DEPTH,
)


def exported_names() -> frozenset[str]:
    """Every series name the metrics agent exports for raychat (histograms' three series)."""
    names: set[str] = set()
    for spec in SPECS:
        base = EXPORT_PREFIX + spec.name
        if spec.kind == "histogram":
            names.update({f"{base}_bucket", f"{base}_count", f"{base}_sum"})
        else:
            names.add(base)
    return frozenset(names)


Metric = Counter | Gauge | Histogram
# A series: metric name and its tags, sorted.
_Series = tuple[str, tuple[tuple[str, str], ...]]


class _ProcessMetrics:
    """This process's Ray metric objects, the counter increments not yet recorded, and the last
    value of each gauge series. A daemon thread (started with the first counter or gauge)
    records the summed increments every COUNTER_FLUSH_S and sets every gauge again every
    GAUGE_REFRESH_S. Increments of the last second are lost if the process dies."""

    def __init__(self) -> None:
        self.by_name: dict[str, Metric] = {spec.name: _make(spec) for spec in SPECS}
        self._gauges: dict[_Series, float] = {}
        self._pending: dict[_Series, float] = {}
        self._lock = threading.Lock()
        self._flusher: threading.Thread | None = None

    def add(self, spec: MetricSpec, value: float, tags: dict[str, str]) -> None:
        """Count `value` more on a counter series (recorded by the next flush)."""
        series = _series(spec, tags)
        with self._lock:
            self._pending[series] = self._pending.get(series, 0.0) + value
            self._start_flusher()

    def set_gauge(self, spec: MetricSpec, value: float, tags: dict[str, str]) -> None:
        gauge = self.by_name[spec.name]
        assert isinstance(gauge, Gauge)
        gauge.set(value, tags)
        with self._lock:
            self._gauges[_series(spec, tags)] = value
            self._start_flusher()

    def flush(self) -> None:
        """Record the pending counter increments now."""
        with self._lock:
            pending, self._pending = self._pending, {}
        self._record_each(pending.items(), _inc)

    def _start_flusher(self) -> None:
        if self._flusher is None:  # under self._lock
            self._flusher = threading.Thread(target=self._run, name="raychat-metrics", daemon=True)
            self._flusher.start()

    def _run(self) -> None:
        refreshed = time.monotonic()
        while True:
            time.sleep(COUNTER_FLUSH_S)
            self.flush()
            if time.monotonic() - refreshed >= GAUGE_REFRESH_S:
                refreshed = time.monotonic()
                with self._lock:
                    values = list(self._gauges.items())
                self._record_each(values, _set)

    def _record_each(
        self,
        values: Iterable[tuple[_Series, float]],
        record: Callable[[Metric, float, dict[str, str]], None],
    ) -> None:
        for (name, tags), value in values:
            try:
                record(self.by_name[name], value, dict(tags))
            except Exception as exc:  # keep recording the others
                _warn_once(name, exc)


def _series(spec: MetricSpec, tags: dict[str, str]) -> _Series:
    return spec.name, tuple(sorted(tags.items()))


def _inc(counter: Metric, value: float, tags: dict[str, str]) -> None:
    assert isinstance(counter, Counter)
    counter.inc(value, tags)


def _set(gauge: Metric, value: float, tags: dict[str, str]) -> None:
    assert isinstance(gauge, Gauge)
    gauge.set(value, tags)


def _make(spec: MetricSpec) -> Metric:
    if spec.kind == "counter":
        return Counter(spec.name, spec.description, spec.tag_keys)
    if spec.kind == "gauge":
        return Gauge(spec.name, spec.description, spec.tag_keys)
    return Histogram(spec.name, spec.description, list(spec.boundaries), spec.tag_keys)


@cache
def _metrics() -> _ProcessMetrics:
    return _ProcessMetrics()


@cache
def _host_tags() -> dict[str, str]:
    context = ray.get_runtime_context()
    return {"host": context.get_actor_name() or "driver", "node_id": context.get_node_id()}


class RayMetrics:
    """`ClusterMetrics` through `ray.util.metrics`; use only in a process connected to Ray.
    Recording never raises: a failure is logged once per metric and dropped."""

    def turn_started(self, app_type: AppType) -> None:
        self._inc(TURNS_STARTED, 1, {"app_type": app_type})

    def turn_ended(self, app_type: AppType, outcome: TurnOutcome) -> None:
        self._inc(TURNS_ENDED, 1, {"app_type": app_type, "outcome": outcome})

    def tokens_streamed(self, app_type: AppType, count: int) -> None:
        if count > 0:
            self._inc(TOKENS_STREAMED, count, {"app_type": app_type})

    def turn_error(self, app_type: AppType, code: int) -> None:
        self._inc(TURN_ERRORS, 1, {"app_type": app_type, "code": str(code)})

    def sockets_open(self, app_type: AppType, count: int) -> None:
        self._guard(
            SOCKETS_OPEN, lambda m: m.set_gauge(SOCKETS_OPEN, count, {"app_type": app_type})
        )

    def live_sessions(self, count: int) -> None:
        self._guard(LIVE_SESSIONS, lambda m: m.set_gauge(LIVE_SESSIONS, count, _host_tags()))

    def flushed(self, rows: int, seconds: float, queue_depth: int) -> None:
        self._observe(STORAGE_BATCH_ROWS, rows)
        self._observe(STORAGE_FLUSH_SECONDS, seconds)
        self._guard(
            STORAGE_QUEUE_DEPTH, lambda m: m.set_gauge(STORAGE_QUEUE_DEPTH, queue_depth, {})
        )

    def _inc(self, spec: MetricSpec, value: float, tags: dict[str, str]) -> None:
        self._guard(spec, lambda m: m.add(spec, value, tags))

    def _observe(self, spec: MetricSpec, value: float) -> None:
        def observe(metrics: _ProcessMetrics) -> None:
            histogram = metrics.by_name[spec.name]
            assert isinstance(histogram, Histogram)
            histogram.observe(value)

        self._guard(spec, observe)

    def _guard(self, spec: MetricSpec, record: Callable[[_ProcessMetrics], None]) -> None:
        try:
            record(_metrics())
        except Exception as exc:  # metrics must never fail a chat or a commit
            _warn_once(spec.name, exc)


_WARNED: set[str] = set()


def _warn_once(name: str, exc: Exception) -> None:
    if name not in _WARNED:
        _WARNED.add(name)
        log.warning("recording metric %s failed (%s): dropped", name, exc)
