"""YAML input that remembers where every value came from, and typed field readers.

Every user-facing file (ward maps, scenarios, camera configs) is read through
``Reader`` so that a bad value becomes one ``InputError`` naming the file, the line
and the dotted field path (``places[3].x``), never a ``KeyError`` traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable, TypeVar

import yaml

from carefleet.errors import InputError
from carefleet.files import read_text

T = TypeVar("T")
_MISSING: Any = object()

#: Lists and mappings nested deeper than this are refused (a ward file needs 4 levels).
#: Reading is recursive, so without a limit a file of 100000 ``[`` would end in a
#: ``RecursionError`` traceback instead of one located line.
MAX_DEPTH = 100


class LineDict(dict):
    """A mapping from YAML; ``line`` is its own line, ``key_lines[key]`` each entry's."""

    line: int = 0
    key_lines: dict[Any, int]


class LineList(list):
    """A sequence from YAML; ``line`` is its own line, ``item_lines[i]`` each item's."""

    line: int = 0
    item_lines: list[int]


class _TooDeep(yaml.composer.ComposerError):
    """Lists and mappings nested more than ``MAX_DEPTH`` levels (aliases included)."""

    def __init__(self, mark: yaml.Mark) -> None:
        super().__init__(None, None, f"nested too deeply: more than {MAX_DEPTH} levels of "
                         "lists and mappings", mark)


class _LineLoader(yaml.SafeLoader):
    """SafeLoader that builds ``LineDict``/``LineList`` carrying 1-based line numbers.

    Composing counts how deep lists and mappings nest and stops at ``MAX_DEPTH`` (an
    alias counts as deep as the collection it names), so constructing, which recurses
    too, never gets near Python's recursion limit.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0                      # collections around the node being composed
        self._heights: dict[int, int] = {}   # id(collection node) -> levels in it, itself included

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            node = super().compose_node(parent, index)
            if self._depth + self._heights.get(id(node), 0) > MAX_DEPTH:
                raise _TooDeep(mark)
            return node
        if not self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent):
            return super().compose_node(parent, index)
        if self._depth >= MAX_DEPTH:
            raise _TooDeep(self.peek_event().start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        children = (node.value if isinstance(node, yaml.SequenceNode)
                    else [child for pair in node.value for child in pair])
        self._heights[id(node)] = 1 + max(
            (self._heights.get(id(child), 0) for child in children), default=0)
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LineDict:  # type: ignore[override]
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LineList:  # type: ignore[override]
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                            _LineLoader.construct_mapping)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG,
                            _LineLoader.construct_sequence)


def load_yaml(path: str | Path) -> Any:
    """Parse a YAML file; unreadable files and syntax errors become ``InputError``."""
    return parse_yaml(read_text(path), str(path))


def parse_yaml(text: str, source: str) -> Any:
    """Parse YAML text that came from ``source`` (a file name or e.g. ``"task api"``)."""
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - SafeLoader subclass
    except _TooDeep as exc:
        raise InputError(source, exc.problem, line=exc.problem_mark.line + 1) from None
    except RecursionError:  # only when called from deep inside a program: still one line
        raise InputError(source, "nested too deeply to read") from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise InputError(source, f"malformed YAML: {exc.problem or exc}", line=line) from None
    except yaml.YAMLError as exc:
        raise InputError(source, f"malformed YAML: {exc}") from None
    except ValueError as exc:   # a value YAML itself cannot build, e.g. the date 2026-13-01
        raise InputError(source, f"malformed YAML: {exc}") from None


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
