"""SQLAlchemy 2 tables (the schema of migration head). Each index says which query it serves.

Times are stored in UTC. MySQL gets DATETIME(6): its default second precision would tie rows
that the chat list orders by `update_time`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

from storage.records import utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
IdType = BigInteger().with_variant(Integer, "sqlite")
Time: TypeEngine[datetime] = DateTime(timezone=True).with_variant(
    mysql.DATETIME(fsp=6), "mysql", "mariadb"
)
# MySQL's TEXT stops at 64 KiB; messages and graphs may be larger.
LongText: TypeEngine[str] = Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


class Base(DeclarativeBase):
    """Declarative base; `Base.metadata` is the whole schema."""


def _created() -> Mapped[datetime]:
    return mapped_column(Time, default=utcnow)


def _updated() -> Mapped[datetime]:
    return mapped_column(Time, default=utcnow, onupdate=utcnow)


class ChatMessage(Base):
    """One message of a chat (`chatmessage`, API.md §3 message row)."""

    __tablename__ = "chatmessage"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # Unique per logical row: a retried group-commit insert with the same key is ignored.
    row_key: Mapped[str] = mapped_column(String(64), unique=True)
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    is_bot: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(LongText, default="")
    type: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    intermediate_steps: Mapped[str | None] = mapped_column(LongText)
    files: Mapped[str | None] = mapped_column(LongText)
    extra: Mapped[str | None] = mapped_column(LongText)
    flow_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer)
    liked: Mapped[int] = mapped_column(Integer, default=0)
    copied: Mapped[int] = mapped_column(Integer, default=0)
    solved: Mapped[int] = mapped_column(Integer, default=0)
    sensitive_status: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[int] = mapped_column(Integer, default=0)
    # Markers only (e.g. `break_answer`); the user's comment has its own column (Bisheng mixed
    # the two, so a comment erased the stop marker).
    remark: Mapped[str | None] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)
    create_time: Mapped[datetime] = _created()
    update_time: Mapped[datetime] = _updated()

    __table_args__ = (
        # History page, context read, newest-1000 read and latest message per chat:
        # WHERE chat_id = ? [AND id < ?] ORDER BY id DESC LIMIT n; MAX(id) GROUP BY chat_id.
        Index("ix_chatmessage_chat_id_id", "chat_id", "id"),
        # Ask idempotency: a question's client_msg_id is stored once per chat (NULLs repeat).
        UniqueConstraint("chat_id", "client_msg_id", name="uq_chatmessage_chat_client_msg"),
        # Stats for some apps: WHERE flow_id IN (...) AND create_time BETWEEN ? AND ?.
        Index("ix_chatmessage_flow_create", "flow_id", "create_time"),
    )


class MessageSession(Base):
    """A chat session (`message_session`, API.md §3 session row)."""

    __tablename__ = "message_session"

    chat_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    flow_id: Mapped[str] = mapped_column(String(64))
    flow_type: Mapped[int] = mapped_column(Integer)
    flow_name: Mapped[str] = mapped_column(String(255), default="")
    flow_description: Mapped[str | None] = mapped_column(String(1024))
    flow_logo: Mapped[str | None] = mapped_column(String(1024))
    user_id: Mapped[int | None] = mapped_column(Integer)
    is_delete: Mapped[bool] = mapped_column(Boolean, default=False)
    like: Mapped[int] = mapped_column(Integer, default=0)
    dislike: Mapped[int] = mapped_column(Integer, default=0)
    copied: Mapped[int] = mapped_column(Integer, default=0)
    sensitive_status: Mapped[int] = mapped_column(Integer, default=1)
    create_time: Mapped[datetime] = _created()
    update_time: Mapped[datetime] = _updated()

    __table_args__ = (
        # Chat list: WHERE user_id = ? AND is_delete = false ORDER BY update_time DESC;
        # also the audit query filtered by user_id.
        Index("ix_message_session_user_update", "user_id", "is_delete", "update_time"),
        # Audit and stats for one app, soft delete of a deleted app's sessions:
        # WHERE flow_id = ? [AND create_time BETWEEN ? AND ?].
        Index("ix_message_session_flow_create", "flow_id", "create_time"),
        # Audit and admin stats over a date range: WHERE create_time BETWEEN ? AND ?.
        Index("ix_message_session_create", "create_time"),
    )


class Flow(Base):
    """A flow (skill): its current graph; every graph it had lives in `flow_version`."""

    __tablename__ = "flow"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(1024))
    logo: Mapped[str | None] = mapped_column(String(1024))
    status: Mapped[int] = mapped_column(Integer, default=1)
    version: Mapped[int] = mapped_column(Integer, default=1)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    user_id: Mapped[int] = mapped_column(Integer)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    is_delete: Mapped[bool] = mapped_column(Boolean, default=False)
    create_time: Mapped[datetime] = _created()
    update_time: Mapped[datetime] = _updated()

    __table_args__ = (
        # Flow list: WHERE user_id = ? AND is_delete = false ORDER BY update_time DESC.
        Index("ix_flow_user_update", "user_id", "update_time"),
        # Online apps: WHERE status = 2 AND is_delete = false ORDER BY update_time DESC.
        Index("ix_flow_status_update", "status", "update_time"),
    )


class FlowVersion(Base):
    """One saved graph of a flow; a PATCH with new `data` adds a row."""

    __tablename__ = "flow_version"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    flow_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[int] = mapped_column(Integer, default=1)
    user_id: Mapped[int] = mapped_column(Integer)
    create_time: Mapped[datetime] = _created()

    __table_args__ = (
        # Versions of a flow, one version number once: WHERE flow_id = ? ORDER BY version.
        UniqueConstraint("flow_id", "version", name="uq_flow_version_flow_version"),
    )


class Assistant(Base):
    """An assistant: a prompt, a model and tools (API.md §2)."""

    __tablename__ = "assistant"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(String(1024))
    logo: Mapped[str | None] = mapped_column(String(1024))
    prompt: Mapped[str] = mapped_column(LongText, default="")
    model: Mapped[dict[str, Any]] = mapped_column(JSON)
    tools: Mapped[list[Any]] = mapped_column(JSON)
    guide_word: Mapped[str | None] = mapped_column(Text)
    status: Mapped[int] = mapped_column(Integer, default=1)
    user_id: Mapped[int] = mapped_column(Integer)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    is_delete: Mapped[bool] = mapped_column(Boolean, default=False)
    create_time: Mapped[datetime] = _created()
    update_time: Mapped[datetime] = _updated()

    __table_args__ = (
        # Assistant list: WHERE user_id = ? AND is_delete = false ORDER BY update_time DESC.
        Index("ix_assistant_user_update", "user_id", "update_time"),
        # Online apps: WHERE status = 2 AND is_delete = false ORDER BY update_time DESC.
        Index("ix_assistant_status_update", "status", "update_time"),
    )


class User(Base):
    """A user; the password is stored as a slow hash."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # Login and registration look users up by name (the unique index serves it).
    user_name: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(16), default="user")
    create_time: Mapped[datetime] = _created()


