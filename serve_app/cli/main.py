"""`raychat serve | token | migrate | user`: argument parsing and dispatch. Serving is in
`serve.py` (the HAProxy set-up in `proxy.py`), the schema in `schema.py`, accounts in
`accounts.py`."""

from __future__ import annotations

import argparse
import logging
import sys

from pydantic import ValidationError

from serve_app.auth.tokens import Principal, issue_token
from serve_app.cli.accounts import create_user_command, database_jwt_secret, read_password
from serve_app.cli.schema import migrate_command
from serve_app.cli.serve import serve_command
from serve_app.settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="raychat", description="`raychat serve | token | migrate | user`."
    )
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
        return migrate_command(settings)
    if args.command == "user":
        password = read_password(args.password, args.password_stdin)
        url = settings.absolute_database_url()
        return create_user_command(
            url, args.user_name, password, args.admin, settings.password_min_length
        )
    return serve_command(settings, demo=args.demo)


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


if __name__ == "__main__":
    sys.exit(main())
