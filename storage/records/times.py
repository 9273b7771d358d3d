"""Time helpers of every record: stored times are UTC."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Timezone-aware now; every stored time is UTC."""
    return datetime.now(UTC)


def iso(value: datetime) -> str:
    """ISO 8601 with an explicit offset; naive values (SQLite drops tzinfo) are UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat()
