"""Frozen runtime configuration handed to actors (read once by serve_app.settings)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BusyPolicy = Literal["reject", "enqueue"]
ProviderKind = Literal["openai", "ollama"]
# The always-present offline provider; an operator may not define or replace it.
DEMO_PROVIDER = "demo"
# In a provider's `models`: any model name is allowed.
ANY_MODEL = "*"
# The longest resource name a placement profile may give.
RAY_RESOURCE_NAME_LIMIT = 64
# Placement profile names: they become part of Ray actor names.
PROFILE_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# Graph size bounds (API.md §6a): what one flow may hold by default (`RAYCHAT_FLOW_MAX_NODES`,
# `RAYCHAT_FLOW_MAX_EDGES`; 0 = no bound). The body limit (1 MiB) and the JSON depth bound at the
# REST edge bound the rest.
MAX_GRAPH_NODES = 1_000
MAX_GRAPH_EDGES = 5_000


class ProviderConfig(BaseModel):
    """One operator-configured model endpoint (`RAYCHAT_PROVIDERS`): flows name it, never its
    URL or key. `api_key_env` names the environment variable holding the key, read in the process
    that builds the model (a session host); `models` lists the model names flows may use (`"*"`:
    any); `default_model` is used when a flow names none (else the first listed model)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: ProviderKind
    base_url: str | None = Field(default=None, min_length=1)
    api_key_env: str | None = Field(default=None, min_length=1)
    models: tuple[str, ...] = Field(min_length=1)
    default_model: str | None = Field(default=None, min_length=1)

    @field_validator("models")
    @classmethod
    def _named_models(cls, models: tuple[str, ...]) -> tuple[str, ...]:
        if any(not name.strip() for name in models):
            raise ValueError("model names must not be empty")
        return models

    @model_validator(mode="after")
    def _consistent(self) -> ProviderConfig:
        if self.kind != "openai" and self.api_key_env is not None:
            raise ValueError("'api_key_env' is for kind 'openai' only")
        if self.default_model is not None and not self.allows(self.default_model):
            raise ValueError(f"default_model {self.default_model!r} is not in 'models'")
        if self.default_model is None and self.models == (ANY_MODEL,):
            raise ValueError("with models ['*'], set 'default_model'")
        return self

    def allows(self, model: str) -> bool:
        """True when flows may use `model` on this provider."""
        return ANY_MODEL in self.models or model in self.models

    @property
    def fallback_model(self) -> str:
        """The model of a flow that names none."""
        return self.default_model or next(m for m in self.models if m != ANY_MODEL)


def check_provider_names(providers: dict[str, ProviderConfig]) -> dict[str, ProviderConfig]:
    """The operator's providers, unless one takes the reserved name `demo` or an empty name."""
    if DEMO_PROVIDER in providers:
        raise ValueError(f"the provider name {DEMO_PROVIDER!r} is reserved (always present)")
    if any(not name.strip() for name in providers):
        raise ValueError("provider names must not be empty")
    return providers


def check_profile_names(placements: dict[str, PlacementProfile]) -> dict[str, PlacementProfile]:
    """The operator's placement profiles, unless a name is not 1-64 of `A-Za-z0-9_.-`."""
    for name in placements:
        if not PROFILE_NAME.fullmatch(name):
            raise ValueError(f"placement profile name {name!r}: use 1-64 of A-Z a-z 0-9 _ . -")
    return placements


