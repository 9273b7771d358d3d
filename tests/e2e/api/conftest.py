"""Accounts shared by the REST e2e tests (one server per test session): an admin, and two
users who must never see or change each other's objects."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.api.accounts import Account, register, seed_admin
from tests.e2e.conftest import Server


@pytest.fixture(scope="session")
def admin(server: Server) -> Iterator[Account]:
    account = seed_admin(server)
    yield account
    account.http.close()


@pytest.fixture(scope="session")
def alice(server: Server) -> Iterator[Account]:
    account = register(server, "alice")
    yield account
    account.http.close()


@pytest.fixture(scope="session")
def bob(server: Server) -> Iterator[Account]:
    account = register(server, "bob")
    yield account
    account.http.close()
