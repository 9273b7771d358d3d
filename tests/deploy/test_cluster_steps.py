"""cluster.yaml's own commands, step by step, on this machine: what `ray up cluster.yaml` runs on
a head and a worker, without SSH (issue 11).

Two "machines" are two HOMEs here. Each gets cluster.yaml's file_mounts (rsync with the file's
excludes and filters), a Python and its environment in ~/.bashrc (the database, Redis, the JWT
secret: what an operator exports on a node), then every command of setup_commands,
head_/worker_setup_commands and head_/worker_start_ray_commands, wrapped as Ray's SSH command
runner wraps them (`bash --login -i`, `source ~/.bashrc`; RAY_HEAD_IP exported for the worker's).
The worker joins the head as a second Ray node; then /health, a chat turn over the WebSocket, two
alive nodes with the resources the file gives them, the ingress on the head and the session
hosts on the worker.

Substituted, because both nodes share one machine (each substitution asserts its text is in the
file, so a changed cluster.yaml fails here instead of running something else):
- `ray stop` is skipped: it stops every Ray process of the user on the machine, other clusters'
  too. Teardown stops exactly this cluster's processes (a marker in their environment): SIGTERM,
  SIGKILL after `ray stop`'s grace period, and then none may be left.
- Ports: the GCS's 6380 and the metrics agent's 8080 become free ports and every other listener
  gets one (two raylets on one machine cannot share them); a Ray --temp-dir per node.
- `--autoscaling-config=~/ray_bootstrap_config.yaml` is dropped: `ray up` writes that file, and
  the autoscaler it starts would SSH to worker_ips.
- The head's copy of serve_config.yaml: the HTTP port, `proxy_location: HeadOnly` (both nodes'
  HAProxies would bind one port on one machine), a namespace of its own.
- The nodes' Python is a venv over this machine's site-packages (so `pip install -e ~/raychat`
  downloads nothing), with the `ray` and `serve` entry points pip writes when it installs Ray.
What `ray up` does beyond this is in docs/deploy.md ("What the step test does not cover")."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from ray.autoscaler._private.command_runner import _with_interactive
from ray.autoscaler._private.util import with_head_node_ip

from actors.ray.nodes import HOST_PREFIX
from actors.ray.registry import STORAGE_NAME
from tests.deploy.conftest import (
    RAY_NODE_PORTS,
    ROOT,
    SECRET,
    Deployed,
    chat_turn,
    free_port,
    ray_port_flags,
    serve_isolation_env,
    wait_until,
)
from tests.integration.test_stuck_database import PG_HOST, PG_PORT, _reset_database

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]
CLUSTER: dict[str, Any] = yaml.safe_load((ROOT / "cluster.yaml").read_text())
HEAD_IP = "127.0.0.1"
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
MARKER = "RAYCHAT_CLUSTER_STEPS"  # in every process of the cluster: how teardown finds them
RAY_STOP_GRACE_S = 16.0  # `ray stop --grace-period`'s default
# Ray's own wrappers (untyped): how its SSH command runner sends a command, and the RAY_HEAD_IP
# export `ray up` puts before each worker command.
interactive: Callable[[str], list[str]] = _with_interactive
exported_head_ip: Callable[[list[str], str], list[str]] = with_head_node_ip
ENTRY_POINTS = {"ray": ("ray.scripts.scripts", "main"), "serve": ("ray.serve.scripts", "cli")}


@dataclass
class Node:
    """One "machine": its HOME (with ~/raychat, ~/.ray/auth_token, ~/.bashrc) and Ray temp dir."""

    name: str
    home: Path
    ray_temp: Path
    ran: list[tuple[str, float]] = field(default_factory=list)

    def run(
        self, command: str, timeout: float = 300, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """A command as `ray up` sends cluster.yaml's over SSH: Ray's interactive wrapper, run by
        the login shell sshd would start, with the environment sshd gives."""
        env = {
            "HOME": str(self.home),
            "USER": getpass.getuser(),
            "LOGNAME": getpass.getuser(),
            "SHELL": "/bin/bash",
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
        }
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-c", " ".join(interactive(command))],
            env=env,
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.ran.append((command, time.monotonic() - started))
        assert done.returncode == 0 or not check, (
            f"{self.name}: `{command}` exited {done.returncode}\n"
            f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        assert done.returncode != 0 or check, f"{self.name}: `{command}` succeeded"
        return done


@dataclass(frozen=True)
class Cluster:
    deployed: Deployed
    head: Node
    worker: Node


def replaced(command: str, old: str, new: str) -> str:
    assert old in command, f"cluster.yaml changed: {old!r} not in {command!r}"
    return command.replace(old, new)


def own_listeners(command: str, node: Node, *flags: str) -> str:
    """A `ray start` of the file with a metrics port, every other listener and a temp dir of its
    own (two raylets on one machine)."""
    metrics = f"--metrics-export-port={free_port()}"
    command = replaced(command, "--metrics-export-port=8080", metrics)
    others = [name for name in RAY_NODE_PORTS if name != "metrics-export-port"]
    return " ".join([command, f"--temp-dir={node.ray_temp}", *ray_port_flags(*others), *flags])


def head_command(command: str, node: Node, gcs_port: int, dash_port: int) -> str | None:
    if command == "ray stop":
        return None
    if "ray start" not in command:
        return command
    command = replaced(command, "--port=6380", f"--port={gcs_port}")
    command = replaced(command, " --autoscaling-config=~/ray_bootstrap_config.yaml", "")
    client_port, *_ = ray_port_flags("ray-client-server-port")
    return own_listeners(
        command, node, f"--dashboard-port={dash_port}", client_port, "--disable-usage-stats"
    )


def worker_command(command: str, node: Node, gcs_port: int) -> str | None:
    if command == "ray stop":
        return None
    if "ray start" in command:
        command = replaced(command, "$RAY_HEAD_IP:6380", f"$RAY_HEAD_IP:{gcs_port}")
        command = own_listeners(command, node)
    (exported,) = exported_head_ip([command], HEAD_IP)
    return exported


def mount_files(node: Node, launcher_home: Path) -> None:
    """cluster.yaml's file_mounts with its rsync_exclude/rsync_filter, as Ray's updater calls
    rsync (a directory's contents into the target directory), minus `--rsh ssh`."""
    filters: list[str] = []
    for pattern in CLUSTER.get("rsync_exclude") or []:
        filters += ["--exclude", pattern]
    for name in CLUSTER.get("rsync_filter") or []:
        filters += ["--filter", f"dir-merge,- {name}"]
    for remote, local in CLUSTER["file_mounts"].items():
        source = Path(local.replace("~", str(launcher_home), 1)) if local[0] == "~" else ROOT
        target = Path(remote.replace("~", str(node.home), 1))
        target.parent.mkdir(parents=True, exist_ok=True)
        slash = "/" if source.is_dir() else ""
        subprocess.run(
            ["rsync", "-az", *filters, f"{source}{slash}", f"{target}{slash}"],
            check=True,
            timeout=120,
        )


def give_python(node: Node) -> Path:
    """The node's Python 3.11: a venv over this machine's packages, Ray's entry points in it."""
    venv = node.home / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120
    )
    for name, (module, function) in ENTRY_POINTS.items():
        script = venv / "bin" / name
        script.write_text(
            f"#!{venv}/bin/python\nimport sys\nfrom {module} import {function}\n"
            f"sys.exit({function}())\n"
        )
        script.chmod(0o755)
    return venv


