"""The unit tier runs without Ray: starting Ray or Serve here fails the test at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

import pytest
import ray
from ray import serve


def _refuse(name: str) -> Callable[..., NoReturn]:
    def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
        raise RuntimeError(
            f"unit tests run without Ray: {name}() was called. Use the in-process classes "
            "(SessionHost, StorageActor) or move the test to tests/integration."
        )

    return refuse


@pytest.fixture(autouse=True)
def _no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Replaces `ray.init` (also what Ray's auto-init calls on a first `.remote()`) and
    `serve.start` / `serve.run` for each unit test."""
    monkeypatch.setattr(ray, "init", _refuse("ray.init"))
    monkeypatch.setattr(serve, "start", _refuse("serve.start"))
    monkeypatch.setattr(serve, "run", _refuse("serve.run"))
