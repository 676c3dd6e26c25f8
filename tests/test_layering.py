"""The layering of DESIGN.md, checked on the source rather than trusted to folders.

The decision core imports nothing that does I/O or reads a clock, directly or through
another CareFleet module; the store, the host and every runtime sit outside it; ROS
and the web framework stay in their own packages. ``zoneinfo`` is allowed: the core
turns ward-local clock times into instants, and the time-zone rules are data that is
read once, not a clock.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

#: The decision core: everything ``Orchestrator.handle`` runs.
CORE = (
    "carefleet.orchestrator.core", "carefleet.orchestrator.allocation",
    "carefleet.orchestrator.schedules", "carefleet.orchestrator.events",
    "carefleet.orchestrator.commands", "carefleet.orchestrator.journal",
    "carefleet.orchestrator.alerts", "carefleet.orchestrator.meal_plan",
    "carefleet.robots.lifecycle", "carefleet.robots.model",
    "carefleet.tasks.model", "carefleet.tasks.requests", "carefleet.tasks.meal",
    "carefleet.tasks.patrol", "carefleet.tasks.fall_response", "carefleet.tasks.errands",
    "carefleet.maps.model", "carefleet.maps.routing", "carefleet.machines", "carefleet.errors",
    "carefleet.fields",
)
#: Modules that do I/O, read a clock, or belong to a runtime.
FORBIDDEN = {
    "sqlite3", "time", "threading", "asyncio", "socket", "selectors", "subprocess", "os",
    "pathlib", "io", "shutil", "tempfile", "random", "urllib", "http", "yaml", "cv2", "numpy",
    "fastapi", "starlette", "uvicorn", "rclpy", "zeroconf", "concurrent", "multiprocessing",
    "logging",
    "ortools",        # the meal planner's yardstick lives in bench/ only
}
FORBIDDEN_CAREFLEET = {"carefleet.orchestrator.store", "carefleet.orchestrator.host",
                       "carefleet.yamlfile", "carefleet.messages", "carefleet.files"}
FORBIDDEN_CALLS = {"open", "print", "input"}


def _source(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, module
    return Path(spec.origin)


def _imports(module: str) -> tuple[set[str], set[str], list[str]]:
    """(external top-level modules, carefleet modules, forbidden calls) of one module."""
    tree = ast.parse(_source(module).read_text(encoding="utf-8"))
    external, internal, calls = set(), set(), []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in FORBIDDEN_CALLS:
            calls.append(f"{node.func.id}() on line {node.lineno}")
        for name in names:
            if name.startswith("carefleet."):
                if importlib.util.find_spec(name.rsplit(".", 1)[0]) and _is_module(name):
                    internal.add(name)
                else:
                    internal.add(name.rsplit(".", 1)[0])
            elif name != "carefleet":
                external.add(name.split(".")[0])
    return external, internal, calls


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _closure(start: str) -> dict[str, tuple[set[str], list[str]]]:
    """Every carefleet module reachable from ``start``, with its imports and calls."""
    seen: dict[str, tuple[set[str], list[str]]] = {}
    todo = [start]
    while todo:
        module = todo.pop()
        if module in seen or module == "carefleet":
            continue
        external, internal, calls = _imports(module)
        seen[module] = (external, calls)
        todo += sorted(internal)
    return seen


@pytest.mark.parametrize("module", CORE)
def test_the_decision_core_does_no_io_and_reads_no_clock(module: str) -> None:
    reached = _closure(module)
    outside = set(reached) - set(CORE)
    assert not outside & FORBIDDEN_CAREFLEET, f"{module} reaches {sorted(outside)}"
    assert not outside, f"{module} reaches modules outside the core: {sorted(outside)}"
    for name, (external, calls) in reached.items():
        assert not external & FORBIDDEN, f"{name} imports {sorted(external & FORBIDDEN)}"
        assert not calls, f"{name} calls {calls}"


def test_the_check_would_catch_a_clock() -> None:
    """The walk really sees imports (it is not vacuously green)."""
    external, _, _ = _imports("carefleet.orchestrator.store")
    assert {"sqlite3", "time", "os"} <= external
    _, internal, _ = _imports("carefleet.orchestrator.host")
    assert "carefleet.orchestrator.store" in internal


def test_ros_and_web_frameworks_stay_in_their_packages() -> None:
    root = Path(_source("carefleet").parent)
    packages = {"carefleet": root}
    for name in ("orchestrator", "robots", "tasks", "maps", "vision", "devices", "simulation"):
        spec = importlib.util.find_spec(f"carefleet.{name}")
        if spec and spec.submodule_search_locations:
            packages[name] = Path(list(spec.submodule_search_locations)[0])
    for name, folder in packages.items():
        for path in folder.rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            tree = ast.parse(text)
            for node in ast.walk(tree):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    mods = ([a.name for a in node.names] if isinstance(node, ast.Import)
                            else [node.module or ""])
                    for mod in mods:
                        top = mod.split(".")[0]
                        assert top != "rclpy", f"{path} imports rclpy outside ros/"
                        assert top not in ("fastapi", "starlette", "uvicorn"), \
                            f"{path} imports the web framework outside service/"
