"""SQLAlchemy 2 tables. Each index says which query it serves."""

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
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from storage.records import utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; elsewhere ids are 64-bit.
IdType = BigInteger().with_variant(Integer, "sqlite")


class Base(DeclarativeBase):
    """Declarative base; `Base.metadata` is the whole schema."""


class ChatMessage(Base):
    """One message of a chat (`chatmessage`, API.md §3 message row)."""

    __tablename__ = "chatmessage"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # Unique per logical row: a retried group-commit insert with the same key is ignored.
    row_key: Mapped[str] = mapped_column(String(64), unique=True)
    client_msg_id: Mapped[str | None] = mapped_column(String(64))
    is_bot: Mapped[bool] = mapped_column(Boolean)
    message: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(32))
    category: Mapped[str] = mapped_column(String(32))
    intermediate_steps: Mapped[str | None] = mapped_column(Text)
    files: Mapped[str | None] = mapped_column(Text)
    extra: Mapped[str | None] = mapped_column(Text)
    flow_id: Mapped[str] = mapped_column(String(64))
    chat_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(Integer)
    liked: Mapped[int] = mapped_column(Integer, default=0)
    copied: Mapped[int] = mapped_column(Integer, default=0)
    solved: Mapped[int] = mapped_column(Integer, default=0)
    sensitive_status: Mapped[int] = mapped_column(Integer, default=1)
    source: Mapped[int] = mapped_column(Integer, default=0)
    # Markers only (e.g. `break_answer`); the user's comment has its own column.
    remark: Mapped[str | None] = mapped_column(String(255))
    comment: Mapped[str | None] = mapped_column(Text)
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    update_time: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    __table_args__ = (
        # History page and context read: WHERE chat_id = ? AND id < ? ORDER BY id DESC LIMIT n.
        Index("ix_chatmessage_chat_id_id", "chat_id", "id"),
    )


class MessageSession(Base):
    """A chat session (`message_session`)."""

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
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    update_time: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    __table_args__ = (
        # Chat list: WHERE user_id = ? AND is_delete = false ORDER BY update_time DESC.
        Index("ix_message_session_user_update", "user_id", "is_delete", "update_time"),
    )


class Flow(Base):
    """A flow (skill): its current graph; older graphs live in `flow_version`."""

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
    create_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    update_time: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    __table_args__ = (
        # Flow list: WHERE user_id = ? ORDER BY update_time DESC.
        Index("ix_flow_user_update", "user_id", "update_time"),
    )


class User(Base):
    """A user; the password is stored as a slow hash."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_name: Mapped[str] = mapped_column(String(128), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(16), default="user")
    create_time: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, server_default=func.now()
    )


def table_of(model: type[Base]) -> Table:
    """The Core `Table` of a mapped class (typed, for Core statements)."""
    table = model.__table__
    assert isinstance(table, Table)
    return table
