"""question rows store the JSON of the ask's inputs (Bisheng's form, API.md §4.5)

Rows written before this revision hold the question as plain text. Each becomes the JSON of its
inputs: the `inputs` object kept in `extra` (`{"inputs": {...}}`) when the row has one, else
`{"input": <text>}`. Rows whose `message` already is a JSON object are left as they are. Data
only; no schema change. Runs in batches so a large table is never read whole.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 16:30:00.000000
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH_ROWS = 1000
messages = sa.table(
    "chatmessage",
    sa.column("id", sa.BigInteger),
    sa.column("message", sa.Text),
    sa.column("extra", sa.Text),
    sa.column("category", sa.String),
    sa.column("is_bot", sa.Boolean),
)


def _json_object(text: str | None) -> dict[str, Any] | None:
    try:
        value = json.loads(text or "")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def as_inputs_json(message: str, extra: str | None) -> str | None:
    """The new `message` of a plain-text question row; None when it needs no change."""
    if _json_object(message) is not None:
        return None
    inputs = (_json_object(extra) or {}).get("inputs")
    if isinstance(inputs, dict) and message in inputs.values():
        chosen = {k: v for k, v in inputs.items() if k != "id"}
    else:
        chosen = {"input": message}
    return json.dumps(chosen, ensure_ascii=False)


def upgrade() -> None:
    """Rewrite plain-text question rows, BATCH_ROWS at a time, in id order."""
    bind = op.get_bind()
    after = 0
    while True:
        rows = bind.execute(
            sa.select(messages.c.id, messages.c.message, messages.c.extra)
            .where(messages.c.category == "question", messages.c.id > after)
            .order_by(messages.c.id)
            .limit(BATCH_ROWS)
        ).all()
        if not rows:
            return
        for row in rows:
            new = as_inputs_json(row.message or "", row.extra)
            if new is not None:
                bind.execute(sa.update(messages).where(messages.c.id == row.id).values(message=new))
        after = rows[-1].id


def downgrade() -> None:
    """Data only: the JSON form stays (the text is inside it; nothing to undo in the schema)."""
