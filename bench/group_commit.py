"""Storage benchmark: group commit vs raw executemany vs one commit per row; history latency.

    python bench/group_commit.py [--backends sqlite,postgresql] [--rows 20000] [--writers 256]
                            [--per-row 2000] [--messages 1000000] [--chats 100000]

Write phase (per backend, same database, same rows shape, fresh tables):
  * actor:   an in-process `StorageActor` (the production class, without Ray's hop) with
             `--writers` concurrent callers, each submitting one message at a time and waiting
             for its id, as session actors do;
  * raw:     the driver's `executemany` of the same rows in chunks of the actor's batch size,
             one transaction per chunk, no ids returned (the floor for any ORM/actor path);
  * per-row: one INSERT + COMMIT per row, sequentially (what Bisheng's `insert_one` does).
Read phase: `--messages` messages spread over `--chats` chats (bulk-loaded: executemany /
COPY), then `StorageActor.history` (page of 20, newest first) on random chats: p50/p99.
The machine is small and noisy: compare the printed ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from storage.records import HistoryQuery

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.config import StorageConfig
from actors.storage_actor.actor import StorageActor
from storage.migrate import upgrade_to_head
from storage.records import MessageRecord, SessionRecord
from storage.sql.engine import make_engine
from storage.sql.tables import Base

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/raychat_test"
FLOW = "bench-flow"
COLUMNS = (
    "row_key", "is_bot", "message", "type", "category", "flow_id", "chat_id", "user_id",
    "liked", "copied", "solved", "sensitive_status", "source", "create_time", "update_time",
)  # fmt: skip
TEXT = "a typical answer of a chat model, a couple of sentences long. " * 3


def record(chat_id: str) -> MessageRecord:
    """One answer row with a fresh key."""
    return MessageRecord(
        row_key=uuid.uuid4().hex, chat_id=chat_id, flow_id=FLOW, user_id=1, is_bot=True,
        message=TEXT, type="end", category="answer",
    )  # fmt: skip


def row_tuple(r: MessageRecord, now: datetime) -> tuple[Any, ...]:
    """The COLUMNS values of a record, for the raw paths."""
    return (r.row_key, r.is_bot, r.message, r.type, r.category, r.flow_id, r.chat_id,
            r.user_id, 0, 0, 0, 1, 0, now, now)  # fmt: skip


async def fresh_schema(url: str) -> None:
    """Drop raychat's tables and migrate to head."""
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    await upgrade_to_head(engine)
    await engine.dispose()


async def actor_rows_per_s(url: str, rows: int, writers: int, chats: list[str]) -> float:
    """Rows/s through an in-process StorageActor with `writers` concurrent callers."""
    actor = StorageActor(StorageConfig(database_url=url))
    await actor.submit([], [SessionRecord(c, FLOW, 1, "bench", 1) for c in chats])
    todo = iter(range(rows))

    async def writer() -> None:
        for i in todo:
            await actor.submit([record(chats[i % len(chats)])])

    started = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    elapsed = time.perf_counter() - started
    await actor.shutdown()
    return rows / elapsed


def insert_sql(paramstyle: str) -> str:
    """INSERT of COLUMNS in the driver's own parameter style."""
    marks = {
        "qmark": ["?"] * len(COLUMNS),
        "format": ["%s"] * len(COLUMNS),
        "numeric_dollar": [f"${i + 1}" for i in range(len(COLUMNS))],
    }[paramstyle]
    return f"INSERT INTO chatmessage ({', '.join(COLUMNS)}) VALUES ({', '.join(marks)})"


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    """`items` in slices of `size`."""
    for i in range(0, len(items), size):
        yield items[i : i + size]


