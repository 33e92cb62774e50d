"""Section 1 of the livrable, « Contexte et démarche »: what the study holds about how the
diagnostic was run (dates, interviews by role, participants by actor type, workshops and their
attendance, response rates), as tables."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

from qualipipe.ingest.workshop import POSTIT_FORMAT, WORKSHOP_INSTRUMENT
from qualipipe.records import Role, SourceKind
from qualipipe.synthesize.instruments import EVALUATION, PRIORITISATION
from qualipipe.synthesize.model import Cell, Table, TerritoryData

SECTION_CONTEXT = "Contexte et démarche"
INSTRUMENT_NAMES = {
    WORKSHOP_INSTRUMENT: "Atelier 1 — vision commune (questionnaire)",
    PRIORITISATION: "Atelier 2 — priorisation des enjeux",
    EVALUATION: "Évaluation du diagnostic",
}


def interview_dates(data: TerritoryData) -> tuple[str, str]:
    dates = sorted(p.interview_date for p in data.participants if p.interview_date)
    return (dates[0], dates[-1]) if dates else ("", "")


def french_date(iso: str) -> str:
    parts = iso.split("-")
    return f"{parts[2]}/{parts[1]}/{parts[0]}" if len(parts) == 3 else iso


def interviews_table(conn: sqlite3.Connection, data: TerritoryData) -> Table:
    people = {p.id: p for p in data.participants}
    by_role: Counter[str] = Counter()
    for r in conn.execute(
        "SELECT participant_id FROM sources WHERE kind = ? AND territory_id = ?",
        (SourceKind.TRANSCRIPT.value, data.territory.id),
    ):
        p = people.get(r["participant_id"])
        by_role[p.role.value if p else "non rattaché"] += 1
    planned = Counter(p.role.value for p in data.participants)
    rows = [
        (label, planned.get(role.value, 0), by_role.get(role.value, 0))
        for role, label in (
            (Role.FOUNDER, "Fondateur·rices du PTCE"),
            (Role.ACTOR, "Acteur·rices du territoire"),
        )
    ]
    return Table(
        key="Entretiens",
        title="Entretiens par rôle",
        columns=("Rôle", "Personnes au manifeste", "Entretiens analysés"),
        rows=tuple(rows),
        section=SECTION_CONTEXT,
    )


def actor_types_table(data: TerritoryData) -> Table:
    types = sorted({p.actor_type for p in data.participants}, key=str.casefold)
    rows = tuple(
        (
            t,
            sum(p.actor_type == t and p.role == Role.FOUNDER for p in data.participants),
            sum(p.actor_type == t and p.role == Role.ACTOR for p in data.participants),
        )
        for t in types
    )
    return Table(
        key="Types d'acteurs",
        title="Personnes rencontrées par type d'acteur",
        columns=("Type d'acteur", "Fondateur·rices", "Acteur·rices"),
        rows=rows,
        section=SECTION_CONTEXT,
    )


def workshops_table(conn: sqlite3.Connection, data: TerritoryData) -> Table:
    territory = data.territory.id
    postits = conn.execute(
        """SELECT count(*), count(DISTINCT s.speaker) FROM segments s JOIN sources src ON src.id = s.source_id
           WHERE s.retired = 0 AND src.kind = ? AND src.format = ? AND src.territory_id = ?""",
        (SourceKind.WORKSHOP.value, POSTIT_FORMAT, territory),
    ).fetchone()
    answers = _responses(conn, territory)
    rows: list[tuple[Cell, ...]] = []
    if postits[0]:
        rows.append(
            ("Atelier 1 — vision commune (post-its)", f"{postits[1]} groupe(s)", postits[0])
        )
    for instrument in (WORKSHOP_INSTRUMENT, PRIORITISATION):
        n = answers.get(instrument, (0, 0))[0]
        if n:
            groups = (
                _groups(conn, territory, instrument) if instrument == WORKSHOP_INSTRUMENT else ""
            )
            rows.append((INSTRUMENT_NAMES[instrument], groups or f"{n} participant·es", n))
    return Table(
        key="Ateliers",
        title="Ateliers et participation",
        columns=("Atelier", "Participation", "Contributions (post-its ou réponses)"),
        rows=tuple(rows),
        section=SECTION_CONTEXT,
    )


def _responses(conn: sqlite3.Connection, territory: str) -> dict[str, tuple[int, int]]:
    """instrument -> (submitted responses, of which linked to a person of the manifest)."""
    found = {}
    for r in conn.execute(
        """SELECT instrument, count(*) AS n, count(participant_id) AS linked FROM survey_responses
           WHERE submitted = 1 AND territory_id = ? GROUP BY instrument""",
        (territory,),
    ):
        found[r["instrument"]] = (int(r["n"]), int(r["linked"]))
    return found


def _groups(conn: sqlite3.Connection, territory: str, instrument: str) -> str:
    tables = {
        json.loads(r["data"]).get("A03", "")
        for r in conn.execute(
            "SELECT data FROM survey_responses WHERE submitted = 1 AND territory_id = ? AND instrument = ?",
            (territory, instrument),
        )
    }
    tables.discard("")
    return f"{len(tables)} table(s)" if tables else ""


def response_rates_table(conn: sqlite3.Connection, data: TerritoryData) -> Table:
    people = len(data.participants)
    rows = []
    for instrument, (n, linked) in sorted(_responses(conn, data.territory.id).items()):
        rows.append(
            (
                INSTRUMENT_NAMES.get(instrument, instrument),
                n,
                linked,
                n - linked,
                round(linked / people, 4) if people else None,
            )
        )
    return Table(
        key="Taux de réponse",
        title="Réponses aux questionnaires",
        columns=(
            "Questionnaire",
            "Réponses complètes",
            "dont personnes interrogées",
            "dont autres participant·es",
            "Taux (personnes interrogées)",
        ),
        rows=tuple(rows),
        note=f"Taux : réponses rattachées à une personne interrogée, sur les {people} personnes du manifeste.",
        percent_columns=frozenset({4}),
        section=SECTION_CONTEXT,
    )
