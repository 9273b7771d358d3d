"""The admin monitor API (docs/api.md, "Monitor") over a fake runtime: who may read it, its
shape (hosts with sessions and user names, rates filled over 10 minutes, storage, errors, the
Ray dashboard link) and its bounds."""

from __future__ import annotations

import pytest

from serve_app.services import monitor
from tests.unit.rest.conftest import Api

OVERVIEW = "/api/v1/monitor/overview"


@pytest.fixture(autouse=True)
def forget_names() -> None:
    monitor._names.clear()  # the replica's name cache outlives each test's database


async def test_overview_is_for_admins_only(api: Api) -> None:
    admin = await api.user("root")  # the first account is the admin (dev profile)
    user = await api.user("bob")
    api.client.cookies.clear()  # the logins set cookies: this call carries none
    assert (await api.client.get(OVERVIEW)).status_code == 401
    assert (await api.client.get(OVERVIEW, headers=user)).status_code == 403
    assert (await api.client.get(OVERVIEW, headers=admin)).status_code == 200


async def test_overview_gathers_hosts_rates_storage_and_errors(api: Api) -> None:
    admin = await api.user("root")
    body = (await api.client.get(OVERVIEW, headers=admin)).json()
    assert (body["status_code"], body["status_message"]) == (200, "SUCCESS")
    data = body["data"]
    started, idle = data["hosts"]
    assert (started["name"], started["running"], started["live_sessions"]) == (
        "raychat-session-host-0",
        True,
        2,
    )
    assert (idle["running"], idle["sessions"]) == (False, [])
    first = started["sessions"][0]
    assert {k: first[k] for k in ("chat_id", "app_name", "user_id", "user_name", "state")} == {
        "chat_id": "c1",
        "app_name": "demo",
        "user_id": 1,
        "user_name": "root",
        "state": "running",
    }
    assert data["nodes"] == [
        {"node_id": "n1", "node_ip": None, "hosts": ["raychat-session-host-0"], "live_sessions": 2}
    ]
    series = data["rates"]["series"]
    assert data["rates"]["bucket_s"] == 10 and len(series) == 60
    assert [s["start"] for s in series] == sorted(s["start"] for s in series)
    full = series[-2]  # the fake's bucket is the last complete one
    assert (full["turns"], full["tokens"], full["tokens_per_s"]) == (3, 120, 12.0)
    assert sum(s["tokens"] for s in series) == 120
    storage = data["storage"]
    assert storage["queue_depth"] == 0 and isinstance(storage["flushes"], list)
    assert {"mean_batch_rows", "max_batch_rows", "mean_flush_ms", "max_flush_ms"} <= set(storage)
    assert [(e["code"], e["message"]) for e in data["errors"]] == [(13005, "model failed")]
    assert data["ray_dashboard"] == "http://127.0.0.1:8265"


async def test_overview_bounds_the_sessions_listed(api: Api) -> None:
    admin = await api.user("root")
    one = await api.client.get(OVERVIEW, headers=admin, params={"sessions_per_host": 1})
    host = one.json()["data"]["hosts"][0]
    assert (len(host["sessions"]), host["live_sessions"], host["truncated"]) == (1, 2, True)
    too_many = await api.client.get(OVERVIEW, headers=admin, params={"sessions_per_host": 1001})
    assert too_many.status_code == 422
