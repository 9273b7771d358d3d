"""The route table of Bisheng's real paths (API.md §4.5): each documented path and the path
Bisheng's own router serves it at. Both are registered on the same handler; `serve_app.errors`
reads this table to answer errors on the Bisheng form the way Bisheng's frontends expect
(docs/api.md, "Bisheng frontends")."""

from __future__ import annotations

# (method, documented path) -> Bisheng's path. "WS" marks a WebSocket route.
BISHENG_PATHS: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/chat/chat/list"): "/api/v1/chat/list",
    ("GET", "/api/v1/chat/chat/history"): "/api/v1/chat/history",
    ("GET", "/api/v1/chat/chat/info"): "/api/v1/chat/info",
    ("GET", "/api/v1/chat/chat/online"): "/api/v1/chat/online",
    ("POST", "/api/v1/chat/chat/message"): "/api/v1/chat/message",
    ("PUT", "/api/v1/chat/chat/message/{message_id}"): "/api/v1/chat/message/{message_id}",
    ("DELETE", "/api/v1/chat/chat/message/{message_id}"): "/api/v1/chat/message/{message_id}",
    ("POST", "/api/v1/chat/liked"): "/api/v1/liked",
    ("POST", "/api/v1/chat/chat/conversation/rename"): "/api/v1/chat/conversation/rename",
    ("POST", "/api/v1/chat/chat/conversation/copy"): "/api/v1/chat/conversation/copy",
    ("WS", "/api/v1/chat/chat/{flow_id}"): "/api/v1/chat/{flow_id}",
}

# Paths only Bisheng's frontends call (no documented twin): errors answer as on the aliases.
BISHENG_ONLY_PATHS: frozenset[str] = frozenset(
    {
        "/api/v1/build/init/{flow_id}",
        "/api/v1/build/stream/{flow_id}",
        "/api/v1/assistant/info/{assistant_id}",
        "/api/v1/chat/app/list",
        "/api/v1/workstation/app/conversations",
    }
)

BISHENG_STYLE_ERRORS: frozenset[str] = frozenset(BISHENG_PATHS.values()) | BISHENG_ONLY_PATHS
