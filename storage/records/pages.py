"""A page of results."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a filtered list and the total number of matches."""

    items: tuple[T, ...]
    total: int
