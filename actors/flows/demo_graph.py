"""The demo graph: the FLOWS.md example flow on the offline `demo` model. Its one home: the
CLI's demo data, the REST schema examples and the tests all build it here
(`examples/client.py` keeps a copy, being a standalone script)."""

from __future__ import annotations

from typing import Any

from actors.config import DEMO_PROVIDER

# The demo model's deterministic mode (actors/flows/chat_models.py `DEMO_MODELS`).
DEMO_MODEL_NAME = "echo"


def demo_model(**model_params: Any) -> dict[str, Any]:
    """A `ChatModel` node's params (and an assistant's `model`): the demo model, plus
    `model_params` (e.g. `tokens_per_second`)."""
    return {"provider": DEMO_PROVIDER, "model": DEMO_MODEL_NAME, **model_params}


def demo_graph(**model_params: Any) -> dict[str, Any]:
    """Input -> prompt (with memory) -> demo model -> output; a new dict on every call (callers
    may change it)."""
    return {
        "nodes": [
            {"id": "in", "type": "Input", "params": {"key": "input"}},
            {
                "id": "prompt",
                "type": "ChatPrompt",
                "params": {"system": "You are a terse helper.", "template": "{input}"},
            },
            {"id": "memory", "type": "Memory", "params": {"turns": 10}},
            {"id": "model", "type": "ChatModel", "params": demo_model(**model_params)},
            {"id": "out", "type": "Output"},
        ],
        "edges": [
            {"source": "in", "target": "prompt"},
            {"source": "memory", "target": "prompt"},
            {"source": "prompt", "target": "model"},
            {"source": "model", "target": "out"},
        ],
    }
