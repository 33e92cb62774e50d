"""Workshop 1 in the livrable: the AFOM matrix, the vision statements, and what the interviews
and the workshop raised differently.

A *note* is one workshop segment (a post-it, or one sentence of an answer typed on a phone).
Counts are of notes; a note carries a code when an analyst validated it, or (unless validated
only) when the machine suggested it and nobody decided.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from qualipipe.ingest.workshop import (
    CATEGORIES,
    POSTIT_FORMAT,
    QUADRANTS,
    VISION,
    postit_category,
)
from qualipipe.records import SourceKind
from qualipipe.synthesize.model import Cell, Table, TerritoryData
from qualipipe.synthesize.verbatims import shorten

SECTION_VISION = "Vision partagée (atelier 1)"
TOP_THEMES = 5
EXAMPLE_LENGTH = 70  # characters: a typical post-it
NOTES_SQL = """
SELECT s.id, s.text, s.section, s.speaker, src.format, src.metadata
FROM segments s JOIN sources src ON src.id = s.source_id
WHERE s.retired = 0 AND src.kind = ? AND src.territory_id = ?
ORDER BY s.source_id, s.ordinal
"""


@dataclass(frozen=True)
class WorkshopNote:
    segment_id: int
    category: str  # one of CATEGORIES, "" when unknown
    group: str
    text: str


def load_notes(conn: sqlite3.Connection, territory_id: str) -> list[WorkshopNote]:
    notes = []
    for r in conn.execute(NOTES_SQL, (SourceKind.WORKSHOP.value, territory_id)):
        if r["format"] == POSTIT_FORMAT:
            category = postit_category(r["section"])
        else:
            category = str(json.loads(r["metadata"] or "{}").get("afom", ""))
        notes.append(
            WorkshopNote(
                int(r["id"]), category if category in CATEGORIES else "", r["speaker"], r["text"]
            )
        )
    return notes


def note_codes(data: TerritoryData, notes: Sequence[WorkshopNote]) -> dict[int, set[str]]:
    """segment id -> codes it carries (validated, or suggested-only when the data has them)."""
    ids = {n.segment_id for n in notes}
    codes: dict[int, set[str]] = defaultdict(set)
    for c in data.codings:
        if c.segment_id in ids:
            codes[c.segment_id].add(c.code_id)
    return codes


@dataclass(frozen=True)
class Quadrant:
    category: str
    notes: int
    themes: tuple[tuple[str, str, int], ...]  # (code id, label, notes), most frequent first
    examples: tuple[str, ...]  # short pseudonymised verbatims


def afom_quadrants(
    data: TerritoryData,
    notes: Sequence[WorkshopNote],
    pseudonymize: Callable[[str], str],
    *,
    examples: int = 2,
) -> list[Quadrant]:
    codes = note_codes(data, notes)
    labels = {c.id: c.label for c in data.codebook.codes}
    quadrants = []
    for category in QUADRANTS:
        mine = [n for n in notes if n.category == category]
        counts = Counter(code for n in mine for code in codes.get(n.segment_id, ()))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_THEMES]
        # Examples: notes carrying the most frequent themes, post-it sized first (a one-word
        # note says little, a paragraph is not an example).
        top = {code for code, _ in ranked[:2]}
        carrying = [n for n in mine if codes.get(n.segment_id, set()) & top] or mine
        chosen = sorted(carrying, key=lambda n: (abs(len(n.text) - EXAMPLE_LENGTH), n.segment_id))
        chosen = chosen[:examples]
        quadrants.append(
            Quadrant(
                category,
                len(mine),
                tuple((code, labels.get(code, code), n) for code, n in ranked),
                tuple(f"« {shorten(pseudonymize(n.text), 140)} »" for n in chosen),
            )
        )
    return quadrants


def afom_table(quadrants: Sequence[Quadrant], territory: str) -> Table:
    rows = tuple(
        (
            q.category.capitalize(),
            q.notes,
            "\n".join(f"{label} ({n})" for _, label, n in q.themes),
            "\n".join(q.examples),
        )
        for q in quadrants
    )
    return Table(
        key="Matrice AFOM",
        title=f"Matrice AFOM de l'atelier 1 — {territory}",
        columns=("Catégorie", "Notes", "Thèmes principaux (notes)", "Exemples"),
        rows=rows,
        note=(
            "Notes : post-its ou réponses de l'atelier 1, une idée par note. Thèmes : codes de la "
            "grille commune portés par ces notes (validés, ou suggérés et non revus)."
        ),
        section=SECTION_VISION,
    )


def vision_table(notes: Sequence[WorkshopNote], pseudonymize: Callable[[str], str]) -> Table:
    statements = [n for n in notes if n.category == VISION]
    if not any(n.group for n in statements):  # answers typed on phones: no group
        rows: tuple[tuple[Cell, ...], ...] = tuple((pseudonymize(n.text),) for n in statements)
        columns: tuple[str, ...] = ("Énoncé",)
    else:
        rows = tuple((n.group or "—", pseudonymize(n.text)) for n in statements)
        columns = ("Groupe", "Énoncé")
    return Table(
        key="Vision à 10 ans",
        title="« Le territoire dans 10 ans » : les énoncés de l'atelier 1",
        columns=columns,
        rows=rows,
        section=SECTION_VISION,
    )


IN_BOTH, INTERVIEWS_ONLY, WORKSHOP_ONLY = "les deux", "entretiens seulement", "atelier seulement"


def interviews_vs_workshop(
    data: TerritoryData, notes: Sequence[WorkshopNote], families: Sequence[str] = ("ENJ", "BES")
) -> Table:
    """Per issue / need: participants who raise it in interviews, notes that raise it in the
    workshop, and where it appears."""
    codes = note_codes(data, notes)
    workshop = Counter(code for ids in codes.values() for code in ids)
    interviewees: dict[str, set[str]] = defaultdict(set)
    for c in data.codings:
        segment = data.segments[c.segment_id]
        if segment.kind == SourceKind.TRANSCRIPT.value and c.participant_id:
            interviewees[c.code_id].add(c.participant_id)
    rows: list[tuple[Cell, ...]] = []
    for code in data.codebook.codable():
        if code.family not in families:
            continue
        n_interviews, n_workshop = len(interviewees.get(code.id, ())), workshop.get(code.id, 0)
        if not n_interviews and not n_workshop:
            continue
        where = (
            IN_BOTH
            if n_interviews and n_workshop
            else (INTERVIEWS_ONLY if n_interviews else WORKSHOP_ONLY)
        )
        rows.append((code.id, code.label, n_interviews, n_workshop, where))
    order = {IN_BOTH: 2, INTERVIEWS_ONLY: 0, WORKSHOP_ONLY: 1}
    rows.sort(key=lambda r: (order[str(r[4])], -int(r[2] or 0) - int(r[3] or 0), str(r[0])))
    return Table(
        key="Entretiens et atelier 1",
        title="Entretiens et atelier 1 : enjeux et besoins soulevés d'un côté seulement",
        columns=("Code", "Libellé", "Personnes (entretiens)", "Notes (atelier 1)", "Présent dans"),
        rows=tuple(rows),
        id_columns=frozenset({0}),
        note=(
            "En tête : ce que les entretiens ont soulevé et pas l'atelier, puis l'inverse, puis "
            "ce que les deux ont en commun."
        ),
        section=SECTION_VISION,
    )
