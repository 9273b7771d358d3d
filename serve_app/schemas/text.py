"""What every REST input must be before it goes further (API.md §6a): text without NUL or lone
surrogates, integers in the database's BIGINT range, JSON of bounded depth.

`RequestBody` is the base of every request body model: it checks the raw JSON (keys and values,
nested objects and lists included) before field validation, iteratively, so a deep document costs
no recursion. `SafeStr` does the same for a query or path string. Failures are 422 with the
offending location in the message; the value itself is never echoed.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, model_validator

DB_INT_MAX = 2**63 - 1  # BIGINT: every id column on every backend
# Widths of the text id and name columns (storage/sql/tables.py String(64), String(255)).
ID_MAX = 64
NAME_MAX = 255
MAX_JSON_DEPTH = 64  # objects/lists nested inside a request body


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None when it can."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate"
    return None


def _refuse_bad_text(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(f"text {problem}")
    return value


SafeStr = Annotated[str, AfterValidator(_refuse_bad_text)]


def _empty_is_none(value: Any) -> Any:
    return None if value == "" else value


# A history cursor: `id=` (empty, as Bisheng's frontends send the first page) is no cursor.
OptionalCursor = Annotated[
    Annotated[int, Field(ge=1, le=DB_INT_MAX)] | None, BeforeValidator(_empty_is_none)
]


def _where(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".") or "body"


def json_problem(document: Any, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """The first reason `document` (parsed JSON) is refused, naming where; None if it is fine.

    Iterative (no recursion): a document of any depth is checked in bounded stack space."""
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(document, ())]
    while stack:
        value, path = stack.pop()
        if len(path) > max_depth:
            return f"{_where(path)}: nested deeper than {max_depth} levels"
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                return f"{_where(path)}: text {problem}"
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{_where(path)}: numbers must be finite"
        elif isinstance(value, dict):
            for key, item in value.items():
                key_problem = text_problem(key) if isinstance(key, str) else None
                if key_problem is not None:
                    return f"{_where(path)}: a key {key_problem}"
                stack.append((item, (*path, str(key))))
        elif isinstance(value, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(value))
    return None


class RequestBody(BaseModel):
    """Base of every REST request body: the raw JSON is checked by `json_problem` first."""

    @model_validator(mode="before")
    @classmethod
    def _safe_json(cls, data: Any) -> Any:
        problem = json_problem(data)
        if problem is not None:
            raise ValueError(problem)
        return data
