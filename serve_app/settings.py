"""Settings: read once from the environment (`RAYCHAT_*`) and CLI flags, validated, then turned
into the frozen `RuntimeConfig` that actors receive."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from actors.config import (
    MAX_GRAPH_EDGES,
    MAX_GRAPH_NODES,
    BusyPolicy,
    NodePlacement,
    PlacementProfile,
    ProviderConfig,
    RuntimeConfig,
    SessionConfig,
    StorageConfig,
    check_profile_names,
    check_provider_names,
)

# HS256 keys shorter than the digest are brute-forceable offline; PyJWT's
# `enforce_minimum_key_length` refuses them too.
JWT_SECRET_MIN_BYTES = 32
# Unset, the per-address login window is this many times the per-name one: one address may be
# many people (behind Serve's HAProxy every client has the proxy's address), one name is one.
ADDRESS_LOGINS_FACTOR = 10


class ApiConfig(BaseModel):
    """What the REST layer needs beyond the actors' `RuntimeConfig`: accounts, cookies and
    rate limits. Frozen, built once from `Settings`, bound to every ingress replica."""

    model_config = ConfigDict(frozen=True)

    jwt_expire_s: int = Field(default=86_400, ge=60)
    allow_registration: bool = True
    password_min_length: int = Field(default=8, ge=1, le=128)
    cookie_secure: bool = False
    asks_per_minute: int = Field(default=60, ge=0)
    concurrent_turns: int = Field(default=4, ge=0)
    # Accounts, login throttling and socket origins (issue 8, accounts & secrets).
    # Dev: the database's first registrant becomes admin. Prod: admins only via `raychat user`.
    first_user_admin: bool = True
    logins_per_minute: int = Field(default=10, ge=0)
    logins_per_address_per_minute: int = Field(default=100, ge=0)
    trust_x_forwarded_for: bool = False
    allowed_origins: tuple[str, ...] = ()
    password_hash_workers: int = Field(default=2, ge=1)
    password_hash_queue: int = Field(default=32, ge=0)
    # Edges and timeouts; 0 turns a limit off.
    max_body_bytes: int = Field(default=1 << 20, ge=0)
    # Streaming (issue 9): per-message deflate of WebSocket frames (docs/benchmarks.md).
    ws_deflate: bool = False


class Settings(BaseSettings):
    """All configuration. Every field has an environment twin `RAYCHAT_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="RAYCHAT_", frozen=True, extra="ignore")

    profile: Literal["dev", "prod"] = "dev"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    database_url: str = "sqlite:///raychat.db"
    redis_url: str | None = None
    ray_address: str | None = None
    # None: generated once and kept in the database (dev only; prod requires one).
    jwt_secret: str | None = None
    jwt_expire_s: int = Field(default=86_400, ge=60)
    namespace: str = "raychat"
    haproxy: bool = True
    dashboard: bool = False
    # `raychat serve` gives up when `/health` is not 200 this long after the app was deployed.
    ready_timeout_s: float = Field(default=120.0, gt=0)
    ingress_replicas: int = Field(default=1, ge=1)
    # Serve `max_ongoing_requests` per ingress replica: an open WebSocket is one for its life.
    ingress_max_ongoing_requests: int = Field(default=10_000, ge=1)
    session_hosts: int = Field(default=2, ge=1)
    # Session hosts per node (0: the fixed `session_hosts` set), on nodes with this custom
    # resource and/or this key=value label (empty: any node); the node list is re-read this often.
    hosts_per_node: int = Field(default=0, ge=0, le=64)
    host_node_resource: str = ""
    host_node_label: str = ""
    node_refresh_s: float = Field(default=5.0, gt=0, le=3600)
    # The storage actor runs only on nodes with this custom resource (empty: anywhere).
    storage_node_resource: str = ""
    context_messages: int = Field(default=20, ge=0)
    storage_batch_rows: int = Field(default=256, ge=1)
    storage_batch_delay_ms: float = Field(default=5.0, ge=0)
    storage_queue_ops: int = Field(default=10_000, ge=1)
    ws_max_frame_bytes: int = Field(default=1 << 20, ge=1024)
    ws_idle_timeout_s: float = Field(default=0.0, ge=0)  # 0 = no idle close (API.md §4.4)
    # None: on in dev, off in prod (turn it on explicitly with RAYCHAT_ALLOW_REGISTRATION=true).
    allow_registration: bool | None = None
    password_min_length: int = Field(default=8, ge=1, le=128)
    # None: off in dev (plain http on loopback), on in prod.
    cookie_secure: bool | None = None
    # Per user; 0 turns a limit off.
    rate_asks_per_minute: int = Field(default=60, ge=0)
    rate_concurrent_turns: int = Field(default=4, ge=0)
    # -- providers and placements (operator-owned; JSON text, a JSON file path, or a mapping) --
    providers: Annotated[dict[str, ProviderConfig], NoDecode] = Field(default_factory=dict)
    placements: Annotated[dict[str, PlacementProfile], NoDecode] = Field(default_factory=dict)
    dedicated_start_timeout_s: float = Field(default=20.0, ge=0)

    @field_validator("providers", "placements", mode="before")
    @classmethod
    def _json_or_file(cls, value: Any) -> Any:
        return json_or_file(value)

    @field_validator("providers")
    @classmethod
    def _provider_names(cls, providers: dict[str, ProviderConfig]) -> dict[str, ProviderConfig]:
        return check_provider_names(providers)

    @field_validator("placements")
    @classmethod
    def _profile_names(cls, placements: dict[str, PlacementProfile]) -> dict[str, PlacementProfile]:
        return check_profile_names(placements)

    # Accounts, login throttling and socket origins (issue 8, accounts & secrets).
    # Failed login and registration attempts per minute on one user name.
    rate_logins_per_minute: int = Field(default=10, ge=0)
    # Every attempt per minute from one client address (None: ADDRESS_LOGINS_FACTOR x the
    # above). Behind a proxy that does not pass X-Forwarded-For every client has its address.
    rate_logins_per_address_per_minute: int | None = Field(default=None, ge=0)
    # Take the client address from the last X-Forwarded-For entry (only behind a proxy that
    # sets it: clients can send any value).
    trust_x_forwarded_for: bool = False
    # Origins besides the server's own that may open a socket authenticated by cookie
    # (comma-separated or a JSON list).
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # argon2 hashing: worker threads per replica, and hashes waiting at most (0 = unbounded).
    password_hash_workers: int = Field(default=2, ge=1)
    password_hash_queue: int = Field(default=32, ge=0)

    @field_validator("jwt_secret", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _origin_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            items = json.loads(text) if text.startswith("[") else text.split(",")
            return tuple(str(item).strip().rstrip("/") for item in items if str(item).strip())
        return value

    # Chat ownership and socket/session limits; 0 turns each off.
    ws_max_chats: int = Field(default=32, ge=0)
    rate_frames_per_second: float = Field(default=20.0, ge=0)
    max_sessions_per_user: int = Field(default=100, ge=0)
    turn_timeout_s: float = Field(default=300.0, ge=0)
    frame_log_max_frames: int = Field(default=20_000, ge=0)
    frame_log_max_bytes: int = Field(default=8 << 20, ge=0)
    # Edges and timeouts; 0 turns a limit off.
    max_body_bytes: int = Field(default=1 << 20, ge=0)
    storage_call_timeout_s: float = Field(default=8.0, ge=0)
    host_call_timeout_s: float = Field(default=30.0, ge=0)
    db_statement_timeout_s: float = Field(default=5.0, ge=0)
    db_pool_timeout_s: float = Field(default=3.0, ge=0)
    flow_max_nodes: int = Field(default=MAX_GRAPH_NODES, ge=0)
    flow_max_edges: int = Field(default=MAX_GRAPH_EDGES, ge=0)
    # Streaming (issue 9): per-message deflate of WebSocket frames, frame-channel linger
    # (docs/benchmarks.md).
    ws_deflate: bool = False
    channel_linger_ms: float = Field(default=5.0, ge=0, le=1000)
    # Session runtime: an ask during a running turn (`reject`: 409, `enqueue`: queued, at most
    # `max_queued_turns`), when an unused session is passivated, how long a frame poll waits,
    # calls a host runs at once.
    busy_policy: BusyPolicy = "reject"
    max_queued_turns: int = Field(default=16, ge=1)
    session_idle_timeout_s: float = Field(default=600.0, gt=0)
    pull_timeout_s: float = Field(default=15.0, gt=0)
    host_max_concurrency: int = Field(default=10_000, ge=1)
    host_task_retries: int = Field(default=2, ge=0)

    @model_validator(mode="after")
    def _refuse_unsafe_secrets(self) -> Settings:
        if self.jwt_secret is None:
            if self.profile != "dev":
                raise ValueError(
                    "the prod profile needs RAYCHAT_JWT_SECRET (at least"
                    f" {JWT_SECRET_MIN_BYTES} bytes, e.g. `python -c 'import secrets;"
                    " print(secrets.token_urlsafe(48))'`)"
                )
        elif len(self.jwt_secret.encode()) < JWT_SECRET_MIN_BYTES:
            raise ValueError(
                f"RAYCHAT_JWT_SECRET must be at least {JWT_SECRET_MIN_BYTES} bytes (UTF-8), it"
                f" has {len(self.jwt_secret.encode())}"
            )
        return self

    @property
    def is_prod(self) -> bool:
        return self.profile == "prod"

    def printable_database_url(self) -> str:
        """The database URL with any password masked (`***`), for logs and the console."""
        return make_url(self.database_url).render_as_string(hide_password=True)

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
                host_max_concurrency=self.host_max_concurrency,
                host_task_retries=self.host_task_retries,
                context_messages=self.context_messages,
                busy_policy=self.busy_policy,
                max_queued_turns=self.max_queued_turns,
                idle_timeout_s=self.session_idle_timeout_s,
                pull_timeout_s=self.pull_timeout_s,
                providers=self.providers,
                max_sessions_per_user=self.max_sessions_per_user,
                turn_timeout_s=self.turn_timeout_s,
                frame_log_max_frames=self.frame_log_max_frames,
                frame_log_max_bytes=self.frame_log_max_bytes,
                host_call_timeout_s=self.host_call_timeout_s,
                storage_call_timeout_s=self.storage_call_timeout_s,
                channel_linger_ms=self.channel_linger_ms,
            ),
            jwt_secret=self.jwt_secret,
            redis_url=self.redis_url,
            ws_max_frame_bytes=self.ws_max_frame_bytes,
            ws_idle_timeout_s=self.ws_idle_timeout_s,
            namespace=self.namespace,
            placements=self.placements,
            dedicated_start_timeout_s=self.dedicated_start_timeout_s,
            nodes=NodePlacement(
                hosts_per_node=self.hosts_per_node,
                node_resource=self.host_node_resource,
                node_label=self.host_node_label,
                refresh_s=self.node_refresh_s,
                storage_resource=self.storage_node_resource,
            ),
            ws_max_chats=self.ws_max_chats,
            ws_frames_per_second=self.rate_frames_per_second,
            flow_max_nodes=self.flow_max_nodes,
            flow_max_edges=self.flow_max_edges,
        )

    def api_config(self) -> ApiConfig:
        """The frozen configuration of the REST layer (accounts, cookies, rate limits)."""
        return ApiConfig(
            jwt_expire_s=self.jwt_expire_s,
            allow_registration=(
                not self.is_prod if self.allow_registration is None else self.allow_registration
            ),
            password_min_length=self.password_min_length,
            cookie_secure=self.is_prod if self.cookie_secure is None else self.cookie_secure,
            asks_per_minute=self.rate_asks_per_minute,
            concurrent_turns=self.rate_concurrent_turns,
            first_user_admin=not self.is_prod,
            logins_per_minute=self.rate_logins_per_minute,
            logins_per_address_per_minute=(
                ADDRESS_LOGINS_FACTOR * self.rate_logins_per_minute
                if self.rate_logins_per_address_per_minute is None
                else self.rate_logins_per_address_per_minute
            ),
            trust_x_forwarded_for=self.trust_x_forwarded_for,
            allowed_origins=self.allowed_origins,
            password_hash_workers=self.password_hash_workers,
            password_hash_queue=self.password_hash_queue,
            max_body_bytes=self.max_body_bytes,
            ws_deflate=self.ws_deflate,
        )


def json_or_file(value: Any) -> Any:
    """`RAYCHAT_PROVIDERS` / `RAYCHAT_PLACEMENTS`: text starting with `{` is JSON, other text is
    the path of a JSON file, empty text is `{}`; a mapping (from `serve_config.yaml` args) is
    taken as it is."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if not text:
        return {}
    if not text.startswith("{"):
        path = Path(text).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
