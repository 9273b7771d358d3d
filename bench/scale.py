"""Scale-out on a local multi-node Ray cluster (`ray.cluster_utils.Cluster`, one machine): the
same load with 1 and 2 worker nodes of the same total Ray CPUs, then a worker lost under load.

    python -m bench.scale [--chats 60] [--tps 20] [--tokens 40] [--turns 2] [--hosts 2]
                          [--worker-cpus 2] [--nodes 1,2] [--sqlite] [--no-loss]

The cluster: a head with no session hosts (GCS, the storage actor through the
`raychat_storage` resource) and N workers with `raychat_host`, `--worker-cpus` split between
them; `--hosts` session hosts in all, `--hosts / N` per worker (`NodePlacement.hosts_per_node`).
Ray's health checks as the multi-node test sets them (`bench.cluster.SYSTEM_CONFIG`: every
500 ms, dead after 3 failures). Storage: PostgreSQL in a database of the run's own, created and
dropped by the bench (`--sqlite`: a temporary SQLite file); Redis holds the frame archive.

Load, from this process (no Serve: the ingress's cost is bench/stream.py's subject): `--chats`
chats, each runs `--turns` turns one after the other through `Runtime.start_turn` and
`Runtime.subscribe` (the replica's frame channel, what a socket relays); every answer is
`--tokens` tokens paced at `--tps` by the demo echo model; all first asks start together.

Prints per configuration: delivered tokens/s, TTFT p50/p99, turn duration / the model's pace,
CPU per delivered token by process (utime+stime from /proc, grouped: session hosts per node,
storage actor, raylets, GCS, the bench driver), sessions live after the load per host and node
(`Runtime.host_reports`); then the 2-node/1-node ratios. With 2 workers, last: every chat starts
a turn, the second worker is lost (`bench.cluster.lose`: SIGKILL, no clean stop) once a turn on
it streams, and the bench times the kill -> end of each in-flight turn on it, then every lost
chat's next turn (ask -> first token, -> close; asks retried every 0.5 s as a client does).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import ray
from ray.cluster_utils import Cluster

from actors.config import NodePlacement, RuntimeConfig, SessionConfig, StorageConfig
from actors.errors import ChatServiceError, StorageUnavailable
from actors.flows.demo_graph import demo_graph
from actors.ray.registry import Runtime
from actors.sessions.channel import Subscription
from actors.sessions.session import Ask, SessionKey
from bench import procstat
from bench.cluster import SYSTEM_CONFIG, lose, raylet_pid, scratch_database
from bench.percentiles import pct
from storage.records import FLOW_ONLINE, FlowRecord

PG_ADMIN = os.environ.get(
    "RAYCHAT_TEST_POSTGRES_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("RAYCHAT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
HOST_RESOURCE = "raychat_host"
STORAGE_RESOURCE = "raychat_storage"
CLASSES = (
    ("host", "_RaySessionHost"),
    ("storage", "StorageActor"),
    ("gcs", "gcs_server"),
    ("raylet", "raylet"),
)
RETRY_S = 0.5  # a client's back-off between asks that failed while the node's loss settles
LOSS_DEADLINE_S = 120.0
# A turn that has not closed this long after its ask is counted as stuck (a turn here lasts
# seconds; 2026-12-03's second run had one subscription wait > 10 min for frames).
STUCK_S = 60.0


@dataclass
class Turn:
    """One turn as the client saw it (monotonic times); `error` says how it ended otherwise."""

    asked_at: float
    first_at: float | None = None
    closed_at: float | None = None
    ended_at: float = 0.0
    tokens: int = 0
    answer: str = ""
    error: str | None = None


async def run_turn(
    runtime: Runtime, key: SessionKey, text: str, streaming: asyncio.Event | None = None
) -> Turn:
    """Ask and relay the turn's frames through the frame channel until its `close`. A session
    gone mid-turn or a failed channel poll ends it with `error`; the ask's own errors raise."""
    turn = Turn(time.monotonic())
    after = await runtime.start_turn(key, Ask(user_id=1, inputs={"input": text})) - 1
    sub = await runtime.subscribe(key, 1, after)
    try:
        async with asyncio.timeout(STUCK_S):
            await relay(sub, turn, streaming)
    except TimeoutError:
        turn.error = "stuck"  # no close within STUCK_S: counted, so one turn cannot hang the run
        await explain_stuck(runtime, key, sub, turn)
    finally:
        sub.close()
        turn.ended_at = time.monotonic()
    return turn


