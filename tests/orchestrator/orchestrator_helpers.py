"""Small helpers the orchestrator tests import by name (a uniquely named module: several
test folders have a ``conftest``, and which one ``import conftest`` finds depends on order)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from carefleet.messages import render
from carefleet.orchestrator.commands import NotifyStaff
from carefleet.tasks.model import TaskState


def finished_view(record: dict[str, Any]) -> SimpleNamespace:
    """A task that left the core within one event, seen through its stored record."""
    fields = {**record, **record.get("progress", {})}
    fields.update(state=TaskState(record["state"]), robot=record["assigned_robot"])
    return SimpleNamespace(**fields)


def text(note: NotifyStaff) -> str:
    """A notification as staff read it (in English)."""
    return render(note.key, note.params)