class PlacementProfile(BaseModel):
    """One operator-defined dedicated placement (`RAYCHAT_PLACEMENTS`): the Ray resources of each
    dedicated session actor (`CPU`, `GPU`, custom names) and the most such actors alive at once
    (0: no cap)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    resources: dict[str, float] = Field(default_factory=dict)
    max_actors: int = Field(default=4, ge=0)

    @field_validator("resources")
    @classmethod
    def _non_negative(cls, resources: dict[str, float]) -> dict[str, float]:
        for name, amount in resources.items():
            if not name or len(name) > RAY_RESOURCE_NAME_LIMIT:
                raise ValueError(f"resource name {name!r} must have 1-64 characters")
            if amount < 0:
                raise ValueError(f"resource {name!r} must be >= 0")
        return resources


class StorageConfig(BaseModel):
    """How the storage actor reaches the database and batches writes."""

    model_config = ConfigDict(frozen=True)

    database_url: str
    batch_max_rows: int = Field(default=256, ge=1)
    batch_max_delay_ms: float = Field(default=5.0, ge=0)
    queue_max_ops: int = Field(default=10_000, ge=1)
    create_schema: bool = True
    # Timeouts; 0 turns one off. A statement the database does not finish
    # in time, a connection not free in time, a storage-actor call not answered in time: each
    # ends as StorageUnavailable (503 on REST), never as an endless wait.
    statement_timeout_s: float = Field(default=5.0, ge=0)
    pool_timeout_s: float = Field(default=3.0, ge=0)
    call_timeout_s: float = Field(default=8.0, ge=0)


class SessionConfig(BaseModel):
    """How session hosts place, run and retire sessions."""

    model_config = ConfigDict(frozen=True)

    hosts: int = Field(default=2, ge=1)
    # Calls one session host runs at once (its Ray `max_concurrency`): every waiting long-poll
    # and every turn holds one.
    host_max_concurrency: int = Field(default=10_000, ge=1)
    # Ray `max_task_retries` of a session host: a call made while its host restarts waits for
    # the new incarnation this many times before it fails.
    host_task_retries: int = Field(default=2, ge=0)
    context_messages: int = Field(default=20, ge=0)
    # An ask while a turn runs: refused with 409 (`reject`) or queued behind it (`enqueue`).
    busy_policy: BusyPolicy = "reject"
    # Under `enqueue`: asks waiting behind a running turn at most (beyond: TurnBusy).
    max_queued_turns: int = Field(default=16, ge=1)
    # A session with no turn and no client activity for this long is passivated (rebuilt on
    # its next use).
    idle_timeout_s: float = Field(default=600.0, gt=0)
    # The longest one frame pull or frame-channel poll waits for frames.
    pull_timeout_s: float = Field(default=15.0, gt=0)
    # -- providers (operator-configured model endpoints; `demo` is implicit) --
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)

    # Issue 8, chat ownership and session limits (0 turns each off). Live sessions one user may
    # own in one session host; a turn's wall-clock limit; a chat's frame log bound.
    max_sessions_per_user: int = Field(default=100, ge=0)
    turn_timeout_s: float = Field(default=300.0, ge=0)
    frame_log_max_frames: int = Field(default=20_000, ge=0)
    frame_log_max_bytes: int = Field(default=8 << 20, ge=0)

    # Timeouts; 0 turns one off. Host calls get `host_call_timeout_s` (a
    # pull: its long-poll plus that); a host's own calls to storage get `storage_call_timeout_s`.
    host_call_timeout_s: float = Field(default=30.0, ge=0)
    storage_call_timeout_s: float = Field(default=8.0, ge=0)

    # Streaming (issue 9): a frame-channel poll that found frames waits this long for more
    # before it answers, so one Ray call carries more frames under load (0 = answer at once).
    channel_linger_ms: float = Field(default=5.0, ge=0, le=1000)

    @field_validator("providers")
    @classmethod
    def _provider_names(cls, providers: dict[str, ProviderConfig]) -> dict[str, ProviderConfig]:
        return check_provider_names(providers)


class NodePlacement(BaseModel):
    """Where the shared session hosts run (docs/deploy.md "Placement across nodes").

    `storage_resource`, if set, keeps the storage actor on nodes with that custom resource.
    `hosts_per_node` 0 (the default): `SessionConfig.hosts` hosts wherever Ray puts them, a fixed
    set. Above 0: that many hosts on every live node that is eligible (has `node_resource`, if
    set, and the `node_label` key=value, if set), each pinned to its node; the set is re-read
    every `refresh_s` and chats are placed by rendezvous hashing over the live hosts, so a node
    joining or leaving moves only the chats its hosts win or held."""

    model_config = ConfigDict(frozen=True)

    hosts_per_node: int = Field(default=0, ge=0, le=64)
    node_resource: str = Field(default="", max_length=64)
    # The storage actor asks for a sliver of this custom resource, so it runs (and restarts)
    # only on nodes that have it, e.g. the head; empty: wherever Ray puts it.
    storage_resource: str = Field(default="", max_length=64)
    node_label: str = Field(default="", max_length=128)
    refresh_s: float = Field(default=5.0, gt=0, le=3600)

    @field_validator("node_label")
    @classmethod
    def _label(cls, label: str) -> str:
        if label and (label.count("=") != 1 or not label.split("=")[0]):
            raise ValueError(f"node label {label!r} must be key=value")
        return label

    @property
    def per_node(self) -> bool:
        """Whether hosts are placed per node (else the fixed set)."""
        return self.hosts_per_node > 0


class RuntimeConfig(BaseModel):
    """Everything the ingress and actors need; built once from settings."""

    model_config = ConfigDict(frozen=True)

    storage: StorageConfig
    sessions: SessionConfig = SessionConfig()
    # None: the secret generated once and kept in the database (`StorageActor.server_secret`).
    jwt_secret: str | None = None
    # Shared state across replicas and nodes (frame archive for resume, rate limits); None =
    # in-process stand-ins.
    redis_url: str | None = None
    ws_max_frame_bytes: int = Field(default=1 << 20, ge=1024)
    # A socket with no frame in either direction for this long is closed (1000, "idle");
    # 0 = never (the default: Bisheng's frontends never reconnect, API.md §4.4; dead peers are
    # found by the server's protocol pings instead, docs/sessions.md "Socket lifetime").
    ws_idle_timeout_s: float = Field(default=0.0, ge=0)
    namespace: str = "raychat"
    # -- placements (operator-defined dedicated placement profiles) --
    placements: dict[str, PlacementProfile] = Field(default_factory=dict)
    # The first call to a new dedicated actor waits this long for it to start (infeasible
    # resources never start), then the actor is removed and the call fails clearly. 0: no limit.
    dedicated_start_timeout_s: float = Field(default=20.0, ge=0)
    # Where shared session hosts run: a fixed set, or per node (issue 11).
    nodes: NodePlacement = NodePlacement()

    # Issue 8, socket limits (0 turns each off): chats one socket watches at once, and client
    # frames per second per socket (a burst of twice that is allowed).
    ws_max_chats: int = Field(default=32, ge=0)
    ws_frames_per_second: float = Field(default=20.0, ge=0)

    # Graph size bounds checked when a flow is saved; 0 = no bound.
    flow_max_nodes: int = Field(default=MAX_GRAPH_NODES, ge=0)
    flow_max_edges: int = Field(default=MAX_GRAPH_EDGES, ge=0)

    @field_validator("placements")
    @classmethod
    def _profile_names(cls, placements: dict[str, PlacementProfile]) -> dict[str, PlacementProfile]:
        return check_profile_names(placements)