async def raw_rows_per_s(url: str, rows: int, batch: int, chats: list[str]) -> float:
    """Rows/s of the driver's executemany, one transaction per `batch` rows."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    data = [row_tuple(record(chats[i % len(chats)]), now) for i in range(rows)]
    async with engine.connect() as conn:
        sql = insert_sql(conn.dialect.paramstyle)
        started = time.perf_counter()
        for part in chunks(data, batch):
            async with conn.begin():
                await conn.exec_driver_sql(sql, part)
        elapsed = time.perf_counter() - started
    await engine.dispose()
    return rows / elapsed


async def per_row_rows_per_s(url: str, rows: int, chats: list[str]) -> float:
    """Rows/s with one INSERT + COMMIT per row (Bisheng's insert_one)."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    async with engine.connect() as conn:
        sql = insert_sql(conn.dialect.paramstyle)
        started = time.perf_counter()
        for i in range(rows):
            async with conn.begin():
                await conn.exec_driver_sql(sql, row_tuple(record(chats[i % len(chats)]), now))
        elapsed = time.perf_counter() - started
    await engine.dispose()
    return rows / elapsed


async def write_phase(url: str, args: argparse.Namespace) -> dict[str, float]:
    """The three write paths on fresh tables each."""
    chats = [f"chat-{i}" for i in range(1000)]
    results = {}
    await fresh_schema(url)
    results["actor"] = await actor_rows_per_s(url, args.rows, args.writers, chats)
    await fresh_schema(url)
    results["raw"] = await raw_rows_per_s(
        url, args.rows, StorageConfig.model_fields["batch_max_rows"].default, chats
    )
    await fresh_schema(url)
    results["per-row"] = await per_row_rows_per_s(url, args.per_row, chats)
    return results


def load_rows(messages: int, chats: int) -> Iterator[tuple[Any, ...]]:
    """Bulk-load rows: message i belongs to chat i % chats (a chat's rows spread out)."""
    now = datetime.now(UTC)
    for i in range(messages):
        category = "question" if (i // chats) % 2 == 0 else "answer"
        yield (uuid.uuid4().hex, category == "answer", TEXT, "end", category, FLOW,
               f"chat-{i % chats}", 1, 0, 0, 0, 1, 0, now, now)  # fmt: skip


def session_rows(chats: int) -> list[tuple[Any, ...]]:
    """One live session per chat."""
    now = datetime.now(UTC)
    return [
        (f"chat-{i}", "", FLOW, 1, "bench", 1, False, 0, 0, 0, 1, now, now) for i in range(chats)
    ]


SESSION_COLUMNS = (
    "chat_id", "name", "flow_id", "flow_type", "flow_name", "user_id", "is_delete",
    "like", "dislike", "copied", "sensitive_status", "create_time", "update_time",
)  # fmt: skip


def bulk_load_sqlite(path: str, messages: int, chats: int) -> None:
    """executemany in 100k chunks through the stdlib driver (times as SQLAlchemy stores them)."""
    conn = sqlite3.connect(path)
    fmt = "%Y-%m-%d %H:%M:%S.%f"

    def sqlite_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(v.strftime(fmt) if isinstance(v, datetime) else v for v in row)

    marks = ", ".join("?" * len(SESSION_COLUMNS))
    conn.executemany(
        f"INSERT INTO message_session ({', '.join(SESSION_COLUMNS)}) VALUES ({marks})",
        [sqlite_row(r) for r in session_rows(chats)],
    )
    sql = insert_sql("qmark")
    rows = load_rows(messages, chats)
    while part := [sqlite_row(r) for _, r in zip(range(100_000), rows, strict=False)]:
        conn.executemany(sql, part)
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


async def bulk_load_postgres(url: str, messages: int, chats: int) -> None:
    """COPY through asyncpg."""
    engine = make_engine(url)
    async with engine.connect() as conn:
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.copy_records_to_table(
            "message_session", records=session_rows(chats), columns=list(SESSION_COLUMNS)
        )
        rows = load_rows(messages, chats)
        while part := list(zip(range(200_000), rows, strict=False)):
            await raw.copy_records_to_table(
                "chatmessage", records=[r for _, r in part], columns=list(COLUMNS)
            )
        await raw.execute("ANALYZE")
    await engine.dispose()


async def history_latency(url: str, chats: int, samples: int) -> tuple[float, float]:
    """p50 and p99 (ms) of a history page (20 newest rows) on random chats, via StorageActor."""
    actor = StorageActor(StorageConfig(database_url=url))
    await actor.ping()
    rng = random.Random(1)
    timings = []
    for _ in range(samples):
        chat = f"chat-{rng.randrange(chats)}"
        started = time.perf_counter()
        page = await actor.history(HistoryQuery(chat, FLOW, None, 20))
        timings.append((time.perf_counter() - started) * 1000)
        assert page, chat
    await actor.shutdown()
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.99) - 1]


async def read_phase(
    backend: str, url: str, args: argparse.Namespace
) -> tuple[float, float, float]:
    """Load, then measure; returns (load seconds, p50 ms, p99 ms)."""
    await fresh_schema(url)
    started = time.perf_counter()
    if backend == "sqlite":
        bulk_load_sqlite(url.removeprefix("sqlite:///"), args.messages, args.chats)
    else:
        await bulk_load_postgres(url, args.messages, args.chats)
    load_s = time.perf_counter() - started
    p50, p99 = await history_latency(url, args.chats, args.samples)
    return load_s, p50, p99


async def main() -> None:
    """Run every phase on every backend and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--writers", type=int, default=256)
    parser.add_argument("--per-row", type=int, default=2_000)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--chats", type=int, default=100_000)
    parser.add_argument("--samples", type=int, default=2_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="raychat-bench-"))
    urls = {"sqlite": f"sqlite:///{workdir / 'bench.db'}", "postgresql": args.postgres_url}
    heads = ("actor r/s", "raw r/s", "per-row r/s", "actor/raw", "actor/per-row")
    print(f"{'backend':<11} " + " ".join(f"{h:>13}" for h in heads))
    for backend in args.backends.split(","):
        w = await write_phase(urls[backend], args)
        cells = (f"{w['actor']:.0f}", f"{w['raw']:.0f}", f"{w['per-row']:.0f}",
                 f"{w['actor'] / w['raw']:.2f}", f"{w['actor'] / w['per-row']:.1f}")  # fmt: skip
        print(f"{backend:<11} " + " ".join(f"{c:>13}" for c in cells), flush=True)
    print(f"\nhistory page (20 rows): {args.messages:,} messages, {args.chats:,} chats,", end=" ")
    print(f"{args.samples} samples")
    print(f"{'backend':<11} {'load s':>8} {'p50 ms':>8} {'p99 ms':>8}")
    for backend in args.backends.split(","):
        load_s, p50, p99 = await read_phase(backend, urls[backend], args)
        print(f"{backend:<11} {load_s:>8.1f} {p50:>8.2f} {p99:>8.2f}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())
