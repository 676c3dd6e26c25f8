"""YAML input that remembers where every value came from.

Every user-facing file (ward maps, scenarios, camera configs) is read here and then
through ``carefleet.fields.Reader`` so that a bad value becomes one ``InputError`` naming the file, the line
and the dotted field path (``places[3].x``), never a ``KeyError`` traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from carefleet.errors import InputError
from carefleet.fields import LineDict, LineList, Reader
from carefleet.files import read_text

__all__ = ["LineDict", "LineList", "Reader", "MAX_DEPTH", "load_yaml", "parse_yaml"]

_MISSING: Any = object()

#: Lists and mappings nested deeper than this are refused (a ward file needs 4 levels).
#: Reading is recursive, so without a limit a file of 100000 ``[`` would end in a
#: ``RecursionError`` traceback instead of one located line.
MAX_DEPTH = 100


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


