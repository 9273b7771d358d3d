"""`raychat serve`: start (or join) Ray, run the Serve app, wait until it is healthy, print
where it listens (and the demo data), stop cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import threading
import time
import urllib.request
from typing import TYPE_CHECKING

from serve_app.cli.proxy import choose_proxy
from serve_app.cli.schema import schema_problem
from serve_app.settings import Settings

if TYPE_CHECKING:  # demo.py imports Ray, which must not load before the proxy's environment
    from serve_app.cli.demo import DemoData

APP_NAME = "raychat"


def _port_problem(settings: Settings) -> str | None:
    """Why our own cluster cannot take the HTTP port, or None. Serve's default proxy binds it
    with SO_REUSEPORT and the readiness probe asks the port, so a server already there would
    silently share it or answer for us."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
        try:
            sock.bind((settings.host, settings.port))
        except OSError as exc:
            return f"{settings.host}:{settings.port} is taken ({exc.strerror})"
    return None


def serve_command(settings: Settings, demo: bool) -> int:
    """Serve until SIGINT or SIGTERM (exit 0); 2 when the database schema or a taken HTTP port
    forbids starting."""
    problem = schema_problem(settings)
    if problem is None and settings.ray_address is None:
        problem = _port_problem(settings)
    if problem is not None:
        print(f"raychat: refusing to start: {problem}", file=sys.stderr, flush=True)
        return 2
    proxy = choose_proxy(settings)
    import ray
    from ray import serve

    from serve_app.app import build_app

    started_ray = settings.ray_address is None
    ray.init(
        # "local" always starts a new cluster: a bare ray.init() would join whatever cluster a
        # `ray start` on this machine last recorded in /tmp/ray, even a dead one.
        address=settings.ray_address or "local",
        include_dashboard=settings.dashboard,
        namespace=settings.namespace,
        log_to_driver=False,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
        serve.run(build_app(settings), name=APP_NAME, route_prefix="/", blocking=False)
        base = f"http://{settings.host}:{settings.port}"
        _wait_ready(f"{base}/health", stop, settings.ready_timeout_s)
        _announce(settings, base, proxy, demo)
        stop.wait()
    finally:
        _shutdown(settings, started_ray)
    return 0


def _wait_ready(url: str, stop: threading.Event, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become healthy within {timeout_s:.0f}s")
        stop.wait(0.25)


def _announce(settings: Settings, base: str, proxy: str, demo: bool) -> None:
    database = settings.printable_database_url()
    lines = [f"raychat serving on {base} (proxy: {proxy}, database: {database})"]
    if demo:
        data = _install_demo(settings)
        ws = base.replace("http", "ws", 1)
        # The token is printed once, on its own line; no URL carries it (URLs end up in
        # shell history, browser history and proxy logs).
        lines += [
            f"demo user_id: {data.user_id}",
            f"demo user_name: {data.user_name}",
            f"demo flow_id: {data.flow_id}",
            f"demo assistant_id: {data.assistant_id}",
            f"demo token: {data.token}",
            f"demo websocket: {ws}/api/v1/chat/chat/{data.flow_id} (token: `?t=<demo token>`"
            " or the `Authorization: Bearer` header)",
        ]
    lines.append("raychat ready (Ctrl-C to stop)")
    print("\n".join(lines), flush=True)


def _install_demo(settings: Settings) -> DemoData:
    # Imported late for the same reason as in `serve_command`: Ray must not load before the
    # proxy's environment is set.
    from actors.ray.registry import storage_actor
    from actors.ray.storage_client import RayStorageClient
    from serve_app.cli.demo import install_demo
    from storage.sql.server_state import JWT_SECRET_NAME

    config = settings.runtime_config()
    storage = RayStorageClient(
        storage_actor(config.storage, config.namespace), config.storage.call_timeout_s
    )

    async def install() -> DemoData:
        secret = settings.jwt_secret or await storage.server_secret(JWT_SECRET_NAME)
        return await install_demo(storage, secret, settings.jwt_expire_s)

    return asyncio.run(install())


def _shutdown(settings: Settings, started_ray: bool) -> None:
    import ray
    from ray import serve

    from actors.ray.registry import kill_all

    print("raychat stopping", flush=True)
    try:
        if started_ray:
            serve.shutdown()  # type: ignore[no-untyped-call]
            kill_all(settings.namespace)
        else:
            serve.delete(APP_NAME)
    finally:
        ray.shutdown()
    print("raychat stopped", flush=True)
