"""Contract cases through `RayStorageClient` over a real Ray storage actor (no Serve): the
generated client and actor methods carry the protocol's arguments, results and errors across
Ray. Each test gets its own storage actor on a fresh SQLite file."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import ray

from actors.config import StorageConfig
from actors.ray.registry import storage_actor
from actors.ray.storage_client import RayStorageClient
from storage.repository import Repository
from tests.contract import test_apps, test_messages, test_ownership, test_sessions, test_writes
from tests.contract.conftest import SurfaceRepository
from tests.integration.test_storage_faults import ray_cluster  # noqa: F401 (a Ray per module)

pytestmark = pytest.mark.usefixtures("ray_cluster")  # module-scoped: set up before client_repo

CASES: list[Callable[[Repository], Awaitable[None]]] = [
    test_messages.test_history_pages_by_cursor_and_joins_names,
    test_messages.test_comment_has_its_own_column_and_a_limit,
    test_messages.test_first_copy_counts_once,
    test_sessions.test_copy_duplicates_messages_in_order_with_fresh_feedback,
    test_sessions.test_audit_filters_by_owner_app_feedback_and_date,
    test_apps.test_flow_crud_with_versions,
    test_apps.test_users,
    test_writes.test_retried_rows_are_not_duplicated_and_keep_their_ids,
    test_writes.test_telemetry_and_audit_inserts_are_idempotent,
    test_ownership.test_a_later_claim_by_another_user_gets_the_first_owner,
]


@pytest.fixture
async def client_repo(tmp_path: Path) -> AsyncIterator[Repository]:
    config = StorageConfig(database_url=f"sqlite:///{tmp_path / 'client.db'}", batch_max_delay_ms=2)
    handle = storage_actor(config, namespace=f"raychat-contract-{uuid.uuid4().hex[:8]}")
    try:
        yield SurfaceRepository(RayStorageClient(handle))
    finally:
        ray.kill(handle, no_restart=True)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
async def test_contract_case_through_the_ray_client(
    case: Callable[[Repository], Awaitable[None]], client_repo: Repository
) -> None:
    await case(client_repo)