async def explain_stuck(runtime: Runtime, key: SessionKey, sub: Subscription, turn: Turn) -> None:
    """Print what the chat's host holds past the subscription's cursor: frames there mean the
    channel did not deliver them; none, that the turn did not run on."""
    slot = await runtime.directory.pick(key.text)
    held = await runtime.pull(key, 1, sub.cursor, 0.1)
    kinds = [f"{f['type']}/{f['category']}" for f in held.frames]
    print(
        f"  stuck turn: chat {key.chat_id[:8]} on {slot.name}, {turn.tokens} tokens relayed, "
        f"cursor {sub.cursor}; the host holds {len(kinds)} frames after it (live {held.live}): "
        f"{kinds[:3]}...{kinds[-2:]}"
    )


async def relay(sub: Subscription, turn: Turn, streaming: asyncio.Event | None) -> None:
    while turn.closed_at is None and turn.error is None:
        try:
            batch = await sub.next()
        except ChatServiceError as exc:
            turn.error = type(exc).__name__
            return
        if not batch.live and not batch.frames:
            turn.error = "session gone"
        for frame in batch.frames:
            note(turn, frame, streaming)


def note(turn: Turn, frame: Any, streaming: asyncio.Event | None) -> None:
    kind, category = frame["type"], frame["category"]
    if kind == "stream":
        turn.tokens += 1
        if turn.first_at is None:
            turn.first_at = time.monotonic()
            if streaming is not None:
                streaming.set()
    elif kind == "end" and category == "error":
        turn.error = "error frame"
    elif kind == "end" and category == "answer":
        turn.answer = str(frame["message"])
    elif kind == "close":
        turn.closed_at = time.monotonic()


# ---------------------------------------------------------------------------------------------
# The cluster


@dataclass
class Bench:
    cluster: Cluster
    runtime: Runtime
    workers: list[Any]  # ray._private.node.Node of each worker (untyped in Ray)
    labels: dict[str, str]  # node id -> head, w1, w2, ...
    raylets: dict[int, str]  # raylet pid -> node label
    flow_id: str = ""


@contextlib.contextmanager
def storage_url(args: argparse.Namespace) -> Iterator[str]:
    if args.sqlite:
        with tempfile.TemporaryDirectory() as workdir:
            yield f"sqlite:///{workdir}/raychat.db"
    else:
        with scratch_database(args.postgres_admin_url, "raychat_scale") as url:
            yield url


