"""The one error hierarchy. Each class has a stable business `code`; the edge (serve_app/errors.py)
maps codes to HTTP statuses and WebSocket frames. Messages are safe to show to clients."""

from __future__ import annotations

from typing import Any, ClassVar


class RaychatError(Exception):
    """Base class. `data` carries structured, client-safe details."""

    code: ClassVar[int] = 13004
    default_message: ClassVar[str] = "Backend service error"

    def __init__(self, message: str | None = None, **data: Any) -> None:
        self.message = message or self.default_message
        self.data = data
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep kwargs across pickling (errors cross Ray actor boundaries).
        return (_rebuild, (type(self), self.message, self.data))


def _rebuild(cls: type[RaychatError], message: str, data: dict[str, Any]) -> RaychatError:
    return cls(message, **data)


class Unauthorized(RaychatError):
    code = 401
    default_message = "Missing or invalid token"


class Forbidden(RaychatError):
    code = 403
    default_message = "No permission to operate"


class NotFound(RaychatError):
    code = 404
    default_message = "This resource does not exist"


class Conflict(RaychatError):
    code = 409
    default_message = "Conflict"


class TurnBusy(Conflict):
    default_message = "A turn is already running in this chat"


class DuplicateAsk(Conflict):
    default_message = "This client_msg_id was already answered; read the chat history"


class PayloadTooLarge(RaychatError):
    code = 413
    default_message = "Payload too large"


class InvalidInput(RaychatError):
    code = 422
    default_message = "Invalid input"


class FlowInvalid(InvalidInput):
    default_message = "The flow graph does not compile"


class RateLimited(RaychatError):
    code = 429
    default_message = "Too many requests"


class FlowDeleted(RaychatError):
    code = 13001
    default_message = "This skill has been deleted"


class FlowOffline(RaychatError):
    code = 13002
    default_message = "The current skill is not online"


class ChatServiceError(RaychatError):
    code = 13004
    default_message = "Backend service error"


class ModelExecutionError(RaychatError):
    code = 13005
    default_message = "LLM Skill execution error. error={error}"


class StorageUnavailable(RaychatError):
    code = 503
    default_message = "Storage is not available"


class AssistantDeleted(RaychatError):
    code = 10420
    default_message = "This assistant has been deleted"


class AssistantOffline(RaychatError):
    code = 10421
    default_message = "The current assistant is not online"


class AssistantError(RaychatError):
    code = 10499
    default_message = "Assistant error"
