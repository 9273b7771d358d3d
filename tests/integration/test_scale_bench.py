"""bench/scale.py runs end to end with tiny flags: 2 worker nodes on SQLite, the node loss
included, and prints its tables (a subprocess: the bench makes its own Ray cluster)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("RAYCHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TINY = ["--nodes", "2", "--chats", "4", "--turns", "1", "--tokens", "5", "--sqlite"]
pytestmark = pytest.mark.timeout(240)


def test_the_scale_bench_prints_its_tables() -> None:
    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.exceptions.ConnectionError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")
    proc = subprocess.run(
        [sys.executable, "-m", "bench.scale", *TINY, "--redis-url", REDIS_URL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = proc.stdout
    assert "2 worker node(s)" in out and "live per node: w1 " in out
    assert "in-flight turns on the other node" in out
    assert "lost chats' next turn" in out and "placed on the surviving node" in out
