"""A session's state machine: Bisheng's context states plus `running`; illegal moves raise."""

from __future__ import annotations

from enum import StrEnum


class SessionState(StrEnum):
    """Bisheng's per-chat context states, plus `running` for a turn in progress."""

    INIT = "init"
    INIT_OBJECT = "init_object"
    WAITING_OBJECT = "waiting_object"
    RUNNING = "running"


_ALLOWED: dict[SessionState, frozenset[SessionState]] = {
    SessionState.INIT: frozenset({SessionState.INIT_OBJECT}),
    SessionState.INIT_OBJECT: frozenset({SessionState.WAITING_OBJECT, SessionState.INIT}),
    SessionState.WAITING_OBJECT: frozenset({SessionState.RUNNING, SessionState.INIT}),
    SessionState.RUNNING: frozenset({SessionState.WAITING_OBJECT}),
}


class IllegalTransition(RuntimeError):
    """A state change the machine does not allow (a bug, never a client error)."""


class StateMachine:
    """The state of one session; `move` refuses what `_ALLOWED` does not list."""

    def __init__(self) -> None:
        self.state = SessionState.INIT

    def check(self, target: SessionState) -> None:
        """Raise IllegalTransition unless the current state may move to `target`."""
        if target not in _ALLOWED[self.state]:
            raise IllegalTransition(f"{self.state} -> {target}")

    def move(self, target: SessionState) -> None:
        self.check(target)
        self.state = target