def write_bashrc(node: Node, venv: Path, environment: dict[str, str]) -> None:
    lines = [f"export PATH={shlex.quote(str(venv / 'bin'))}:$PATH"]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in environment.items()]
    (node.home / ".bashrc").write_text("\n".join(lines) + "\n")


def marked_processes(marker: str) -> dict[int, str]:
    """This cluster's live processes: those whose environment carries the marker."""
    needle = f"{MARKER}={marker}".encode()
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
                found[int(entry.name)] = command.decode(errors="replace")[:160]
        except OSError:  # gone, or not ours to read
            continue
    return found


def signal_all(pids: dict[int, str], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)


def ray_stop_bucket(command: str) -> int:
    """`ray stop`'s order: the raylet first, then the other processes it knows, the GCS last
    (Ray's workers and HAProxy are not in its list: they end with their raylet)."""
    if "/raylet/raylet " in command:
        return 0
    return 2 if "/gcs/gcs_server " in command else 1


def stop_cluster(marker: str) -> tuple[dict[int, str], dict[int, str]]:
    """`ray stop` on every node, for this cluster's processes only: per bucket SIGTERM, a third
    of the grace period, SIGKILL for the rest. Returns the processes that needed SIGKILL and
    those alive at the end (workers are signalled only if they outlive the last bucket)."""
    stubborn: dict[int, str] = {}
    for bucket in (0, 1, 2):
        targets = {
            pid: command
            for pid, command in marked_processes(marker).items()
            if ray_stop_bucket(command) == bucket and not command.startswith("ray::")
        }
        signal_all(targets, signal.SIGTERM)
        deadline = time.monotonic() + RAY_STOP_GRACE_S / 3
        while (alive := targets.keys() & marked_processes(marker).keys()) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.2)
        stubborn |= {pid: targets[pid] for pid in alive}
        signal_all({pid: targets[pid] for pid in alive}, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    orphans = marked_processes(marker)  # nothing of a cleanly stopped cluster
    stubborn |= orphans
    signal_all(orphans, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while marked_processes(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    return stubborn, marked_processes(marker)


def redis_reachable() -> bool:
    try:
        socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2).close()
    except OSError:
        return False
    return True


def deploy_config(node: Node, http_port: int) -> None:
    """The head's copy of serve_config.yaml, with what must differ on one machine."""
    path = node.home / "raychat" / "serve_config.yaml"
    config = yaml.safe_load(path.read_text())
    config["http_options"] = {"host": "127.0.0.1", "port": http_port}
    config["proxy_location"] = "HeadOnly"
    config["applications"][0]["args"]["namespace"] = f"raychat-steps-{uuid.uuid4().hex[:6]}"
    path.write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    database = f"raychat_steps_{uuid.uuid4().hex[:8]}"
    try:
        asyncio.run(_reset_database(create=True, name=database))
    except Exception as exc:  # PostgreSQL missing: nothing to test here
        pytest.skip(f"PostgreSQL at {PG_HOST}:{PG_PORT} unavailable: {exc}")
    if not redis_reachable():
        asyncio.run(_reset_database(create=False, name=database))
        pytest.skip(f"Redis at {REDIS_HOST}:{REDIS_PORT} unavailable")
    work = tmp_path_factory.mktemp("cluster-steps")
    marker = uuid.uuid4().hex
    gcs_port, dash_port, http_port = free_port(), free_port(), free_port()
    launcher = work / "launcher"
    nodes = [
        Node(name, work / name, Path(f"/tmp/rc-{name}-{marker[:8]}")) for name in ("head", "worker")
    ]
    head, worker = nodes
    isolation: list[dict[str, str]] = []
    try:
        launcher.mkdir()
        # As docs/deploy.md says: the token is made once on the launcher machine.
        subprocess.run(
            ["ray", "get-auth-token", "--generate"],
            env={k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
            | {"HOME": str(launcher)},
            check=True,
            capture_output=True,
            timeout=60,
        )
        ray_token = (launcher / ".ray" / "auth_token").read_text().strip()
        for node in nodes:
            node.home.mkdir()
            mount_files(node, launcher)
            isolation.append(serve_isolation_env())
            environment = {
                "RAYCHAT_DATABASE_URL": f"postgresql://postgres@{PG_HOST}:{PG_PORT}/{database}",
                "RAYCHAT_REDIS_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
                "RAYCHAT_JWT_SECRET": SECRET,
                "RAY_DASHBOARD_ADDRESS": f"http://127.0.0.1:{dash_port}",  # for `serve deploy`
                **isolation[-1],
                MARKER: marker,
            }
            write_bashrc(node, give_python(node), environment)
        assert not (head.home / "raychat" / ".git").exists()  # rsync_exclude
        deploy_config(head, http_port)
        for command in CLUSTER["setup_commands"] + CLUSTER["head_setup_commands"]:
            head.run(command)
        for command in CLUSTER["head_start_ray_commands"]:
            if (local := head_command(command, head, gcs_port, dash_port)) is not None:
                head.run(local)
        for command in CLUSTER["setup_commands"] + CLUSTER["worker_setup_commands"]:
            worker.run(command)
        for command in CLUSTER["worker_start_ray_commands"]:
            if (local := worker_command(command, worker, gcs_port)) is not None:
                worker.run(local)
        base = f"http://127.0.0.1:{http_port}"
        started = time.monotonic()
        wait_until(lambda: httpx.get(f"{base}/health").status_code == 200, 240, "raychat")
        head.ran.append(("(until /health answered 200)", time.monotonic() - started))
        dashboard = f"http://127.0.0.1:{dash_port}"
        yield Cluster(Deployed(base, dashboard, f"{HEAD_IP}:{gcs_port}", ray_token), head, worker)
    finally:
        stubborn, left = stop_cluster(marker)
        for node in nodes:
            for command, seconds in node.ran:
                print(f"[{node.name}] {seconds:6.1f} s  {command[:110]}")
        for path in [node.ray_temp for node in nodes] + [
            Path(env["RAY_SERVE_HAPROXY_SERVER_STATE_BASE"]) for env in isolation
        ]:
            shutil.rmtree(path, ignore_errors=True)
        asyncio.run(_reset_database(create=False, name=database))
        print(f"stopped; SIGKILL needed for {len(stubborn)}: {sorted(stubborn.values())}")
        assert not left, f"Ray processes left behind: {left}"


def nodes_of(deployed: Deployed) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = deployed.ray_get("/api/v0/nodes?limit=100&detail=true")["data"][
        "result"
    ]["result"]
    return nodes


def actors_of(deployed: Deployed, state: str = "ALIVE") -> list[dict[str, Any]]:
    path = "/api/v0/actors?limit=1000&detail=true"
    if state:
        path += f"&filter_keys=state&filter_predicates=%3D&filter_values={state}"
    actors: list[dict[str, Any]] = deployed.ray_get(path)["data"]["result"]["result"]
    return actors


async def first_answer(base: str, token: str, text: str) -> list[dict[str, Any]]:
    """The first turn after the worker joined. An ingress replica re-reads Ray's node table every
    RAYCHAT_NODE_REFRESH_S (5 s): one that read it before the worker joined knows no host yet,
    and its turn ends with an error frame. Poll (bounded) until one is answered."""
    deadline = time.monotonic() + 30
    while True:
        frames = await chat_turn(base, token, text)
        if isinstance(frames[-2].get("message_id"), int) or time.monotonic() > deadline:
            return frames
        await asyncio.sleep(0.5)


async def test_the_cluster_answers_health_and_a_chat_turn(cluster: Cluster) -> None:
    assert httpx.get(f"{cluster.deployed.base}/health").status_code == 200
    # The walkthrough's token: `raychat token` on the head, with the head's JWT secret.
    token = cluster.head.run("raychat token --user-id 7 --user-name deployer").stdout.strip()
    frames = await first_answer(cluster.deployed.base, token, "hello cluster")
    assert frames[-2]["message"] == "echo(0): hello cluster"
    assert isinstance(frames[-2]["message_id"], int)


def test_the_worker_joined_with_the_resources_cluster_yaml_gives(cluster: Cluster) -> None:
    wait_until(
        lambda: sum(n["state"] == "ALIVE" for n in nodes_of(cluster.deployed)) == 2,
        60,
        "two alive Ray nodes",
    )
    nodes = [n for n in nodes_of(cluster.deployed) if n["state"] == "ALIVE"]
    (head,) = [n for n in nodes if n["is_head_node"]]
    (worker,) = [n for n in nodes if not n["is_head_node"]]
    assert head["resources_total"].get("raychat_ingress") == 1
    assert "raychat_host" not in head["resources_total"]
    assert worker["resources_total"].get("raychat_host") == 1
    assert "raychat_ingress" not in worker["resources_total"]


def test_the_ingress_runs_on_the_head(cluster: Cluster) -> None:
    """serve_config.yaml asks for `raychat_ingress`, which only the head has, for the ingress
    and the storage actor, and puts hosts on the nodes with `raychat_host`: the worker
    (docs/deploy.md "What runs where")."""
    nodes = {n["node_id"]: n for n in nodes_of(cluster.deployed) if n["state"] == "ALIVE"}
    head_id = next(node_id for node_id, n in nodes.items() if n["is_head_node"])
    actors = actors_of(cluster.deployed)
    ingress = [a for a in actors if a["class_name"].endswith("ChatIngress")]
    (app,) = yaml.safe_load((ROOT / "serve_config.yaml").read_text())["applications"]
    minimum = app["deployments"][0]["autoscaling_config"]["min_replicas"]
    assert len(ingress) >= minimum, [a["class_name"] for a in actors]
    assert {a["node_id"] for a in ingress} == {head_id}
    if app["args"].get("hosts_per_node"):  # hosts only where `raychat_host` is: the worker
        assert app["args"]["host_node_resource"] == "raychat_host"
        hosts = [a for a in actors if (a.get("name") or "").startswith(f"{HOST_PREFIX}-")]
        assert hosts and {a["node_id"] for a in hosts} == set(nodes) - {head_id}
    for actor in actors:
        name = actor.get("name") or ""
        if name == STORAGE_NAME or name.startswith(HOST_PREFIX) or actor in ingress:
            where = "head" if actor["node_id"] == head_id else "worker"
            print(f"{name or actor['class_name']}: {where}")
    every = [(a.get("name"), a["class_name"], a["state"]) for a in actors_of(cluster.deployed, "")]
    storage = [a for a in actors if a.get("name") == STORAGE_NAME]
    assert storage, every  # a turn was committed
    if app["args"].get("storage_node_resource") == "raychat_ingress":
        assert {a["node_id"] for a in storage} == {head_id}


def test_the_head_stops_without_the_database_or_redis(tmp_path: Path) -> None:
    """head_setup_commands' guard: a head whose environment lacks them stops `ray up` there."""
    node = Node("bare", tmp_path, tmp_path / "ray")
    (tmp_path / ".bashrc").write_text(f"export RAYCHAT_REDIS_URL=redis://{REDIS_HOST}/0\n")
    guard = CLUSTER["head_setup_commands"][0]
    assert "RAYCHAT_DATABASE_URL: not set on the head" in node.run(guard, check=False).stderr
    (tmp_path / ".bashrc").write_text("export RAYCHAT_DATABASE_URL=postgresql://db/raychat\n")
    assert "RAYCHAT_REDIS_URL: not set on the head" in node.run(guard, check=False).stderr
