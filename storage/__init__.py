"""Persistence: tables, plain records that cross actor boundaries, and the repository."""

from storage.records import (
    FlowRecord,
    MessageRecord,
    MessageRow,
    SessionRecord,
    UserRecord,
    utcnow,
)
from storage.repository import Repository, SqlRepository
from storage.sql.engine import make_engine, to_async_url

__all__ = [
    "FlowRecord",
    "MessageRecord",
    "MessageRow",
    "Repository",
    "SessionRecord",
    "SqlRepository",
    "UserRecord",
    "make_engine",
    "to_async_url",
    "utcnow",
]
