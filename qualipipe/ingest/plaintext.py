"""Plain-text layouts: speaker labels (`Nom : ...`, `[Nom] ...`, `Q : / R :`), markdown
headings, and paragraphs for written sources (which have no speakers at all)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from qualipipe.ingest.turns import (
    INTERVIEWEE,
    INTERVIEWEE_LABELS,
    INTERVIEWER_LABELS,
    Turn,
    is_interviewer_label,
)
from qualipipe.nlp import common_french_words
from qualipipe.text import fold_key

# A leading timestamp ("[00:01:23] Marie : ...", "00:01:23 Marie : ...") is allowed before a label.
_STAMP = r"(?:[\[(]?\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?[\])]?[ \t]+)?"
_COLON_LABEL = re.compile(
    r"^[ \t]*"
    + _STAMP
    + r"(?:[-–—][ \t]*)?(?:\*\*)?(?P<label>[^\W\d_][\w'’.·\- ]{0,40}?)(?:\*\*)?[ \t]*"
    r"(?:\([^)\n]{0,20}\))?[ \t]*(?:\*\*)?[ \t]*:(?:\*\*)?[ \t]*"
)
_BRACKET_LABEL = re.compile(
    r"^[ \t]*" + _STAMP + r"\[(?P<label>[^\]\n\d][^\]\n]{0,40})\][ \t]*:?[ \t]*"
)
_NAME_LIKE = re.compile(
    r"^[A-ZÀ-Ý][\w'’.\-]*(?:\s+(?:(?:de|du|des|le|la|d'|van|von)\s+)?[A-ZÀ-Ý][\w'’.\-]*){0,3}$"
)
_HEADING = re.compile(r"^[ \t]*#{1,6}[ \t]+(?P<title>.+?)[ \t#]*$")


@dataclass(frozen=True)
class _Line:
    index: int
    start: int  # offset of the line in the text
    end: int
    label: str = ""
    content_start: int = 0


def label_candidates(text: str) -> list[_Line]:
    lines: list[_Line] = []
    offset = 0
    for index, line in enumerate(text.split("\n")):
        end = offset + len(line)
        match = _BRACKET_LABEL.match(line) or _COLON_LABEL.match(line)
        label = ""
        content_start = offset
        if match and len(match.group("label").split()) <= 4:
            label = match.group("label").strip(" *")
            content_start = offset + match.end()
        lines.append(_Line(index, offset, end, label, content_start))
        offset = end + 1
    return lines


def accepted_labels(lines: list[_Line], known: Callable[[str], bool]) -> set[str]:
    """Labels that behave like speakers.

    A label is a candidate when it is used on at least two lines, or is a known role label
    (Enquêteur, Q, R…): a single `Il m'a dit :` is prose. The candidates are speakers only if
    they take turns (A, B, A…) or one of them is a known role label: a recurring « Objet : »,
    « Impôts : » or « [Signature] » in a letter is not a dialogue."""
    labelled = [line.label for line in lines if line.label]
    counts = Counter(labelled)
    candidates = {label for label, count in counts.items() if count >= 2 or known(label)}
    sequence = [label for label in labelled if label in candidates]
    changes = sum(1 for a, b in zip(sequence, sequence[1:], strict=False) if a != b)
    if not any(known(label) for label in candidates) and (len(set(sequence)) < 2 or changes < 2):
        return set()
    # In a transcript that has speaker labels, a capitalised name used once is one too (but
    # not a single common word: « Mais : », « Objet : »).
    common = common_french_words()
    return candidates | {
        label
        for label in counts
        if _NAME_LIKE.match(label) and (len(label.split()) > 1 or fold_key(label) not in common)
    }


def known_label(label: str) -> bool:
    folded = fold_key(label).strip(" .")
    return (
        folded in INTERVIEWER_LABELS or folded in INTERVIEWEE_LABELS or is_interviewer_label(label)
    )


def parse_turns(
    text: str,
    *,
    headings: frozenset[int] = frozenset(),
    bold_labels: dict[int, tuple[str, int]] | None = None,
    markdown: bool = False,
) -> list[Turn]:
    """Turns of a plain text; `bold_labels` maps a line index to (speaker, content offset)."""
    bold_labels = bold_labels or {}
    lines = label_candidates(text)
    accepted = accepted_labels(lines, known_label)
    turns: list[Turn] = []
    speaker, section = "", ""
    start: int | None = None
    end = 0
    paragraph_mode = not accepted and not bold_labels

    def close() -> None:
        nonlocal start
        if start is not None and end > start:
            role = INTERVIEWEE if fold_key(speaker).strip(" .") in INTERVIEWEE_LABELS else ""
            turns.append(Turn(start, end, speaker, section, role))
        start = None

    for line in lines:
        raw = text[line.start : line.end]
        heading = _HEADING.match(raw) if markdown else None
        if line.index in headings or heading:
            close()
            section = heading.group("title").strip() if heading else raw.strip()
            continue
        if not raw.strip():
            if paragraph_mode:
                close()
            continue
        if line.index in bold_labels:
            close()
            speaker, content_start = bold_labels[line.index]
            content_start += line.start
        elif line.label in accepted:
            close()
            speaker, content_start = line.label, line.content_start
        else:
            content_start = line.start + (len(raw) - len(raw.lstrip()))
        stripped_end = line.start + len(raw.rstrip())
        if stripped_end <= content_start:
            continue
        if start is None:
            start = content_start
        end = stripped_end
    close()
    return turns


# ---------------------------------------------------------------------------------------------
# Paragraphs: what a written source is made of (speaker labels ignored)
# ---------------------------------------------------------------------------------------------

_BULLET = re.compile(r"^[ \t]*(?:[-–—−•*·▪◦►]|\d{1,2}[.)°])[ \t]+")


def paragraph_spans(
    text: str, *, headings: frozenset[int] = frozenset(), markdown: bool = False, per_line: bool
) -> list[Turn]:
    """Paragraphs of a text: blocks between blank lines (plain text), or every line (word
    processors store one paragraph a line). Headings start a section and are not text."""
    paragraphs: list[Turn] = []
    section = ""
    start: int | None = None
    end = 0
    offset = 0
    for index, raw in enumerate(text.split("\n")):
        line_start, offset = offset, offset + len(raw) + 1
        heading = _HEADING.match(raw) if markdown else None
        if index in headings or heading or not raw.strip():
            if start is not None:
                paragraphs.append(Turn(start, end, "", section))
                start = None
            if index in headings or heading:
                section = heading.group("title").strip() if heading else raw.strip()
            continue
        if start is not None and per_line:
            paragraphs.append(Turn(start, end, "", section))
            start = None
        if start is None:
            start = line_start + len(raw) - len(raw.lstrip())
        end = line_start + len(raw.rstrip())
    if start is not None:
        paragraphs.append(Turn(start, end, "", section))
    return paragraphs


def join_short_paragraphs(
    text: str, paragraphs: list[Turn], *, min_chars: int, max_chars: int
) -> list[Turn]:
    """Written units: a bullet joins its list, a short line (« [Signature] », « − oui ») or a
    line announcing a list (« Mes propositions : ») joins its neighbour, within a section."""
    units: list[Turn] = []
    for paragraph in paragraphs:
        if units and units[-1].section == paragraph.section:
            previous = units[-1]
            before = previous.within(text)
            current = paragraph.within(text)
            tiny = len(before) < min_chars or len(current) < min_chars
            listed = before.endswith(":") or _BULLET.match(current) is not None
            if tiny or (listed and paragraph.end - previous.start <= max_chars):
                units[-1] = Turn(previous.start, paragraph.end, "", previous.section)
                continue
        units.append(paragraph)
    return units
