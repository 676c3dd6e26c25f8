"""Typed, located access to mappings read from a user's file or request.

``Reader`` turns a bad value into one ``InputError`` naming the source, the line and the
dotted field path (``places[3].x``), never a ``KeyError`` traceback. It does no I/O, so
the decision core can validate task requests with it; ``yamlfile`` reads the files and
builds the ``LineDict``/``LineList`` values that carry the line numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable, TypeVar

from carefleet.errors import InputError

T = TypeVar("T")
_MISSING: Any = object()


class LineDict(dict):
    """A mapping from YAML; ``line`` is its own line, ``key_lines[key]`` each entry's."""

    line: int = 0
    key_lines: dict[Any, int]


class LineList(list):
    """A sequence from YAML; ``line`` is its own line, ``item_lines[i]`` each item's."""

    line: int = 0
    item_lines: list[int]



class Reader:
    """Typed, located access to one YAML mapping.

    ``Reader(source, data)`` wraps the top-level mapping; ``.mapping(key)`` and
    ``.items(key)`` descend, extending the dotted ``path``. Every accessor raises
    ``InputError(source, ..., field=path, line=line)`` on a missing or bad value.
    """

    def __init__(self, source: str, data: Any, path: str = "", line: int | None = None) -> None:
        self.source = source
        self.path = path
        self.line = line if line is not None else getattr(data, "line", None)
        if not isinstance(data, dict):
            raise InputError(source, f"expected a mapping, got {_kind(data)}",
                             field=path or None, line=self.line)
        self.data = data

    # -- locating -----------------------------------------------------------
    def field(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def line_of(self, key: str) -> int | None:
        return getattr(self.data, "key_lines", {}).get(key, self.line)

    def error(self, key: str | None, message: str) -> InputError:
        """An error about ``key`` (or about this mapping as a whole when None)."""
        if key is None:
            return InputError(self.source, message, field=self.path or None, line=self.line)
        return InputError(self.source, message, field=self.field(key), line=self.line_of(key))

    def __contains__(self, key: str) -> bool:
        return key in self.data

    def keys(self) -> list[str]:
        return list(self.data)

    def only(self, *allowed: str) -> None:
        """Refuse unknown keys: a typo (``tray_cout``) must not be silently ignored."""
        for key in self.data:
            if key not in allowed:
                raise self.error(str(key), f"unknown field (expected one of: {', '.join(allowed)})")

    # -- raw access ---------------------------------------------------------
    def get(self, key: str, default: Any = _MISSING) -> Any:
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise self.error(None, f"missing required field '{key}'")
        return default

    def _given(self, key: str, default: Any) -> tuple[bool, Any]:
        """``(True, value)`` when ``key`` is there, ``(False, default)`` when it may be
        left out; a missing required key is an error."""
        if key in self.data:
            return True, self.data[key]
        return False, self.get(key, default)

    # -- typed access -------------------------------------------------------
    def str(self, key: str, default: Any = _MISSING, *, choices: Any = None) -> Any:
        given, value = self._given(key, default)
        if not given:
            return value
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.error(key, f"expected text, got {_kind(value)}")
        value = str(value)
        if not value.strip():
            raise self.error(key, "must not be empty")
        if choices is not None and value not in choices:
            raise self.error(key, f"'{value}' is not one of: {', '.join(map(str, choices))}")
        return value

    def number(self, key: str, default: Any = _MISSING, *, minimum: float | None = None,
               maximum: float | None = None, positive: bool = False, integer: bool = False) -> Any:
        given, value = self._given(key, default)
        if not given:
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"expected a number, got {_kind(value)}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.error(key, "must be a finite number")
        if integer and int(value) != value:
            raise self.error(key, f"expected a whole number, got {value}")
        if positive and value <= 0:
            raise self.error(key, f"must be greater than 0, got {value}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        if maximum is not None and value > maximum:
            raise self.error(key, f"must be at most {maximum}, got {value}")
        return int(value) if integer else float(value)

    def bool(self, key: str, default: Any = _MISSING) -> Any:
        given, value = self._given(key, default)
        if not given:
            return value
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_kind(value)}")
        return value

    def strings(self, key: str, default: Any = _MISSING) -> Any:
        """A list of non-empty strings (a single string is refused, to catch typos)."""
        given, value = self._given(key, default)
        if not given:
            return value
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_kind(value)}")
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (str, int)) or not str(item).strip():
                raise self._item_error(key, value, i, f"expected text, got {_kind(item)}")
        return [str(item) for item in value]

    def mapping(self, key: str, default: Any = _MISSING) -> Any:
        given, value = self._given(key, default)
        if not given:
            return value
        return Reader(self.source, value, self.field(key), self.line_of(key)
                      if not hasattr(value, "line") else value.line)

    def items(self, key: str, default: Any = _MISSING) -> Iterator[Reader]:
        """Each entry of a list of mappings, as a Reader located at ``key[i]``."""
        _, value = self._given(key, default)
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_kind(value)}")
        for i, item in enumerate(value):
            line = _item_line(value, i)
            if not isinstance(item, dict):
                raise InputError(self.source, f"expected a mapping, got {_kind(item)}",
                                 field=f"{self.field(key)}[{i}]", line=line)
            yield Reader(self.source, item, f"{self.field(key)}[{i}]", line)

    def convert(self, key: str, func: Callable[[Any], T], default: Any = _MISSING) -> T:
        """Apply ``func`` to a raw value; its ``ValueError`` becomes a located error."""
        given, value = self._given(key, default)
        if not given:
            return value
        try:
            return func(value)
        except (ValueError, TypeError) as exc:
            raise self.error(key, str(exc)) from None

    def _item_error(self, key: str, value: list, i: int, message: str) -> InputError:
        return InputError(self.source, message, field=f"{self.field(key)}[{i}]",
                          line=_item_line(value, i) or self.line_of(key))


def _item_line(value: list, i: int) -> int | None:
    lines = getattr(value, "item_lines", None)
    return lines[i] if lines and i < len(lines) else getattr(value, "line", None)


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {bool: "true/false", int: "a number", float: "a number", str: "text",
            LineDict: "a mapping", dict: "a mapping", LineList: "a list", list: "a list"}.get(
                type(value), type(value).__name__)
