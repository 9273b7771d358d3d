"""Where a flow's sessions run: `shared` (virtual actors in the session hosts, the default) or
`dedicated` (one Ray actor per session, with the flow's declared resources).

A flow graph declares it at the top level: `{"placement": "dedicated", "resources": {"CPU": 1,
"GPU": 1, "my_custom": 2}}`. `CPU`/`GPU` become `num_cpus`/`num_gpus`; other keys are custom Ray
resources.
"""

from __future__ import annotations

from typing import Any

from actors.errors import FlowInvalid

Resources = tuple[tuple[str, float], ...]


def placement_of(graph: Any) -> Resources | None:
    """The dedicated resources a graph asks for, or None for shared placement.

    Raises FlowInvalid on a malformed declaration."""
    if not isinstance(graph, dict) or graph.get("placement", "shared") == "shared":
        return None
    if graph["placement"] != "dedicated":
        raise FlowInvalid("placement must be 'shared' or 'dedicated'", node_id=None)
    resources = graph.get("resources", {})
    if not isinstance(resources, dict) or not all(
        isinstance(k, str) and isinstance(v, int | float) and not isinstance(v, bool) and v >= 0
        for k, v in resources.items()
    ):
        raise FlowInvalid("resources must map resource names to numbers >= 0", node_id=None)
    return tuple(sorted((k, float(v)) for k, v in resources.items()))


def ray_options(resources: Resources) -> dict[str, Any]:
    """Ray actor options for dedicated resources."""
    wanted = dict(resources)
    options: dict[str, Any] = {
        "num_cpus": wanted.pop("CPU", 0.0),
        "num_gpus": wanted.pop("GPU", 0.0),
    }
    if wanted:
        options["resources"] = wanted
    return options