@contextlib.contextmanager
def local_cluster(workers: int, args: argparse.Namespace, database_url: str) -> Iterator[Bench]:
    """Head + `workers` workers and a Runtime on them; shut down on every exit path."""
    head = {
        "num_cpus": 1,
        "resources": {STORAGE_RESOURCE: 1},
        "include_dashboard": False,
        "_system_config": SYSTEM_CONFIG,
    }
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        cpus = args.worker_cpus / workers
        nodes = [
            cluster.add_node(num_cpus=cpus, resources={HOST_RESOURCE: 1}) for _ in range(workers)
        ]
        cluster.wait_for_nodes()
        ray.init(address=cluster.address, log_to_driver=False)
        config = RuntimeConfig(
            storage=StorageConfig(database_url=database_url),
            sessions=SessionConfig(host_call_timeout_s=20, max_sessions_per_user=0),
            jwt_secret="x" * 40,
            redis_url=args.redis_url,
            namespace=f"raychat-scale-{uuid.uuid4().hex[:8]}",
            nodes=NodePlacement(
                hosts_per_node=max(1, args.hosts // workers),
                node_resource=HOST_RESOURCE,
                refresh_s=1,
                storage_resource=STORAGE_RESOURCE,
            ),
        )
        all_nodes = [cluster.head_node, *nodes]
        names = ["head", *(f"w{i + 1}" for i in range(workers))]
        yield Bench(
            cluster,
            Runtime(config),
            nodes,
            {n.node_id: name for n, name in zip(all_nodes, names, strict=True)},
            {raylet_pid(n): name for n, name in zip(all_nodes, names, strict=True)},
        )
    finally:
        ray.shutdown()
        cluster.shutdown()  # type: ignore[no-untyped-call]  # Ray leaves it unannotated


def classifier(raylets: dict[int, str]) -> Callable[[int], str]:
    """Class of a process of this run: `driver` (this process: the load client and the
    Runtime's frame channels, the replica's role), else its command-line class, with `@node`
    for a raylet and the processes below it (that node's workers and agents)."""
    parents = dict(procstat.processes())
    me = os.getpid()

    def node_of(pid: int) -> str | None:
        while pid not in (me, 0, 1):
            if pid in raylets:
                return raylets[pid]
            pid = parents.get(pid, 0)
        return None

    def classify(pid: int) -> str:
        if pid == me:
            return "driver"
        kind = procstat.class_of(pid, CLASSES)
        node = node_of(pid)
        return f"{kind}@{node}" if node else kind

    return classify


def cpu_by_class(bench: Bench) -> dict[str, float]:
    return procstat.by_class(os.getpid(), procstat.cpu_s, classifier(bench.raylets))


# ---------------------------------------------------------------------------------------------
# Measurements


@dataclass
class Result:
    workers: int
    tokens_per_s: float
    ttft_ms: list[float]
    ttft_first_ms: list[float]  # each chat's first turn (its session's activation)
    turn_ratio: list[float]
    errors: int
    stuck: int  # turns with no close within STUCK_S
    cpu_ms_per_token: dict[str, float]
    live: dict[str, int]  # sessions live after the load by `host@node`
    keys: list[SessionKey] = field(default_factory=list)


async def install_flow(bench: Bench, args: argparse.Namespace) -> None:
    bench.flow_id = uuid.uuid4().hex
    graph = demo_graph(tokens_per_second=args.tps, answer_tokens=args.tokens)
    record = FlowRecord(bench.flow_id, "scale bench", FLOW_ONLINE, 1, graph, user_id=1)
    await bench.runtime.storage.put_flow(record)
    await bench.runtime.warm_hosts()


async def chat(runtime: Runtime, key: SessionKey, turns: int, go: asyncio.Event) -> list[Turn]:
    await go.wait()
    return [await run_turn(runtime, key, f"question {i}") for i in range(turns)]


async def measure(bench: Bench, args: argparse.Namespace) -> Result:
    """The load: every chat's turns, all chats started together; CPU over the load only."""
    await install_flow(bench, args)
    keys = [SessionKey(bench.flow_id, uuid.uuid4().hex) for _ in range(args.chats)]
    go = asyncio.Event()
    tasks = [asyncio.create_task(chat(bench.runtime, k, args.turns, go)) for k in keys]
    cpu0, t0 = cpu_by_class(bench), time.monotonic()
    go.set()
    by_chat = await asyncio.gather(*tasks)
    turns = [t for chat_turns in by_chat for t in chat_turns]
    wall = time.monotonic() - t0
    cpu1 = cpu_by_class(bench)
    tokens = max(1, sum(t.tokens for t in turns))
    ideal_s = args.tokens / args.tps
    done = [t for t in turns if t.first_at is not None and t.closed_at is not None]
    return Result(
        len(bench.workers),
        tokens / wall,
        [((t.first_at or 0) - t.asked_at) * 1000 for t in done],
        [((t[0].first_at or 0) - t[0].asked_at) * 1000 for t in by_chat if t[0].first_at],
        [((t.closed_at or 0) - t.asked_at) / ideal_s for t in done],
        sum(1 for t in turns if t.error is not None),
        sum(1 for t in turns if t.error == "stuck"),
        {k: (cpu1.get(k, 0) - cpu0.get(k, 0)) * 1000 / tokens for k in cpu1},
        await live_sessions(bench),
        keys,
    )


async def live_sessions(bench: Bench) -> dict[str, int]:
    live: dict[str, int] = {}
    for report in await bench.runtime.host_reports(1):
        if report.summary is not None:
            node = bench.labels.get(report.summary.node.get("node_id", ""), "?")
            live[f"{report.name}@{node}"] = report.summary.live
    return live


@dataclass
class Loss:
    lost: int  # chats on the lost node
    kill_s: float  # the kill itself (SIGKILL + remove_node)
    inflight_end_s: list[float]  # kill -> end of each in-flight turn on the lost node
    inflight_closed: int  # of those, turns that still closed normally
    inflight_how: dict[str, int]  # how the others ended: error frame, session gone, poll failed
    others_ok: int  # in-flight turns on the other node that closed without error
    others: int
    first_ms: list[float]  # lost chats' next turn: ask -> first token
    close_ms: list[float]  # ask -> close
    retries: int
    context: list[int]  # context messages the echo model saw in each reactivated turn
    moved: int  # lost chats now placed on the surviving node


async def node_loss(bench: Bench, keys: list[SessionKey]) -> Loss:
    """Every chat starts a turn; the worker holding the most chats is lost once one of its turns
    streams (with few chats, rendezvous placement may leave a worker with none); then every chat
    that was on it asks again."""
    placed = {k: (await bench.runtime.directory.pick(k.text)).node_id for k in keys}
    held = Counter(placed.values())
    lost_node = max(reversed(bench.workers), key=lambda w: held[w.node_id])
    doomed = [k for k in keys if placed[k] == lost_node.node_id]
    streaming = asyncio.Event()
    inflight = {
        k: asyncio.create_task(
            run_turn(bench.runtime, k, "in flight", streaming if k in doomed else None)
        )
        for k in keys
    }
    await asyncio.wait_for(streaming.wait(), LOSS_DEADLINE_S)
    killed_at = time.monotonic()
    await asyncio.to_thread(lose, bench.cluster, lost_node)
    kill_s = time.monotonic() - killed_at
    ended = dict(zip(inflight, await _settled(list(inflight.values())), strict=True))
    doomed_turns = [t for k, t in ended.items() if k in doomed and t is not None]
    others = [t for k, t in ended.items() if k not in doomed]
    again = await asyncio.gather(*(ask_until_answered(bench.runtime, k) for k in doomed))
    gone = lost_node.node_id
    moved = [(await bench.runtime.directory.pick(k.text)).node_id != gone for k in doomed]
    return Loss(
        len(doomed),
        kill_s,
        [t.ended_at - killed_at for t in doomed_turns],
        sum(1 for t in doomed_turns if t.closed_at is not None and t.error is None),
        dict(Counter(t.error for t in doomed_turns if t.error is not None)),
        sum(1 for t in others if t is not None and t.error is None and t.closed_at),
        len(others),
        [((t.first_at or t.ended_at) - asked) * 1000 for asked, t, _ in again],
        [(t.ended_at - asked) * 1000 for asked, t, _ in again],
        sum(r for _, _, r in again),
        [echo_context(t.answer) for _, t, _ in again],
        sum(moved),
    )


async def _settled(tasks: list[asyncio.Task[Turn]]) -> list[Turn | None]:
    """Each turn, or None where its ask itself failed (the host died under the call)."""
    async with asyncio.timeout(LOSS_DEADLINE_S):
        results = await asyncio.gather(*tasks, return_exceptions=True)
    return [r if isinstance(r, Turn) else None for r in results]


async def ask_until_answered(runtime: Runtime, key: SessionKey) -> tuple[float, Turn, int]:
    """The chat's next turn, asked again every RETRY_S while it fails: (first ask's time,
    the turn that closed, retries)."""
    asked, retries = time.monotonic(), 0
    async with asyncio.timeout(LOSS_DEADLINE_S):
        while True:
            try:
                turn = await run_turn(runtime, key, "again")
                if turn.error is None and turn.closed_at is not None:
                    return asked, turn, retries
            except (ChatServiceError, StorageUnavailable):
                pass
            retries += 1
            await asyncio.sleep(RETRY_S)


def echo_context(answer: str) -> int:
    """The echo model answers `echo(<context messages>): <question>`."""
    head = answer.removeprefix("echo(").split(")", 1)[0]
    return int(head) if head.isdigit() else -1


# ---------------------------------------------------------------------------------------------
# Report


def by_group(cpu: dict[str, float]) -> dict[str, float]:
    """CPU per token by process group (`host@w1`, ...; Ray's other processes summed)."""
    groups: dict[str, float] = defaultdict(float)
    for name, value in cpu.items():
        kind, _, node = name.partition("@")
        if kind in ("ray-other", "other", "gone"):
            kind = "ray-other"
        groups[f"{kind}@{node}" if node and kind in ("host", "raylet") else kind] += value
    return dict(groups)


def worker_share(cpu: dict[str, float]) -> float:
    """CPU per token of everything on the worker nodes (their raylets and what runs below)."""
    return sum(v for k, v in cpu.items() if "@w" in k)


def print_result(r: Result, args: argparse.Namespace) -> None:
    print(
        f"\n{r.workers} worker node(s), {args.worker_cpus / r.workers:g} Ray CPUs each, "
        f"{max(1, args.hosts // r.workers)} session host(s) per node"
    )
    print(
        f"{'tok/s':>8}{'ttft p50':>10}{'ttft p99':>10}{'turn/ideal':>12}{'cpu ms/tok':>12}"
        f"{'workers ms/tok':>16}{'errors':>8}{'stuck':>7}"
    )
    print(
        f"{r.tokens_per_s:>8.0f}{pct(r.ttft_ms, 50):>10.0f}{pct(r.ttft_ms, 99):>10.0f}"
        f"{pct(r.turn_ratio, 50):>12.2f}{sum(r.cpu_ms_per_token.values()):>12.3f}"
        f"{worker_share(r.cpu_ms_per_token):>16.3f}{r.errors:>8}{r.stuck:>7}"
    )
    groups = sorted(by_group(r.cpu_ms_per_token).items(), key=lambda kv: -kv[1])
    print("  cpu ms/token: " + ", ".join(f"{k} {v:.3f}" for k, v in groups if v >= 0.0005))
    print(f"  ttft p50 of each chat's first turn (activation) {pct(r.ttft_first_ms, 50):.0f} ms")
    print("  live sessions: " + ", ".join(f"{k} {v}" for k, v in sorted(r.live.items())))
    per_node: dict[str, int] = defaultdict(int)
    for name, count in r.live.items():
        per_node[name.rsplit("@", 1)[1]] += count
    print("  live per node: " + ", ".join(f"{k} {v}" for k, v in sorted(per_node.items())))


def print_ratios(one: Result, two: Result) -> None:
    cpu1, cpu2 = sum(one.cpu_ms_per_token.values()), sum(two.cpu_ms_per_token.values())
    print(
        f"\n2 nodes / 1 node: tokens/s {two.tokens_per_s / one.tokens_per_s:.2f}x, "
        f"ttft p50 {pct(two.ttft_ms, 50) / pct(one.ttft_ms, 50):.2f}x, "
        f"p99 {pct(two.ttft_ms, 99) / pct(one.ttft_ms, 99):.2f}x, "
        f"turn/ideal {pct(two.turn_ratio, 50) / pct(one.turn_ratio, 50):.2f}x, "
        f"cpu/token {cpu2 / cpu1:.2f}x, workers' cpu/token "
        f"{worker_share(two.cpu_ms_per_token) / worker_share(one.cpu_ms_per_token):.2f}x"
    )


def print_loss(loss: Loss) -> None:
    took = f"kill + remove_node took {loss.kill_s:.2f} s"
    print(f"\nnode loss (the worker with the most chats, SIGKILL; {took})")
    ends = loss.inflight_end_s
    print(
        f"  in-flight turns on the lost node: {len(ends)} of {loss.lost} chats, kill -> end "
        f"p50 {pct(ends, 50):.2f} s, max {max(ends, default=float('nan')):.2f} s "
        f"({loss.inflight_closed} closed normally before their host died)"
    )
    how = ", ".join(f"{k} {v}" for k, v in sorted(loss.inflight_how.items()))
    print(f"  how they ended: {how or '-'}; turns whose ask failed: {loss.lost - len(ends)}")
    print(f"  in-flight turns on the other node: {loss.others_ok}/{loss.others} closed normally")
    print(
        f"  lost chats' next turn ({len(loss.first_ms)}): ask -> first token p50 "
        f"{pct(loss.first_ms, 50):.0f} ms, max {max(loss.first_ms, default=float('nan')):.0f} ms; "
        f"-> close p50 {pct(loss.close_ms, 50):.0f} ms, "
        f"max {max(loss.close_ms, default=float('nan')):.0f} ms; retried asks {loss.retries}"
    )
    print(
        f"  placed on the surviving node: {loss.moved}/{loss.lost}; context messages seen: "
        f"min {min(loss.context, default=-1)}, max {max(loss.context, default=-1)}"
    )


# ---------------------------------------------------------------------------------------------


async def run_config(
    bench: Bench, args: argparse.Namespace, loss: bool
) -> tuple[Result, Loss | None]:
    result = await measure(bench, args)
    return result, (await node_loss(bench, result.keys) if loss else None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--chats", type=int, default=60)
    parser.add_argument("--tps", type=float, default=20)
    parser.add_argument("--tokens", type=int, default=40)
    parser.add_argument("--turns", type=int, default=2)
    parser.add_argument("--hosts", type=int, default=2, help="session hosts in all")
    parser.add_argument("--worker-cpus", type=float, default=2, help="Ray CPUs of all workers")
    parser.add_argument("--nodes", default="1,2", help="worker counts to run, e.g. 1,2")
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    parser.add_argument("--no-loss", action="store_true", help="skip the node loss")
    parser.add_argument("--postgres-admin-url", default=PG_ADMIN)
    parser.add_argument("--redis-url", default=REDIS_URL)
    args = parser.parse_args()
    print(
        f"load: {args.chats} chats x {args.turns} turns x {args.tokens} tokens at {args.tps:g} "
        f"tok/s ({args.chats * args.tps:g} tok/s offered); storage "
        f"{'sqlite' if args.sqlite else 'postgresql'}, Redis frame archive"
    )
    results: dict[int, Result] = {}
    for workers in (int(n) for n in args.nodes.split(",")):
        with storage_url(args) as url, local_cluster(workers, args, url) as bench:
            loss = workers >= 2 and not args.no_loss
            result, lost = asyncio.run(run_config(bench, args, loss))
        results[workers] = result
        print_result(result, args)
        if lost is not None:
            print_loss(lost)
    if 1 in results and 2 in results:
        print_ratios(results[1], results[2])


if __name__ == "__main__":
    main()