class AuditLog(Base):
    """Who changed what (deletes, renames, feedback): appended through group commit."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # Idempotent retries of the group-commit batch, as for messages.
    event_key: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    create_time: Mapped[datetime] = _created()

    __table_args__ = (
        # Audit log of a user: WHERE user_id = ? ORDER BY id DESC.
        Index("ix_audit_log_user_id", "user_id", "id"),
        # Audit log of an object: WHERE object_type = ? AND object_id = ?.
        Index("ix_audit_log_object", "object_type", "object_id"),
    )


class TelemetryEvent(Base):
    """A telemetry event (`message_feedback`, `new_message_session`, ...)."""

    __tablename__ = "telemetry_event"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    event_key: Mapped[str] = mapped_column(String(64), unique=True)
    event_type: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer)
    chat_id: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    create_time: Mapped[datetime] = _created()

    __table_args__ = (
        # Events of a kind, newest first: WHERE event_type = ? ORDER BY id DESC.
        Index("ix_telemetry_event_type_id", "event_type", "id"),
    )


class ServerState(Base):
    """Server-wide values decided once per database, whichever replica or node asks first: the
    generated JWT signing secret (`jwt_secret`, when `RAYCHAT_JWT_SECRET` is not set) and the
    first-admin claim (`first_admin`, dev registration). Written insert-if-absent only."""

    __tablename__ = "server_state"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    create_time: Mapped[datetime] = _created()


def table_of(model: type[Base]) -> Table:
    """The Core `Table` of a mapped class (typed, for Core statements)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
