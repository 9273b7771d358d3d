"""`raychat user` creates accounts (the operator's way to an admin) on a fresh database, and
`raychat token` signs with the database's generated secret when no RAYCHAT_JWT_SECRET is set."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from serve_app.auth.passwords import verify_password
from serve_app.auth.tokens import decode_token
from serve_app.cli.main import main
from storage.sql import SqlRepository, make_engine
from storage.sql.server_state import JWT_SECRET_NAME


def stored(url: str, name: str) -> tuple[str, str] | None:
    async def read() -> tuple[str, str] | None:
        repo = SqlRepository(make_engine(url))
        try:
            user = await repo.get_user_by_name(name)
            return None if user is None else (user.role, user.password_hash)
        finally:
            await repo.close()

    return asyncio.run(read())


def stored_secret(url: str) -> str:
    async def read() -> str:
        repo = SqlRepository(make_engine(url))
        try:
            return await repo.ensure_server_value(JWT_SECRET_NAME, "never-used")
        finally:
            await repo.close()

    return asyncio.run(read())


def test_creates_an_admin_then_refuses_the_same_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    args = ["user", "--user-name", "root", "--password", "s3cret-pw", "--database-url", url]
    assert main([*args, "--admin"]) == 0
    out, err = capsys.readouterr()
    assert "(admin)" in out and "--password is visible" in err  # argv works, with a warning
    role, password_hash = stored(url, "root") or ("", "")
    assert role == "admin" and asyncio.run(verify_password(password_hash, "s3cret-pw"))
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err


def test_password_from_stdin_and_nfkc_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    monkeypatch.setattr("sys.stdin", io.StringIO("from-stdin-pw\n"))
    # Full-width letters: NFKC makes them the plain name.
    args = ["user", "--user-name", "\uff52\uff4f\uff4f\uff54", "--password-stdin"]
    assert main([*args, "--database-url", url]) == 0
    assert "--password is visible" not in capsys.readouterr().err
    role, password_hash = stored(url, "root") or ("", "")
    assert role == "user" and asyncio.run(verify_password(password_hash, "from-stdin-pw"))


def test_refuses_a_short_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    assert main(["user", "--user-name", "x", "--password", "1234567", "--database-url", url]) == 2


def test_token_uses_the_database_secret_without_an_env_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RAYCHAT_JWT_SECRET", raising=False)
    url = f"sqlite:///{tmp_path / 'token.db'}"
    args = ["token", "--user-id", "7", "--user-name", "ops", "--database-url", url]
    assert main(args) == 0
    first = capsys.readouterr().out.strip()
    assert main(args) == 0
    second = capsys.readouterr().out.strip()
    secret = stored_secret(url)  # generated once, kept: both tokens verify with it
    assert len(secret) >= 32
    assert decode_token(secret, first).user_id == decode_token(secret, second).user_id == 7
