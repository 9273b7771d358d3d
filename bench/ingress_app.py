"""The app every ingress mode serves in `bench/ingress.py`: one REST endpoint, one WS echo."""

from __future__ import annotations

from fastapi import FastAPI, WebSocket, WebSocketDisconnect


def build_bench_api() -> FastAPI:
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, object]:
        return {"status_code": 200, "status_message": "SUCCESS", "data": {"pong": True}}

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text(await ws.receive_text())
        except WebSocketDisconnect:
            return

    return app
