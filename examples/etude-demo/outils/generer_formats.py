"""Génère les transcriptions .docx et .srt de l'étude de démonstration.

Outil de fabrication des exemples (pas une étape de qualipipe). Il part d'un texte brut à tours
de parole « Prénom Nom : … » et produit :

- un .docx comme en sortent les traitements de texte : titre, puis un paragraphe par tour,
  nom du locuteur en gras ;
- un .srt comme en exporte un outil de transcription automatique : une réplique par phrase,
  horodatée, le nom du locuteur en tête de chaque réplique (export avec locuteurs).

Usage :
    python outils/generer_formats.py docx SOURCE.txt entretiens/CIBLE.docx
    python outils/generer_formats.py srt SOURCE.txt entretiens/CIBLE.srt
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from docx import Document

TURN = re.compile(r"^(?P<speaker>[^:\n]{2,40}?) : (?P<text>.+)$")
# Split after . ? ! when followed by a space and an upper-case letter or «.
SENTENCE_END = re.compile(r"(?<=[.?!])\s+(?=[A-ZÀ-Ý«(])")
WORDS_PER_SECOND = 2.6


def read_source(path: Path) -> tuple[str, list[tuple[str, str]]]:
    """Return (title line, [(speaker, text)]) from a turn-per-paragraph text file."""
    paragraphs = [p.strip() for p in path.read_text(encoding="utf-8").split("\n\n") if p.strip()]
    title = ""
    turns: list[tuple[str, str]] = []
    for paragraph in paragraphs:
        match = TURN.match(paragraph)
        if match:
            turns.append((match["speaker"].strip(), match["text"].strip()))
        elif not turns:
            title = paragraph
        else:
            raise SystemExit(f"{path} : paragraphe sans locuteur : {paragraph[:60]!r}")
    return title, turns


def write_docx(title: str, turns: list[tuple[str, str]], target: Path) -> None:
    document = Document()
    if title:
        document.add_heading(title, level=1)
    for speaker, text in turns:
        paragraph = document.add_paragraph()
        paragraph.add_run(f"{speaker} :").bold = True
        paragraph.add_run(f" {text}")
    document.save(str(target))


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def write_srt(turns: list[tuple[str, str]], target: Path) -> None:
    cues: list[str] = []
    clock = 1.2
    for speaker, text in turns:
        for sentence in SENTENCE_END.split(text):
            duration = max(1.5, len(sentence.split()) / WORDS_PER_SECOND)
            # Diarized exports repeat the speaker on every cue.
            label = f"{speaker} : "
            cues.append(
                f"{len(cues) + 1}\n{_timestamp(clock)} --> {_timestamp(clock + duration)}\n"
                f"{label}{sentence}\n"
            )
            clock += duration + 0.3
        clock += 0.8  # pause between speakers
    target.write_text("\n".join(cues), encoding="utf-8")


def main(argv: list[str]) -> None:
    if len(argv) != 3 or argv[0] not in {"docx", "srt"}:
        raise SystemExit(__doc__)
    kind, source, target = argv[0], Path(argv[1]), Path(argv[2])
    title, turns = read_source(source)
    if kind == "docx":
        write_docx(title, turns, target)
    else:
        write_srt(turns, target)
    print(f"{target} : {len(turns)} tours de parole")


if __name__ == "__main__":
    main(sys.argv[1:])
