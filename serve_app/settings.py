"""Settings: read once from the environment (`RAYCHAT_*`) and CLI flags, validated, then turned
into the frozen `RuntimeConfig` that actors receive."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from actors.config import RuntimeConfig, SessionConfig, StorageConfig

DEV_JWT_SECRET = "raychat-dev-secret-change-me-before-production"


class ApiConfig(BaseModel):
    """What the REST layer needs beyond the actors' `RuntimeConfig`: accounts, cookies and
    rate limits. Frozen, built once from `Settings`, bound to every ingress replica."""

    model_config = ConfigDict(frozen=True)

    jwt_expire_s: int = Field(default=86_400, ge=60)
    allow_registration: bool = True
    password_min_length: int = Field(default=6, ge=1, le=128)
    cookie_secure: bool = False
    asks_per_minute: int = Field(default=60, ge=0)
    concurrent_turns: int = Field(default=4, ge=0)
    # Edges and timeouts (issue 8, helper D). 0 turns a limit off.
    max_body_bytes: int = Field(default=1 << 20, ge=0)


class Settings(BaseSettings):
    """All configuration. Every field has an environment twin `RAYCHAT_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="RAYCHAT_", frozen=True, extra="ignore")

    profile: Literal["dev", "prod"] = "dev"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    database_url: str = "sqlite:///raychat.db"
    redis_url: str | None = None
    ray_address: str | None = None
    jwt_secret: str = DEV_JWT_SECRET
    jwt_expire_s: int = Field(default=86_400, ge=60)
    namespace: str = "raychat"
    haproxy: bool = True
    dashboard: bool = False
    ingress_replicas: int = Field(default=1, ge=1)
    session_hosts: int = Field(default=2, ge=1)
    context_messages: int = Field(default=20, ge=0)
    storage_batch_rows: int = Field(default=256, ge=1)
    storage_batch_delay_ms: float = Field(default=5.0, ge=0)
    storage_queue_ops: int = Field(default=10_000, ge=1)
    ws_max_frame_bytes: int = Field(default=1 << 20, ge=1024)
    ws_idle_timeout_s: float = Field(default=300.0, gt=0)
    allow_registration: bool = True
    password_min_length: int = Field(default=6, ge=1, le=128)
    cookie_secure: bool = False
    # Per user; 0 turns a limit off.
    rate_asks_per_minute: int = Field(default=60, ge=0)
    rate_concurrent_turns: int = Field(default=4, ge=0)
    # Edges and timeouts (issue 8, helper D). 0 turns a limit off.
    max_body_bytes: int = Field(default=1 << 20, ge=0)
    storage_call_timeout_s: float = Field(default=8.0, ge=0)
    host_call_timeout_s: float = Field(default=30.0, ge=0)
    db_statement_timeout_s: float = Field(default=5.0, ge=0)
    db_pool_timeout_s: float = Field(default=3.0, ge=0)
    flow_max_nodes: int = Field(default=1_000, ge=0)
    flow_max_edges: int = Field(default=5_000, ge=0)

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Settings:
        if self.profile != "dev" and self.jwt_secret == DEV_JWT_SECRET:
            raise ValueError("RAYCHAT_JWT_SECRET must be set outside the dev profile")
        return self

    def absolute_database_url(self) -> str:
        """SQLite paths resolved against the current directory: actors run in other cwds."""
        url = make_url(self.database_url)
        if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
            return self.database_url
        path = Path(url.database).expanduser().resolve()
        return url.set(database=str(path)).render_as_string(hide_password=False)

    def runtime_config(self) -> RuntimeConfig:
        """The frozen configuration handed to the ingress and the actors."""
        return RuntimeConfig(
            storage=StorageConfig(
                database_url=self.absolute_database_url(),
                batch_max_rows=self.storage_batch_rows,
                batch_max_delay_ms=self.storage_batch_delay_ms,
                queue_max_ops=self.storage_queue_ops,
                statement_timeout_s=self.db_statement_timeout_s,
                pool_timeout_s=self.db_pool_timeout_s,
                call_timeout_s=self.storage_call_timeout_s,
            ),
            sessions=SessionConfig(
                hosts=self.session_hosts,
                context_messages=self.context_messages,
                host_call_timeout_s=self.host_call_timeout_s,
                storage_call_timeout_s=self.storage_call_timeout_s,
            ),
            jwt_secret=self.jwt_secret,
            redis_url=self.redis_url,
            ws_max_frame_bytes=self.ws_max_frame_bytes,
            ws_idle_timeout_s=self.ws_idle_timeout_s,
            namespace=self.namespace,
            flow_max_nodes=self.flow_max_nodes,
            flow_max_edges=self.flow_max_edges,
        )

    def api_config(self) -> ApiConfig:
        """The frozen configuration of the REST layer (accounts, cookies, rate limits)."""
        return ApiConfig(
            jwt_expire_s=self.jwt_expire_s,
            allow_registration=self.allow_registration,
            password_min_length=self.password_min_length,
            cookie_secure=self.cookie_secure,
            asks_per_minute=self.rate_asks_per_minute,
            concurrent_turns=self.rate_concurrent_turns,
            max_body_bytes=self.max_body_bytes,
        )
