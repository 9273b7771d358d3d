"""Persistence: tables, plain records that cross actor boundaries, and the repository."""

from storage.db import make_engine, to_async_url
from storage.records import (
    FlowRecord,
    MessageRecord,
    MessageRow,
    SessionRecord,
    UserRecord,
    utcnow,
)
from storage.repository import Repository, SqlRepository

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
