"""Draft codes appended to a codebook YAML file, keeping its comments and layout.

The file is edited as text, the result is checked with the codebook reader, and only then is the
file replaced (through a temporary file in the same folder): a failure leaves it as it was.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from qualipipe import yamlio
from qualipipe.codebook.model import codebook_from_text, load_codebook, read_codebook_text
from qualipipe.errors import QualipipeError
from qualipipe.store import Study
from qualipipe.yamlio import MappingNode, Node, ScalarNode, SequenceNode


def add_draft_code(
    path: Path,
    family: str,
    *,
    id_base: str,
    entry: Callable[[str], dict[str, object]],
    comment: str,
) -> tuple[str, int]:
    """Append `entry(code_id)` at the end of `family`; return the new code id and its line."""
    codebook = load_codebook(path)  # refuses to edit a file that is already invalid
    families = [c.id for c in codebook.codes if c.parent is None]
    if family not in families:
        raise QualipipeError(
            f"Famille « {family} » absente de {path} (familles : {', '.join(families)}) ; "
            f"choisissez-en une avec --famille."
        )
    code_id = _unique_id(id_base, {c.id for c in codebook.codes})
    text = read_codebook_text(path)
    new_text, line = _insert_into_family(text, family, entry(code_id), comment)
    codebook_from_text(new_text, str(path))  # the reader must accept the result
    temporary = path.with_name(f".{path.name}.brouillon")
    temporary.write_text(new_text, encoding="utf-8")
    temporary.replace(path)
    return code_id, line


def _quoted(text: object) -> str:
    # A JSON string is a valid YAML double-quoted scalar: every character is escaped safely.
    return json.dumps(str(text), ensure_ascii=False)


def draft_entry_yaml(entry: dict[str, object]) -> str:
    """The entry in the codebook's own style: "- id: ...", flow list of expressions, examples."""
    lines: list[str] = []
    for key, value in entry.items():
        prefix = "- " if not lines else "  "
        if key == "id" or key == "codable":
            lines.append(f"{prefix}{key}: {value}")
        elif isinstance(value, list) and key == "expressions":
            lines.append(f"{prefix}{key}: [{', '.join(_quoted(v) for v in value)}]")
        elif isinstance(value, list):
            lines.append(f"{prefix}{key}:")
            lines.extend(f"    - {_quoted(v)}" for v in value)
        else:
            lines.append(f"{prefix}{key}: {_quoted(value)}")
    return "\n".join(lines) + "\n"


def _last_scalar(node: Node) -> Node:
    """The last scalar of a node, in document order (mapping and sequence ends overshoot)."""
    while isinstance(node, MappingNode | SequenceNode) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return node


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _unique_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def _insert_into_family(
    text: str, family: str, entry: dict[str, object], comment: str
) -> tuple[str, int]:
    """Insert `entry` after the last code of `family`; return the new text and the entry's line."""
    root = yamlio.compose(text, "codebook")
    codes_node = None
    assert isinstance(root, MappingNode)
    for key, value in root.value:
        if key.value != "familles" or not isinstance(value, SequenceNode):
            continue
        for family_node in value.value:
            fields = {k.value: v for k, v in family_node.value}
            id_node = fields.get("id")
            if isinstance(id_node, ScalarNode) and id_node.value == family:
                codes_node = fields.get("codes")
    assert isinstance(codes_node, SequenceNode) and codes_node.value
    lines = text.splitlines(keepends=True)
    first_item_line = lines[codes_node.value[0].start_mark.line]
    indent = len(first_item_line) - len(first_item_line.lstrip(" "))
    end = _last_scalar(codes_node.value[-1]).end_mark
    # A scalar ends on its own line (column > 0) or at the start of a later one (block scalars);
    # blank lines and comments right before the insertion point belong to what follows.
    insert_at = end.line if end.column == 0 else end.line + 1
    while insert_at > 0 and (not lines[insert_at - 1].strip() or _is_comment(lines[insert_at - 1])):
        insert_at -= 1
    block = draft_entry_yaml(entry)
    pad = " " * indent
    comment_lines = [pad + line.strip() + "\n" for line in comment.splitlines()]
    addition = ["\n", *comment_lines] + [
        pad + ln if ln.strip() else ln for ln in block.splitlines(True)
    ]
    if insert_at > 0 and not lines[insert_at - 1].endswith("\n"):
        lines[insert_at - 1] += "\n"
    new_lines = lines[:insert_at] + addition + lines[insert_at:]
    return "".join(new_lines), insert_at + 4


def default_codebook_path(study: Study) -> Path:
    """The codebook file to extend: the study's setting, else the file last loaded in it."""
    candidates: list[Path] = []
    if study.config.codebook:
        candidates.append(study.root / study.config.codebook)
    row = study.conn.execute(
        "SELECT source_path FROM codebook_versions ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is not None and row["source_path"]:
        loaded = Path(row["source_path"])
        candidates.append(loaded if loaded.is_absolute() else study.root / loaded)
        candidates.append(loaded)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise QualipipeError(
        "Aucun fichier de codebook connu pour cette étude : indiquez-le avec "
        "--codebook codebooks/ptce.yaml."
    )
