"""The one YAML reader of qualipipe: codebooks, survey instruments and draft-code edits use it.

Analysts write these files by hand, so every problem is located (line and column) and the two
traps of PyYAML are closed: a syntax error becomes one French problem, and a key written twice in
the same block — which `safe_load` silently resolves by keeping the last one — is refused.

- `compose(text, file)` gives the node tree (positions kept), for readers that walk nodes.
- `load(text, file)` gives plain data whose mappings and sequences remember their lines.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from qualipipe.errors import InputError, Problem

__all__ = [
    "LineMap",
    "LineSeq",
    "MappingNode",
    "Node",
    "ScalarNode",
    "SequenceNode",
    "compose",
    "item_lines",
    "line_of",
    "load",
]


class LineMap(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers its line and the line of each key (1-based)."""

    line: int = 0
    key_lines: dict[str, int]


class LineSeq(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers its line and the line of each item (1-based)."""

    line: int = 0
    item_lines: list[int]


def _position(mark: yaml.Mark | None) -> tuple[int | None, str | None]:
    if mark is None:
        return None, None
    return mark.line + 1, str(mark.column + 1)


def _syntax_error(error: yaml.YAMLError, file: str) -> InputError:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    line, column = _position(mark)
    reason = getattr(error, "problem", None) or "syntaxe invalide"
    return InputError(
        f"{file} n'est pas un YAML valide.",
        [
            Problem(
                file=file,
                line=line,
                column=column,
                message=f"le fichier n'est pas un YAML valide ({reason}) ; vérifiez l'indentation "
                "(espaces, pas de "
                "tabulations), les deux-points et les guillemets autour de cette ligne.",
            )
        ],
    )


def duplicate_keys(root: Node | None, file: str) -> list[Problem]:
    """Every key written twice in the same mapping, anywhere in the tree, with both lines."""
    problems: list[Problem] = []
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                line, column = _position(key_node.start_mark)
                if key in seen:
                    problems.append(
                        Problem(
                            file=file,
                            line=line,
                            column=column,
                            message=f"la clé « {key} » apparaît deux fois dans le même bloc "
                            f"(déjà ligne {seen[key]}) ; gardez-en une seule.",
                        )
                    )
                else:
                    seen[key] = line or 0
                stack.append(value_node)
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return sorted(problems, key=lambda p: p.line or 0)


def compose(text: str, file: str) -> Node | None:
    """The node tree of `text` (None for an empty file); syntax errors and duplicate keys raise
    `InputError` with every problem located."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise _syntax_error(error, file) from None
    problems = duplicate_keys(root, file)
    if problems:
        raise InputError(f"{file} contient {len(problems)} clé(s) en double.", problems)
    return root


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings and sequences remember their (1-based) line numbers."""


def _construct_map(loader: _LineLoader, node: MappingNode) -> LineMap:
    mapping = LineMap()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[str(key)] = key_node.start_mark.line + 1
    return mapping


def _construct_seq(loader: _LineLoader, node: SequenceNode) -> LineSeq:
    seq = LineSeq(loader.construct_object(child, deep=True) for child in node.value)
    seq.line = node.start_mark.line + 1
    seq.item_lines = [child.start_mark.line + 1 for child in node.value]
    return seq


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


def load(text: str, file: str) -> Any:
    """Plain data from `text` (LineMap / LineSeq for mappings and sequences), checked like
    `compose`: a syntax error or a duplicate key raises `InputError`."""
    root = compose(text, file)
    if root is None:
        return None
    loader = _LineLoader("")
    try:
        return loader.construct_document(root)
    finally:
        loader.dispose()


def line_of(node: Any, key: str | None = None) -> int | None:
    """The line of a loaded mapping (or of one of its keys) or sequence; None for plain values."""
    if isinstance(node, LineMap):
        if key is not None and key in node.key_lines:
            return node.key_lines[key]
        return node.line
    if isinstance(node, LineSeq):
        return node.line
    return None


def item_lines(seq: list[Any]) -> list[int | None]:
    """The line of each item of a loaded sequence (None when unknown)."""
    return list(getattr(seq, "item_lines", [None] * len(seq)))
