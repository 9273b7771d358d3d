"""Percentiles as the benches report them (shared by bench/stream.py and bench/scale.py)."""

from __future__ import annotations

import statistics


def pct(values: list[float], p: int) -> float:
    """The `p`th percentile (inclusive method); the value itself for one sample, NaN for none."""
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]
