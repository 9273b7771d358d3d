"""`raychat user` creates accounts (the operator's way to an admin) on a fresh database."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from serve_app.cli import main
from serve_app.passwords import verify_password
from storage import SqlRepository, make_engine


def stored(url: str, name: str) -> tuple[str, str] | None:
    async def read() -> tuple[str, str] | None:
        repo = SqlRepository(make_engine(url))
        try:
            user = await repo.get_user_by_name(name)
            return None if user is None else (user.role, user.password_hash)
        finally:
            await repo.close()

    return asyncio.run(read())


def test_creates_an_admin_then_refuses_the_same_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    args = ["user", "--user-name", "root", "--password", "s3cret!", "--database-url", url]
    assert main([*args, "--admin"]) == 0
    assert "(admin)" in capsys.readouterr().out
    role, password_hash = stored(url, "root") or ("", "")
    assert role == "admin" and asyncio.run(verify_password(password_hash, "s3cret!"))
    assert main(args) == 2
    assert "already exists" in capsys.readouterr().err


def test_refuses_a_short_password(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'accounts.db'}"
    assert main(["user", "--user-name", "x", "--password", "123", "--database-url", url]) == 2
