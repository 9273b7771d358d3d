"""REST helpers for the e2e tier: accounts with their own HTTP client, and app/chat setup."""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from serve_app.auth.passwords import hash_password
from storage.sql import SqlRepository, make_engine
from tests.conftest import demo_graph
from tests.e2e.conftest import Server

PASSWORD = "e2e-password"


@dataclass
class Account:
    """A user with a client that sends their token."""

    user_id: int
    user_name: str
    token: str
    http: httpx.Client

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params=params)

    def post(self, path: str, body: Any) -> httpx.Response:
        return self.http.post(path, json=body)

    def patch(self, path: str, body: Any) -> httpx.Response:
        return self.http.patch(path, json=body)

    def put(self, path: str, body: Any) -> httpx.Response:
        return self.http.put(path, json=body)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(path)

    def data(self, response: httpx.Response) -> Any:
        """The envelope's data of a successful response."""
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["status_code"], body["status_message"]) == (200, "SUCCESS")
        return body["data"]

    def create_flow(self, online: bool = True, **fields: Any) -> dict[str, Any]:
        body = {"name": f"flow-{uuid.uuid4().hex[:6]}", "data": demo_graph(), **fields}
        flow: dict[str, Any] = self.data(self.post("/api/v1/flows", body))
        if online:
            flow = self.data(self.patch(f"/api/v1/flows/{flow['id']}", {"status": 2}))
        return flow

    def insert(self, flow_id: str, chat_id: str, human: str, answer: str) -> list[dict[str, Any]]:
        body = {
            "flow_id": flow_id,
            "chat_id": chat_id,
            "human_message": human,
            "answer_message": answer,
        }
        rows: list[dict[str, Any]] = self.data(self.post("/api/v1/chat/chat/message", body))
        return rows

    def history(self, chat_id: str, flow_id: str, **params: Any) -> httpx.Response:
        return self.get("/api/v1/chat/chat/history", chat_id=chat_id, flow_id=flow_id, **params)

    def info(self, chat_id: str) -> dict[str, Any] | None:
        info: dict[str, Any] | None = self.data(self.get("/api/v1/chat/chat/info", chat_id=chat_id))
        return info


def client(server: Server, token: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.base, headers=headers, timeout=30)


def register(server: Server, prefix: str) -> Account:
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    with client(server) as anonymous:
        body = {"user_name": name, "password": PASSWORD}
        created = anonymous.post("/api/v1/user/register", json=body)
        assert created.status_code == 200, created.text
    return login(server, name)


def login(server: Server, name: str) -> Account:
    with client(server) as anonymous:
        body = {"user_name": name, "password": PASSWORD}
        response = anonymous.post("/api/v1/user/login", json=body)
        assert response.status_code == 200, response.text
    data = response.json()["data"]
    return Account(
        data["user_id"], name, data["access_token"], client(server, data["access_token"])
    )


def seed_admin(server: Server) -> Account:
    """An admin account, written to the server's database as an operator would bootstrap one
    (there is no API that makes an admin: the first account is one, and this database's first
    account is the demo user)."""
    name = f"admin-{uuid.uuid4().hex[:8]}"

    async def create() -> None:
        repo = SqlRepository(make_engine(f"sqlite:///{Path(server.workdir) / 'raychat.db'}"))
        try:
            await repo.create_user(name, await hash_password(PASSWORD), "admin")
        finally:
            await repo.close()

    asyncio.run(create())
    return login(server, name)


async def chat_turn(
    server: Server, account: Account, flow_id: str, chat_id: str, text: str
) -> list[dict[str, Any]]:
    """One flow turn over the WebSocket; returns its frames."""
    url = f"{server.ws_base}/api/v1/chat/chat/{flow_id}?t={account.token}&chat_id={chat_id}"
    frames = []
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"inputs": {"input": text}}))
        while True:
            frames.append(json.loads(await ws.recv()))
            if frames[-1]["type"] == "close":
                return frames
