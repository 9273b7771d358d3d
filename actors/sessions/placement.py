"""Where a flow's sessions run: `shared` (virtual actors in the session hosts, the default) or
`dedicated` (one Ray actor per session, on an operator-defined placement profile).

A flow graph declares it at the top level: `{"placement": "dedicated", "profile": "gpu"}`. The
operator defines the profiles (`RAYCHAT_PLACEMENTS`): each one's Ray resources (`CPU`/`GPU`
become `num_cpus`/`num_gpus`, other keys are custom Ray resources) and the most live dedicated
actors it may have at once. A graph never names Ray resources itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from actors.config import PlacementProfile
from actors.errors import FlowInvalid

# The placement profile name a dedicated session runs on.
ProfileName = str
PROFILE_KEY = "profile"
# Graph keys that would choose Ray resources directly: the operator's (a profile), not a flow's.
RESOURCE_KEYS = ("resources", "num_cpus", "num_gpus", "memory")


def placement_of(graph: Any) -> ProfileName | None:
    """The placement profile a graph asks for, or None for shared placement.

    Raises FlowInvalid on a malformed declaration or on raw Ray resources."""
    if not isinstance(graph, dict):
        return None
    for key in RESOURCE_KEYS:
        if key in graph:
            raise FlowInvalid(
                f"{key!r} is set by the operator (RAYCHAT_PLACEMENTS), not by a flow; "
                f'use {{"placement": "dedicated", "{PROFILE_KEY}": "<name>"}}',
                node_id=None,
            )
    placement = graph.get("placement", "shared")
    if placement == "shared":
        if PROFILE_KEY in graph:
            raise FlowInvalid(f"{PROFILE_KEY!r} needs placement 'dedicated'", node_id=None)
        return None
    if placement != "dedicated":
        raise FlowInvalid("placement must be 'shared' or 'dedicated'", node_id=None)
    profile = graph.get(PROFILE_KEY)
    if not isinstance(profile, str) or not profile:
        raise FlowInvalid(
            f"placement 'dedicated' needs a {PROFILE_KEY!r}: the name of a placement profile",
            node_id=None,
        )
    return profile


def stored_placement(graph: Any) -> ProfileName | None:
    """`placement_of` for a graph already stored: one that no longer validates (raw resources
    from before profiles existed) runs nowhere dedicated, so None."""
    try:
        return placement_of(graph)
    except FlowInvalid:
        return None


def profile_of(name: ProfileName, placements: Mapping[str, PlacementProfile]) -> PlacementProfile:
    """The operator's placement profile `name`; FlowInvalid when none has that name."""
    profile = placements.get(name)
    if profile is None:
        known = ", ".join(sorted(placements)) or "none"
        raise FlowInvalid(f"unknown placement profile {name!r} (configured: {known})", node_id=None)
    return profile


def check_placement(graph: Any, placements: Mapping[str, PlacementProfile]) -> None:
    """The graph's placement is shared, or names one of the operator's profiles (FlowInvalid)."""
    name = placement_of(graph)
    if name is not None:
        profile_of(name, placements)


def ray_options(profile: PlacementProfile) -> dict[str, Any]:
    """Ray actor options for a dedicated actor on `profile`."""
    wanted = dict(profile.resources)
    options: dict[str, Any] = {
        "num_cpus": wanted.pop("CPU", 0.0),
        "num_gpus": wanted.pop("GPU", 0.0),
    }
    if wanted:
        options["resources"] = wanted
    return options
