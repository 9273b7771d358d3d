"""`serve deploy serve_config.yaml` on a Ray cluster started with `ray start` (as cluster.yaml
does: HAProxy mode, Ray token authentication on with the token in RAY_AUTH_TOKEN): the deployed
app answers /health, REST and a WebSocket chat turn, its ingress autoscales as the file says, and
Ray refuses clients without the token.

Another Serve cluster on this machine (the e2e tier's `raychat serve`, an orphan) once answered
this cluster's port: both HAProxies' backup server was Serve's fallback proxy on 127.0.0.1:8500,
bound with SO_REUSEPORT by both clusters (docs/deploy.md "Several servers on one machine"). The
cluster below gets its own fallback, HAProxy and replica ports, as `raychat serve` does."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.deploy.conftest import (
    RAY_NODE_PORTS,
    ROOT,
    SECRET,
    Deployed,
    chat_turn,
    deployer_token,
    free_port,
    ray_port_flags,
    serve_isolation_env,
    wait_until,
)

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    work = tmp_path_factory.mktemp("serve-deploy")
    http_port, gcs_port, dash_port = free_port(), free_port(), free_port()
    config = yaml.safe_load((ROOT / "serve_config.yaml").read_text())
    config["http_options"] = {"host": "127.0.0.1", "port": http_port}
    app = config["applications"][0]
    # The checked-in file takes its backends from the nodes' environment; here: SQLite in the
    # test's dir, the machine's Redis, a namespace of its own.
    app["args"].update(
        database_url=f"sqlite:///{work / 'chat.db'}",
        redis_url="redis://127.0.0.1:6379/0",
        namespace=f"raychat-deploy-{secrets.token_hex(3)}",
    )
    (work / "serve_config.yaml").write_text(yaml.safe_dump(config))
    ray_token = secrets.token_hex(32)
    isolation = serve_isolation_env()
    env = {
        **os.environ,
        # As cluster.yaml: Ray's token authentication, the token from the environment.
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": ray_token,
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1",
        "RAYCHAT_JWT_SECRET": SECRET,
        # The tree under test, not whichever checkout the machine's editable install names.
        "PYTHONPATH": str(ROOT),
        # Another server on this machine must not share Serve's per-machine ports (see
        # raychat serve).
        **isolation,
    }
    # Every listener on a free port: other clusters (the e2e server, in-process test clusters)
    # may be running on this machine and hold Ray's default ports.
    ports = ray_port_flags(*RAY_NODE_PORTS, "ray-client-server-port")
    head = subprocess.Popen(
        [
            "ray",
            "start",
            "--head",
            f"--port={gcs_port}",
            f"--dashboard-port={dash_port}",
            *ports,
            "--include-dashboard=true",
            # One node with both roles of cluster.yaml: serve_config.yaml places the ingress by
            # raychat_ingress and the session hosts by raychat_host.
            '--resources={"raychat_ingress": 1, "raychat_host": 1}',
            "--disable-usage-stats",
            "--block",
        ],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    dashboard = f"http://127.0.0.1:{dash_port}"
    try:
        ray_auth = {"Authorization": f"Bearer {ray_token}"}
        wait_until(
            lambda: httpx.get(f"{dashboard}/api/version", headers=ray_auth).status_code == 200,
            120,
            "Ray dashboard",
        )
        subprocess.run(
            ["serve", "deploy", str(work / "serve_config.yaml"), "-a", dashboard],
            cwd=work,
            env=env,
            check=True,
            capture_output=True,
            timeout=120,
        )
        base = f"http://127.0.0.1:{http_port}"
        wait_until(lambda: httpx.get(f"{base}/health").status_code == 200, 180, "raychat")
        yield Deployed(base, dashboard, f"127.0.0.1:{gcs_port}", ray_token)
    finally:
        subprocess.run(
            ["serve", "shutdown", "-a", dashboard, "-y"],
            env=env,
            capture_output=True,
            timeout=120,
            check=False,
        )
        head.send_signal(signal.SIGTERM)
        try:
            head.wait(120)
        except subprocess.TimeoutExpired:
            head.kill()
        shutil.rmtree(isolation["RAY_SERVE_HAPROXY_SERVER_STATE_BASE"], ignore_errors=True)


async def test_deployed_app_serves_rest_and_chat(deployed: Deployed) -> None:
    frames = await chat_turn(deployed.base, deployer_token(), "deployed hello")
    assert frames[-2]["message"] == "echo(0): deployed hello"
    assert isinstance(frames[-2]["message_id"], int)


def test_the_ingress_autoscales_as_serve_config_says(deployed: Deployed) -> None:
    """Serve applied the file's `deployments` entry over the code's fixed replica count."""
    wanted = yaml.safe_load((ROOT / "serve_config.yaml").read_text())["applications"][0]
    (ingress,) = wanted["deployments"]
    app = deployed.serve_details()["applications"]["raychat"]
    deployment = app["deployments"][ingress["name"]]
    config = deployment["deployment_config"]
    assert config["max_ongoing_requests"] == ingress["max_ongoing_requests"]
    for name, value in ingress["autoscaling_config"].items():
        assert config["autoscaling_config"][name] == value, name
    minimum = ingress["autoscaling_config"]["min_replicas"]
    wait_until(
        lambda: running_replicas(deployed, ingress["name"]) >= minimum,
        120,
        f"{minimum} ingress replicas",
    )


def running_replicas(deployed: Deployed, deployment: str) -> int:
    app = deployed.serve_details()["applications"]["raychat"]
    return sum(r["state"] == "RUNNING" for r in app["deployments"][deployment]["replicas"])


def test_ray_refuses_clients_without_the_token(deployed: Deployed, tmp_path: Path) -> None:
    """Ray's own ports are authenticated: the dashboard API and a driver need the token."""
    assert httpx.get(f"{deployed.dashboard}/api/version").status_code in (401, 403)
    wrong = httpx.get(
        f"{deployed.dashboard}/api/version", headers={"Authorization": "Bearer " + "0" * 64}
    )
    assert wrong.status_code in (401, 403)
    script = (
        f"import ray; ray.init(address={deployed.gcs!r}, namespace='probe'); print('CONNECTED');"
        " ray.shutdown()"
    )

    def driver(token: str) -> subprocess.CompletedProcess[str]:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")},
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token,
            "HOME": str(tmp_path),  # no ~/.ray/auth_token to fall back on
        }
        return subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    refused = driver("0" * 64)
    assert refused.returncode != 0 and "CONNECTED" not in refused.stdout, refused.stdout
    assert "token" in refused.stderr.lower(), refused.stderr[-2000:]
    admitted = driver(deployed.ray_token)  # the control: the same driver with the token
    assert "CONNECTED" in admitted.stdout, admitted.stderr[-2000:]
