"""`write_bilan`: the pilots side by side for the CRESS — typology, volumes, main issues,
préconisations and evaluation scores: the method's own evaluation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from qualipipe.records import Role
from qualipipe.report import context as ctx
from qualipipe.report.issues import priority_issues
from qualipipe.report.preconisations import current_preconisations
from qualipipe.report.word import LivrableDocument
from qualipipe.store import Study
from qualipipe.synthesize import survey_tables as st
from qualipipe.synthesize import workshop as ws
from qualipipe.synthesize.instruments import EVALUATION, find_instrument
from qualipipe.synthesize.load import StudySnapshot
from qualipipe.synthesize.model import Cell, Table, TerritoryData

BILAN_FILE = "bilan_diagnostics.docx"
TOP_ISSUES = 3


@dataclass(frozen=True)
class Pilot:
    """One territory's line in the bilan: how far its diagnostic got, and its top issues."""

    data: TerritoryData
    notes: int
    workshop2: int
    issues: tuple[str, ...]
    preconisations: int
    evaluation: dict[str, tuple[str, float]]  # question code -> (wording, mean)
    evaluation_answers: int = 0


def pilot(study: Study, snapshot: StudySnapshot, territory: str) -> Pilot:
    t = study.config.territory(territory)
    data = snapshot.territory(t)
    issues, answers = priority_issues(study, data)
    sheets = [s for s in data.answers if s.instrument == EVALUATION]
    dists = st.evaluation_distributions(find_instrument(study.root, EVALUATION), sheets)
    return Pilot(
        data,
        len(ws.load_notes(study.conn, t.id)),
        answers,
        tuple(i.label for i in issues[:TOP_ISSUES]),
        len(current_preconisations(study.conn, t.id)),
        {d.question: (d.title, d.mean) for d in dists if d.mean is not None},
        len(sheets),
    )


def side_by_side(pilots: list[Pilot]) -> Table:
    def row(label: str, values: list[Cell]) -> tuple[Cell, ...]:
        return (label, *values)

    rows = [
        row("PTCE", [p.data.territory.ptce_name for p in pilots]),
        row("Type", [p.data.territory.ptce_type for p in pilots]),
        row("Stade", [p.data.territory.stage for p in pilots]),
        row("Milieu", [p.data.territory.setting for p in pilots]),
        row("Entretiens analysés", [p.data.interviews for p in pilots]),
        row("dont fondateur·rices", [len(p.data.analysed(Role.FOUNDER)) for p in pilots]),
        row("dont acteur·rices", [len(p.data.analysed(Role.ACTOR)) for p in pilots]),
        row("Notes de l'atelier 1", [p.notes for p in pilots]),
        row("Réponses à l'atelier 2", [p.workshop2 for p in pilots]),
        row("Enjeux prioritaires", ["\n".join(p.issues) or "—" for p in pilots]),
        row("Préconisations importées", [p.preconisations for p in pilots]),
        row("Réponses à l'évaluation", [p.evaluation_answers for p in pilots]),
    ]
    return Table(
        "Pilotes",
        "Les diagnostics côte à côte",
        ("", *(p.data.territory.name for p in pilots)),
        tuple(rows),
        note="Enjeux prioritaires : les trois premiers (atelier 2, puis enjeux partagés des entretiens).",
    )


def evaluation_table(pilots: list[Pilot]) -> Table:
    questions: dict[str, str] = {}
    for p in pilots:
        for code, (title, _) in p.evaluation.items():
            questions.setdefault(code, title)
    rows = tuple(
        (code, title, *(p.evaluation[code][1] if code in p.evaluation else None for p in pilots))
        for code, title in sorted(questions.items())
    )
    return Table(
        "Évaluation",
        "Évaluation du diagnostic par les participant·es : notes moyennes",
        ("Question", "Intitulé", *(p.data.territory.name for p in pilots)),
        rows,
        note="Moyennes des questions à échelle du questionnaire d'évaluation (« — » : pas de réponse).",
    )


def write_bilan(
    study: Study,
    out_dir: Path,
    *,
    today: str | None = None,
    snapshot: StudySnapshot | None = None,
) -> Path:
    """Write the bilan; `snapshot` is the study as the livrables just read it, if they did."""
    day = today or date.today().strftime("%d/%m/%Y")
    # The study is read once, then each pilot is cut out of it (not one full read per territory).
    snapshot = snapshot or StudySnapshot.read(study, validated_only=False)
    pilots = [pilot(study, snapshot, t.id) for t in study.config.territories]
    doc = LivrableDocument(f"Bilan des diagnostics — {study.config.name}")
    doc.cover(
        "Bilan des diagnostics territoriaux partagés",
        study.config.name,
        [f"{len(pilots)} territoire(s) pilote(s)", f"Document du {day}"],
    )
    doc.table_of_contents()
    doc.heading("Les pilotes côte à côte")
    doc.paragraph(
        "Ce bilan met les diagnostics en regard pour évaluer la méthode elle-même : ce que chaque "
        "territoire a mobilisé, ce qui en est ressorti, et comment les participant·es l'ont jugé."
    )
    doc.table(side_by_side(pilots))
    doc.heading("L'évaluation du diagnostic")
    evaluation = evaluation_table(pilots)
    if evaluation.rows:
        doc.table(evaluation)
    else:
        doc.missing(
            "Aucune réponse au questionnaire d'évaluation.",
            "qualipipe ingest EXPORT.csv -i evaluation_diagnostic -t TERRITOIRE",
        )
    doc.heading("Sources")
    for p in pilots:
        first, last = ctx.interview_dates(p.data)
        period = (
            f" ; entretiens du {ctx.french_date(first)} au {ctx.french_date(last)}" if first else ""
        )
        doc.bullet(f"{p.data.territory.name} : {p.data.interviews} entretien(s){period}.")
    path = out_dir / BILAN_FILE
    partial = path.with_name(f".{BILAN_FILE}.en-cours")
    doc.save(partial)
    partial.replace(path)
    return path
