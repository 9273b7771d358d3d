"""Sessions and messages (API.md §3): rows as the API returns them, and request bodies."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from serve_app.schemas.envelope import IsoTime
from serve_app.schemas.text import DB_INT_MAX, ID_MAX, NAME_MAX, RequestBody
from storage.records import COMMENT_MAX_CHARS, ChatListItem, MessageRow, SessionRow

MESSAGE_MAX = 200_000
CATEGORY_PATTERN = r"^[a-z_]{1,32}$"
ChatId = str
_CHAT_ID = Field(min_length=1, max_length=ID_MAX, examples=["7f2c0a6c2d7e4b0b9a3c5d1e8f9a0b1c"])
_MESSAGE_ID = Field(ge=1, le=DB_INT_MAX, examples=[42])


class MessagePublic(BaseModel):
    """A message row; `user_name` and `flow_name` are filled in history reads; `comment` is the
    user's comment (kept apart from `remark`, which holds `break_answer`)."""

    id: int
    is_bot: bool
    message: str
    type: str
    category: str
    intermediate_steps: str | None
    files: str | None
    extra: str | None
    flow_id: str
    chat_id: str
    user_id: int | None
    liked: int
    copied: int
    solved: int
    sensitive_status: int
    source: int
    remark: str | None
    create_time: IsoTime
    update_time: IsoTime
    user_name: str | None = None
    flow_name: str | None = None
    comment: str | None = None

    @classmethod
    def of(cls, row: MessageRow) -> MessagePublic:
        return cls.model_validate(row, from_attributes=True)


class SessionMessagePublic(MessagePublic):
    """`/session/chat/messages/{id}` item: the message row plus the fields Bisheng's admin
    daily-chat log page reads (its `WorkstationMessage`: `messageId`, `text`,
    `isCreatedByUser`, `sender`, ...)."""

    # Bisheng's wire names (camelCase) from here on
    messageId: str
    conversationId: str
    createdAt: IsoTime
    updateAt: IsoTime
    isCreatedByUser: bool
    sender: str
    text: str
    parentMessageId: str | None = None
    model: str | None = None
    error: bool = False
    unfinished: bool = False

    @classmethod
    def of_row(cls, row: MessageRow, app_name: str | None) -> SessionMessagePublic:
        base = MessagePublic.of(row).model_dump()
        sender = (app_name or row.flow_name) if row.is_bot else row.user_name
        return cls(
            **base,
            messageId=str(row.id),
            conversationId=row.chat_id,
            createdAt=row.create_time,
            updateAt=row.update_time,
            isCreatedByUser=not row.is_bot,
            sender=sender or "",
            text=row.message,
        )


class SessionPublic(BaseModel):
    """A session row."""

    chat_id: str
    name: str
    flow_id: str
    flow_type: int
    flow_name: str
    flow_description: str | None
    flow_logo: str | None
    user_id: int | None
    is_delete: bool
    like: int
    dislike: int
    copied: int
    sensitive_status: int
    create_time: IsoTime
    update_time: IsoTime

    @classmethod
    def of(cls, row: SessionRow) -> SessionPublic:
        return cls.model_validate(row, from_attributes=True)


class ChatListItemPublic(BaseModel):
    """`/chat/chat/list` item: a live session with its newest message (or null)."""

    chat_id: str
    flow_id: str
    flow_name: str
    flow_description: str | None
    flow_type: int
    name: str
    logo: str | None
    create_time: IsoTime
    update_time: IsoTime
    latest_message: MessagePublic | None

    @classmethod
    def of(cls, item: ChatListItem) -> ChatListItemPublic:
        s, latest = item.session, item.latest_message
        return cls(
            chat_id=s.chat_id,
            flow_id=s.flow_id,
            flow_name=s.flow_name,
            flow_description=s.flow_description,
            flow_type=s.flow_type,
            name=s.name,
            logo=s.flow_logo,
            create_time=s.create_time,
            update_time=s.update_time,
            latest_message=None if latest is None else MessagePublic.of(latest),
        )


class MessageCreate(RequestBody):
    """`POST /chat/chat/message`: a question and/or an answer appended to a chat (created if
    missing) of an app the caller may use."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "flow_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
                    "chat_id": "7f2c0a6c2d7e4b0b9a3c5d1e8f9a0b1c",
                    "human_message": "What is 2+2?",
                    "answer_message": "4",
                }
            ]
        },
    )

    flow_id: str = Field(min_length=1, max_length=ID_MAX)
    chat_id: ChatId = _CHAT_ID
    human_message: str | None = Field(default=None, max_length=MESSAGE_MAX)
    answer_message: str | None = Field(default=None, max_length=MESSAGE_MAX)


class MessageUpdate(RequestBody):
    """`PUT /chat/chat/message/{message_id}`: new text and optionally a new category."""

    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"message": "Edited text"}]}
    )

    message: str = Field(max_length=MESSAGE_MAX)
    category: str | None = Field(default=None, pattern=CATEGORY_PATTERN)


class LikedCreate(RequestBody):
    """`POST /chat/liked`: 0 none, 1 like, 2 dislike."""

    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"examples": [{"message_id": 42, "liked": 1}]}
    )

    message_id: int = _MESSAGE_ID
    liked: Literal[0, 1, 2]


class CopiedCreate(RequestBody):
    """`POST /chat/copied`."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"message_id": 42}]})

    message_id: int = _MESSAGE_ID


class CommentCreate(RequestBody):
    """`POST /chat/comment`: at most 4096 characters."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"message_id": 42, "comment": "Helpful, thanks"}]},
    )

    message_id: int = _MESSAGE_ID
    comment: str = Field(max_length=COMMENT_MAX_CHARS)


class TelemetryCreate(RequestBody):
    """`POST /session/chat/message/telemetry`: records a `message_feedback` event."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={"examples": [{"message_id": 42, "operation_type": "like"}]},
    )

    message_id: int = _MESSAGE_ID
    operation_type: Literal["like", "dislike", "copy"]


class RenameCreate(RequestBody):
    """`POST /chat/chat/conversation/rename`."""

    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        json_schema_extra={"examples": [{"conversationId": "7f2c0a6c...", "name": "Trip plans"}]},
    )

    conversation_id: ChatId = Field(alias="conversationId", min_length=1, max_length=ID_MAX)
    name: str = Field(max_length=NAME_MAX)


class CopyCreate(RequestBody):
    """`POST /chat/chat/conversation/copy`."""

    model_config = ConfigDict(
        extra="ignore",
        populate_by_name=True,
        json_schema_extra={"examples": [{"conversationId": "7f2c0a6c..."}]},
    )

    conversation_id: ChatId = Field(alias="conversationId", min_length=1, max_length=ID_MAX)


class CopyPublic(BaseModel):
    """The new chat made by a copy."""

    chat_id: str
