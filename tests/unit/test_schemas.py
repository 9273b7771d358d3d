"""Wire schemas and role verification, without Ray."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import get_args

import pytest
from pydantic import ValidationError

from serve_app.auth.principals import RoleCache, verified_principal
from serve_app.auth.tokens import Principal
from serve_app.schemas.apps import AppStatus, FlowUpdate
from serve_app.schemas.chats import (
    CommentCreate,
    LikedCreate,
    MessagePublic,
    MessageUpdate,
    RenameCreate,
    SessionPublic,
)
from serve_app.schemas.envelope import Envelope, ok
from serve_app.schemas.users import UserCreate
from serve_app.services.reports import check_date_range
from storage.records import FLOW_OFFLINE, FLOW_ONLINE, MessageRow, SessionRow, UserRecord

NAIVE = datetime(2026, 3, 4, 5, 6, 7)

MESSAGE_FIELDS = {
    "id", "is_bot", "message", "type", "category", "intermediate_steps", "files", "extra",
    "flow_id", "chat_id", "user_id", "liked", "copied", "solved", "sensitive_status", "source",
    "remark", "create_time", "update_time", "user_name", "flow_name",
}  # fmt: skip
SESSION_FIELDS = {
    "chat_id", "name", "flow_id", "flow_type", "flow_name", "flow_description", "flow_logo",
    "user_id", "is_delete", "like", "dislike", "copied", "sensitive_status", "create_time",
    "update_time",
}  # fmt: skip


def test_message_row_has_every_contract_field_and_offset_times() -> None:
    row = MessageRow(
        1, True, "a", "bot", "answer", None, None, None, "f", "c", 2, 1, 0, 0, 1, 0, None,
        NAIVE, NAIVE, "ann", "flow",
    )  # fmt: skip
    public = MessagePublic.of(row).model_dump(mode="json")
    assert set(public) >= MESSAGE_FIELDS
    assert public["create_time"] == "2026-03-04T05:06:07+00:00"
    assert (public["user_name"], public["flow_name"]) == ("ann", "flow")


def test_session_row_fields() -> None:
    row = SessionRow("c", "n", "f", 5, "fn", None, None, 1, False, 1, 2, 3, 1, NAIVE, NAIVE)
    assert set(SessionPublic.of(row).model_dump(mode="json")) == SESSION_FIELDS


def test_envelope_shape() -> None:
    assert ok([1]).model_dump() == {"status_code": 200, "status_message": "SUCCESS", "data": [1]}
    assert Envelope[None](data=None).model_dump()["data"] is None


def test_user_name_is_stripped_and_must_be_printable() -> None:
    assert UserCreate(user_name="  ann ", password="x").user_name == "ann"
    for bad in ("   ", "a\nb", ""):
        with pytest.raises(ValidationError):
            UserCreate(user_name=bad, password="x")


@pytest.mark.parametrize("length, valid", [(4096, True), (4097, False)])
def test_comment_limit(length: int, valid: bool) -> None:
    if valid:
        assert len(CommentCreate(message_id=1, comment="x" * length).comment) == length
    else:
        with pytest.raises(ValidationError):
            CommentCreate(message_id=1, comment="x" * length)


@pytest.mark.parametrize(
    "body",
    [{"message_id": 1, "liked": 3}, {"message_id": 0, "liked": 1}, {"message_id": 1}],
)
def test_liked_body_is_checked(body: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        LikedCreate.model_validate(body)


def test_rename_uses_the_bisheng_field_name() -> None:
    body = RenameCreate.model_validate({"conversationId": "c1", "name": "n"})
    assert body.conversation_id == "c1"
    with pytest.raises(ValidationError):
        RenameCreate.model_validate({"conversationId": "x" * 65, "name": "n"})


def test_app_status_literal_is_the_records_statuses() -> None:
    # A Literal cannot name constants: this keeps the wire type and the one home in step.
    assert set(get_args(AppStatus)) == {FLOW_OFFLINE, FLOW_ONLINE}


def test_status_and_category_values() -> None:
    assert FlowUpdate.model_validate({"status": FLOW_ONLINE}).status == FLOW_ONLINE
    with pytest.raises(ValidationError):
        FlowUpdate.model_validate({"status": 3})
    with pytest.raises(ValidationError):
        MessageUpdate(message="m", category="Not A Category")


def test_date_range_days_are_inclusive_and_empty_ranges_refused() -> None:
    day = datetime(2026, 1, 2).date()
    start, end = check_date_range(day, day)
    assert (start, end) == (datetime(2026, 1, 2, tzinfo=UTC), datetime(2026, 1, 3, tzinfo=UTC))
    with pytest.raises(Exception, match="before"):
        check_date_range(datetime(2026, 1, 3), datetime(2026, 1, 2))


class Users:
    def __init__(self, roles: dict[int, str]) -> None:
        self.roles = roles
        self.lookups = 0

    async def get(self, user_id: int) -> UserRecord | None:
        self.lookups += 1
        role = self.roles.get(user_id)
        return None if role is None else UserRecord(user_id, f"u{user_id}", role)


async def test_admin_claim_needs_the_user_table_to_agree() -> None:
    users = Users({1: "admin", 2: "user"})
    cache = RoleCache()
    assert (await verified_principal(Principal(1, "u1", "admin"), users.get, cache)).is_admin
    forged = await verified_principal(Principal(2, "u2", "admin"), users.get, cache)
    assert forged.role == "user" and forged.user_id == 2
    unknown = await verified_principal(Principal(9, "u9", "admin"), users.get, cache)
    assert not unknown.is_admin
    plain = Principal(1, "u1")  # a user claim is never elevated, and needs no lookup
    before = users.lookups
    assert not (await verified_principal(plain, users.get, cache)).is_admin
    assert users.lookups == before


async def test_role_lookups_are_cached_briefly() -> None:
    now = [0.0]
    users = Users({1: "admin"})
    cache = RoleCache(ttl_s=5, clock=lambda: now[0])
    claim = Principal(1, "u1", "admin")
    await verified_principal(claim, users.get, cache)
    await verified_principal(claim, users.get, cache)
    assert users.lookups == 1
    users.roles[1] = "user"  # demoted
    now[0] = 5.0
    assert not (await verified_principal(claim, users.get, cache)).is_admin
    assert users.lookups == 2
