"""`examples/client.py` runs against the real server; `/metrics` shows what the server did."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "client.py"


def test_client_example_runs(server: Server) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--base", server.base],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "echo(0): hello" in done.stdout
    assert "echo(2): what did I just say?" in done.stdout


def test_metrics_are_prometheus_text(server: Server) -> None:
    httpx.get(f"{server.base}/api/v1/chat/chat/list", timeout=30)  # a 401, counted too
    response = httpx.get(f"{server.base}/metrics", timeout=30)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    for name in (
        'raychat_http_requests_total{method="GET",route="/api/v1/chat/chat/list",status="401"}',
        "raychat_http_request_duration_seconds_bucket",
        "raychat_storage_queue_depth ",
        'raychat_storage_batch_rows{stat="mean"}',
        'raychat_storage_flush_seconds{stat="max"}',
        'raychat_live_sessions{host="0"}',
        "# TYPE raychat_turns_started_total counter",
        "# TYPE raychat_tokens_streamed_total counter",
        "# TYPE raychat_ws_connections_open gauge",
    ):
        assert name in text, name
    assert "raychat_metrics_scrape_errors_total{" not in text
