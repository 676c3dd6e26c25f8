"""Shared helpers for the ``transitions`` state machines (robot lifecycle, task lifecycle, task steps).

One ``Machine`` per kind of thing, with models added and removed (cheap, ~16 µs), so
thousands of tasks do not each build their own machine. Illegal triggers raise our
``IllegalTransition`` naming the thing, its state and the trigger, and change nothing.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from transitions import Machine, MachineError

from carefleet.errors import IllegalTransition


def build_machine(states: type[Enum], transitions: list[dict[str, Any]], initial: Enum,
                  model_attribute: str = "state") -> Machine:
    """A model-less machine from module-level data; models join with ``add_model``."""
    return Machine(model=None, states=list(states), transitions=transitions, initial=initial,
                   auto_transitions=False, send_event=True, model_attribute=model_attribute)


def fire(machine: Machine, model: Any, trigger: str, *, what: str) -> None:
    """Fire ``trigger`` on ``model``; refuse it with ``IllegalTransition`` when not allowed."""
    attribute = machine.model_attribute
    state = getattr(model, attribute)
    try:
        getattr(model, trigger)()
    except MachineError:
        raise IllegalTransition(what, _name(state), trigger) from None
    except AttributeError:
        raise IllegalTransition(what, _name(state), trigger) from None


def allowed_triggers(machine: Machine, state: Enum) -> list[str]:
    """Triggers that may fire from ``state`` (used by tests and diagrams)."""
    return sorted(machine.get_triggers(state.name))


def diagram(states: type[Enum], transitions: list[dict[str, Any]], title: str) -> str:
    """A Graphviz ``dot`` text drawn from the module-level transition data."""
    lines = [f'digraph "{title}" {{', "  rankdir=LR;", '  node [shape=box, style=rounded];']
    for state in states:
        lines.append(f'  "{state.name.lower()}";')
    for t in transitions:
        sources = t["source"] if isinstance(t["source"], list) else [t["source"]]
        for source in sources:
            names = [s.name.lower() for s in states] if source == "*" else [source.name.lower()]
            for name in names:
                lines.append(f'  "{name}" -> "{t["dest"].name.lower()}" [label="{t["trigger"]}"];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def _name(state: Any) -> str:
    return state.name.lower() if isinstance(state, Enum) else str(state)
