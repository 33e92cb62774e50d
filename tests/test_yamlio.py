"""The one YAML reader: duplicate keys refused in every kind of file qualipipe reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from qualipipe import resources, yamlio
from qualipipe.codebook.model import check_codebook
from qualipipe.errors import InputError


def test_codebook_with_a_duplicate_key_inside_a_code_is_refused_with_its_line(
    tmp_path: Path,
) -> None:
    text = resources.shipped_codebook().read_text(encoding="utf-8")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("libelle: Répondre"))
    indent = lines[at][: len(lines[at]) - len(lines[at].lstrip())]
    lines.insert(at + 1, f"{indent}libelle: Doublon")
    path = tmp_path / "grille.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    _, problems = check_codebook(path)
    assert [(p.line, "« libelle » apparaît deux fois" in p.message) for p in problems] == [
        (at + 2, True)
    ]


def test_load_keeps_lines_of_keys_and_items() -> None:
    data = yamlio.load("a: 1\nb:\n  - x\n  - y\n", "f.yaml")
    assert yamlio.line_of(data, "b") == 2
    assert yamlio.item_lines(data["b"]) == [3, 4]


def test_syntax_error_is_located_with_line_and_column() -> None:
    with pytest.raises(InputError) as caught:
        yamlio.compose("a: 1\nb: [x\n", "f.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("f.yaml", 3)
    assert problem.column is not None and "n'est pas un YAML valide" in problem.message
