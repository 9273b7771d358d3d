"""A small raychat client: register and log in, create a flow, chat over the WebSocket, read the
history back.

    pip install httpx websockets
    python examples/client.py --base http://127.0.0.1:8000

Every REST answer is the envelope `{status_code, status_message, data}`; the HTTP status tells
success (200) from failure (4xx/5xx) as well.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from typing import Any

import httpx
import websockets

# A copy of the demo graph (this script stands alone, without raychat installed): the canonical
# one is `actors/flows/demo_graph.py` `demo_graph()`.
GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "in", "type": "Input", "params": {"key": "input"}},
        {
            "id": "prompt",
            "type": "ChatPrompt",
            "params": {"system": "You are a terse helper.", "template": "{input}"},
        },
        {"id": "memory", "type": "Memory", "params": {"turns": 10}},
        {"id": "model", "type": "ChatModel", "params": {"provider": "demo", "model": "echo"}},
        {"id": "out", "type": "Output"},
    ],
    "edges": [
        {"source": "in", "target": "prompt"},
        {"source": "memory", "target": "prompt"},
        {"source": "prompt", "target": "model"},
        {"source": "model", "target": "out"},
    ],
}
# A flow's status online (canonical: `storage/records/apps.py` `FLOW_ONLINE`).
ONLINE = 2


def data(response: httpx.Response) -> Any:
    """The envelope's `data`, or an error with the server's message."""
    body = response.json()
    if response.status_code != 200:
        raise RuntimeError(f"{response.status_code} {body['status_message']}: {body['data']}")
    return body["data"]


def log_in(http: httpx.Client, user: str, password: str) -> str:
    """Register (a taken name answers 409: then just log in) and return a token."""
    account = {"user_name": user, "password": password}
    registered = http.post("/api/v1/user/register", json=account)
    if registered.status_code != 409:
        data(registered)
    token: str = data(http.post("/api/v1/user/login", json=account))["access_token"]
    return token


def create_online_flow(http: httpx.Client) -> str:
    """A flow on the offline demo model, put online."""
    flow = data(http.post("/api/v1/flows", json={"name": "Echo", "data": GRAPH}))
    data(http.patch(f"/api/v1/flows/{flow['id']}", json={"status": ONLINE}))
    flow_id: str = flow["id"]
    return flow_id


async def ask(ws_url: str, question: str) -> str:
    """One turn: send an ask, read frames until `close`, return the answer's full text."""
    async with websockets.connect(ws_url) as ws:
        await ws.send(json.dumps({"inputs": {"input": question}}))
        answer = ""
        while True:
            frame = json.loads(await ws.recv())
            if frame["type"] == "stream":
                print(frame["message"]["content"], end="", flush=True)
            if frame["category"] == "answer" and frame["type"] in ("end", "end_cover"):
                answer = frame["message"]
            if frame["category"] == "error":
                raise RuntimeError(frame["message"])
            if frame["type"] == "close":
                print()
                return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:8000")
    parser.add_argument("--user", default=f"client-{uuid.uuid4().hex[:8]}")
    parser.add_argument("--password", default="client-example-pw")
    args = parser.parse_args()

    with httpx.Client(base_url=args.base, timeout=30) as http:
        token = log_in(http, args.user, args.password)
        http.headers["Authorization"] = f"Bearer {token}"
        flow_id = create_online_flow(http)
        chat_id = uuid.uuid4().hex
        ws_url = f"{args.base.replace('http', 'ws', 1)}/api/v1/chat/chat/{flow_id}"
        ws_url += f"?t={token}&chat_id={chat_id}"
        for question in ("hello", "what did I just say?"):
            asyncio.run(ask(ws_url, question))
        params = {"chat_id": chat_id, "flow_id": flow_id}
        history = data(http.get("/api/v1/chat/chat/history", params=params))
    for row in reversed(history):  # newest first on the wire
        print(f"{row['id']:>6} {row['category']:<9} {row['message']}")
    assert [r["category"] for r in history] == ["answer", "question"] * 2


if __name__ == "__main__":
    main()
