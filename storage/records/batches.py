"""A group-commit batch: the rows one `Repository.bulk_write` stores in one transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from storage.records.events import AuditRecord, TelemetryRecord
from storage.records.messages import MessageRecord
from storage.records.sessions import SessionRecord


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """Rows per table, in the order their callers sent them."""

    messages: Sequence[MessageRecord] = ()
    sessions: Sequence[SessionRecord] = ()
    telemetry: Sequence[TelemetryRecord] = ()
    audit: Sequence[AuditRecord] = ()

    @property
    def size(self) -> int:
        """Rows in the batch, all tables."""
        return len(self.messages) + len(self.sessions) + len(self.telemetry) + len(self.audit)
