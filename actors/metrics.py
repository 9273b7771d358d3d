"""What the runtime tells cluster-wide metrics, as a protocol the plain classes take injected.

The plain classes (session host, group committer, the ingress's metric helpers) record through a
`ClusterMetrics` they are given, `NO_METRICS` by default, so they run without Ray in unit tests.
The Ray seam's `actors/ray/metrics.py` `RayMetrics` implements it with `ray.util.metrics`: each
node's metrics agent exports every process's series, so sums mean the whole cluster.
"""

from __future__ import annotations

from typing import Literal, Protocol

AppType = Literal["flow", "assistant"]
TurnOutcome = Literal["finished", "failed", "stopped"]


class ClusterMetrics(Protocol):
    """Recorder of cluster-wide metrics. Every method is cheap, never raises and never blocks
    (a failing metrics backend must not fail a chat)."""

    def turn_started(self, app_type: AppType) -> None:
        """A turn was admitted (counted by the ingress socket that asked)."""

    def turn_ended(self, app_type: AppType, outcome: TurnOutcome) -> None:
        """A turn's `close` frame passed: `finished`, `failed` (error frame) or `stopped`."""

    def tokens_streamed(self, app_type: AppType, count: int) -> None:
        """`count` answer tokens (stream frames) were relayed to a client."""

    def turn_error(self, app_type: AppType, code: int) -> None:
        """An error frame with status code `code` ended a turn."""

    def sockets_open(self, app_type: AppType, count: int) -> None:
        """This process now has `count` authorized sockets of `app_type` open."""

    def live_sessions(self, count: int) -> None:
        """This session host holds `count` live sessions now."""

    def flushed(self, rows: int, seconds: float, queue_depth: int) -> None:
        """A group-commit flush wrote `rows` rows in `seconds`; `queue_depth` ops wait."""


class NoMetrics:
    """The default recorder: records nothing."""

    def turn_started(self, app_type: AppType) -> None:
        return None

    def turn_ended(self, app_type: AppType, outcome: TurnOutcome) -> None:
        return None

    def tokens_streamed(self, app_type: AppType, count: int) -> None:
        return None

    def turn_error(self, app_type: AppType, code: int) -> None:
        return None

    def sockets_open(self, app_type: AppType, count: int) -> None:
        return None

    def live_sessions(self, count: int) -> None:
        return None

    def flushed(self, rows: int, seconds: float, queue_depth: int) -> None:
        return None


NO_METRICS: ClusterMetrics = NoMetrics()
