"""Frozen runtime configuration handed to actors (read once by serve_app.settings)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

BusyPolicy = Literal["reject", "enqueue"]


class StorageConfig(BaseModel):
    """How the storage actor reaches the database and batches writes."""

    model_config = ConfigDict(frozen=True)

    database_url: str
    batch_max_rows: int = Field(default=256, ge=1)
    batch_max_delay_ms: float = Field(default=5.0, ge=0)
    queue_max_ops: int = Field(default=10_000, ge=1)
    create_schema: bool = True
    # Timeouts (issue 8, helper D); 0 turns one off. A statement the database does not finish
    # in time, a connection not free in time, a storage-actor call not answered in time: each
    # ends as StorageUnavailable (503 on REST), never as an endless wait.
    statement_timeout_s: float = Field(default=5.0, ge=0)
    pool_timeout_s: float = Field(default=3.0, ge=0)
    call_timeout_s: float = Field(default=8.0, ge=0)


class SessionConfig(BaseModel):
    """How session hosts place, run and retire sessions."""

    model_config = ConfigDict(frozen=True)

    hosts: int = Field(default=2, ge=1)
    host_max_concurrency: int = Field(default=10_000, ge=1)
    context_messages: int = Field(default=20, ge=0)
    busy_policy: BusyPolicy = "reject"
    idle_timeout_s: float = Field(default=600.0, gt=0)
    pull_timeout_s: float = Field(default=15.0, gt=0)
    # Timeouts (issue 8, helper D); 0 turns one off. Host calls get `host_call_timeout_s` (a
    # pull: its long-poll plus that); a host's own calls to storage get `storage_call_timeout_s`.
    host_call_timeout_s: float = Field(default=30.0, ge=0)
    storage_call_timeout_s: float = Field(default=8.0, ge=0)


class RuntimeConfig(BaseModel):
    """Everything the ingress and actors need; built once from settings."""

    model_config = ConfigDict(frozen=True)

    storage: StorageConfig
    sessions: SessionConfig = SessionConfig()
    jwt_secret: str
    # Shared state across replicas and nodes (frame archive for resume, rate limits); None =
    # in-process stand-ins.
    redis_url: str | None = None
    ws_max_frame_bytes: int = Field(default=1 << 20, ge=1024)
    # A socket with no frame in either direction for this long is closed (1000, "idle").
    ws_idle_timeout_s: float = Field(default=300.0, gt=0)
    namespace: str = "raychat"
    # Edges (issue 8, helper D): graph size bounds checked when a flow is saved; 0 = no bound.
    flow_max_nodes: int = Field(default=1_000, ge=0)
    flow_max_edges: int = Field(default=5_000, ge=0)
