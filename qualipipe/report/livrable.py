"""`write_livrable`: the editable draft of a territory's livrable (livrable.docx).

The tables and figures are the synthesis stage's (`TerritorySynthesis`), plus workshop 1,
the prioritised issues and the préconisations; this module only chooses and orders them into the
report's sections. A section without material says what is missing and which command adds it.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date
from functools import cached_property
from pathlib import Path

from qualipipe.errors import QualipipeError
from qualipipe.records import Territory
from qualipipe.report import context as ctx
from qualipipe.report.issues import PriorityIssue, priority_issues, priority_table
from qualipipe.report.preconisations import Preconisation, current_preconisations
from qualipipe.report.word import LivrableDocument
from qualipipe.review.agreement import agreement
from qualipipe.store import Study
from qualipipe.synthesize import survey_tables as st
from qualipipe.synthesize import tables as tb
from qualipipe.synthesize import workshop as ws
from qualipipe.synthesize.instruments import EVALUATION, find_instrument
from qualipipe.synthesize.load import make_pseudonymizer
from qualipipe.synthesize.model import Figure, SynthesisOptions, Table, TerritoryData
from qualipipe.synthesize.pipeline import StudyContext, TerritorySynthesis, resolved
from qualipipe.synthesize.wording import ptce_named
from qualipipe.territory.portrait import SECTION as SECTION_PORTRAIT

LIVRABLE_FILE = "livrable.docx"
SECTIONS = (
    "1. Contexte et démarche",
    "2. Portrait du territoire",
    "3. Motivations et besoins des fondateurs",
    "4. Regards des acteurs, cartographie et acteurs à associer",
    "5. Vision partagée (atelier 1)",
    "6. Enjeux prioritaires (atelier 2)",
    "7. Préconisations",
    "8. Évaluation du diagnostic",
    "Annexe A — Méthode",
    "Annexe B — Grille de codage",
    "Annexe C — Personnes rencontrées (liste pseudonymisée)",
    "Annexe D — Accord entre codeurs",
)
CODE_COLUMNS = (
    "Libellé",
    "Fondateurs",
    "% fondateurs",
    "Acteurs",
    "% acteurs",
    "Contributeurs",
    "% contributeurs",
    "Verbatims représentatifs",
)


def ptce_kinds(t: Territory) -> str:
    """« PTCE filière, émergent, en milieu rural »; what is not filled in is left out."""
    kinds = [k for k in (t.ptce_type, t.stage) if k] + (
        [f"en milieu {t.setting}"] if t.setting else []
    )
    return "PTCE " + ", ".join(kinds) if kinds else ""


@dataclass
class LivrableReport:
    path: Path
    sections_missing: list[str]
    preconisations: int
    tables: int
    figures: int


class LivrableBuilder:
    def __init__(self, context: StudyContext, territory: Territory, figures: Path) -> None:
        study = context.study
        self.study, self.territory = study, territory
        self.options, self.pseudonymize = context.options, context.pseudonymize
        self.data: TerritoryData = context.snapshot.territory(territory)
        (figures / "figures").mkdir(parents=True, exist_ok=True)
        self.synthesis = TerritorySynthesis(context, self.data, figures)
        self.synthesis.territory_portrait_section()  # issue 18: INSEE portrait, when loaded
        self.synthesis.codes_section()
        self.shared = self.synthesis.shared_section()
        self.synthesis.cross_section()
        self.synthesis.actors_section(self.shared)
        self.synthesis.cited_actors_section()
        self.synthesis.priorities_section()
        blocks = resolved(self.synthesis.blocks)
        self.tables = {b.key: b for b in blocks if isinstance(b, Table)}
        self.figures = {b.path.name: b for b in blocks if isinstance(b, Figure)}
        self.portrait_blocks = [b for b in blocks if b.section == SECTION_PORTRAIT]
        self.notes = ws.load_notes(study.conn, territory.id)
        self.issues, self.workshop2_answers = priority_issues(study, self.data)
        self.preconisations = current_preconisations(study.conn, territory.id)
        self.doc = LivrableDocument(f"Diagnostic territorial partagé — {territory.name}")
        self.missing: list[str] = []
        self.current = ""  # the section being written

    def section(self, number: int) -> None:
        """Start `SECTIONS[number]`: what is lacking from now on is lacking from it."""
        self.current = SECTIONS[number]
        self.doc.heading(self.current)

    def lacking(self, what: str, command: str, *, section: str = "") -> None:
        self.missing.append(section or self.current)
        self.doc.missing(what, command)

    def figure(self, name: str) -> None:
        found = self.figures.get(name)
        if found is not None:
            self.doc.figure(found.path, found.title)

    # -- sections -----------------------------------------------------------------------------

    def cover(self) -> None:
        t = self.territory
        self.doc.cover(
            "Diagnostic territorial partagé",
            f"{t.name} — {t.ptce_name}" if t.ptce_name else t.name,
            [
                *([kinds] if (kinds := ptce_kinds(t)) else []),
                self.data.study_name,
                f"Projet de livrable du {self.options.date} — document de travail à relire et compléter",
                "Les personnes citées le sont sous pseudonyme.",
            ],
        )
        self.doc.table_of_contents()

    def context(self) -> None:
        conn, data, t = self.study.conn, self.data, self.territory
        self.section(0)
        first, last = ctx.interview_dates(data)
        period = (
            f" Les entretiens ont eu lieu du {ctx.french_date(first)} au {ctx.french_date(last)}."
            if first
            else ""
        )
        kinds = ", ".join(k for k in (t.ptce_type, t.stage, t.setting) if k)
        details = f" ({kinds})" if kinds else ""
        self.doc.paragraph(
            f"Le diagnostic territorial partagé "
            f"{f'du {ptce_named(t.ptce_name)}' if t.ptce_name else f'du territoire {t.name}'}"
            f"{details} a réuni les fondateur·rices du pôle et des acteur·rices du territoire "
            f"{t.name} : entretiens individuels, un atelier pour partager une vision du territoire "
            f"(atelier 1), un atelier de priorisation des enjeux (atelier 2), puis une évaluation."
            + period
        )
        self.doc.table(ctx.interviews_table(conn, data))
        self.doc.table(ctx.actor_types_table(data))
        workshops = ctx.workshops_table(conn, data)
        if workshops.rows:
            self.doc.table(workshops)
        rates = ctx.response_rates_table(conn, data)
        if rates.rows:
            self.doc.table(rates)

    def portrait(self) -> None:
        self.section(1)
        if not self.portrait_blocks:
            self.lacking(
                "Portrait non disponible : aucune donnée INSEE n'est chargée dans l'étude.",
                "qualipipe territory load FICHIER.csv (base du comparateur de territoires de "
                "l'INSEE, départements du territoire).",
            )
            return
        for block in self.portrait_blocks:
            if isinstance(block, Table):
                self.doc.table(block)
            else:
                self.doc.figure(block.path, block.title)

    def no_interviews(self) -> bool:
        """Sections 3 and 4 rest on the interviews: without any, say so instead of zeros."""
        if self.data.interviews:
            return False
        self.lacking(
            "Aucun entretien analysé pour ce territoire.",
            "qualipipe ingest entretiens/ --manifest participants.csv, puis qualipipe code et la "
            "revue (qualipipe review export / import).",
        )
        return True

    def founders(self) -> None:
        self.section(2)
        if self.no_interviews():
            return
        self.doc.paragraph(
            "Pourquoi les fondateur·rices coopèrent, et ce dont le pôle a besoin pour avancer, "
            "d'après les entretiens (une personne compte une fois par code)."
        )
        for key in ("MOT", "BES"):
            if key in self.tables and self.tables[key].rows:
                self.doc.table(self.tables[key], columns=CODE_COLUMNS)

    def actors(self) -> None:
        self.section(3)
        if not self.no_interviews():
            if "ENJ" in self.tables:
                self.doc.table(self.tables["ENJ"], columns=CODE_COLUMNS)
            if "Acteurs par type" in self.tables:
                self.doc.table(self.tables["Acteurs par type"])
            self.figure("carte_acteurs.png")
        self.doc.heading("Acteurs à associer", 2)
        cited = self.tables.get("Acteurs cités")
        if cited is not None and cited.rows:
            shown = [
                c
                for c in (
                    "Organisation",
                    "Type d'acteur (supposé)",
                    "Participants",
                    "Enjeux",
                    "Suivi",
                )
                if c in cited.columns
            ]
            self.doc.paragraph(
                "Organisations citées dans les entretiens et les ateliers qui ne sont pas encore "
                "parmi les personnes rencontrées : des acteurs à associer à la suite du diagnostic."
            )
            self.doc.table(cited, columns=shown)
        else:
            self.lacking(
                "Aucune organisation citée dans les textes du territoire.",
                f"qualipipe territory actors-export -t {self.territory.id} (après l'import des "
                "entretiens)",
                section="Acteurs à associer",
            )

    def vision(self) -> None:
        self.section(4)
        if not self.notes:
            self.lacking(
                "Aucune note de l'atelier 1 pour ce territoire.",
                f"qualipipe report atelier-import POSTITS.xlsx -t {self.territory.id} (post-its "
                "saisis dans le modèle de « qualipipe report atelier-modele »), ou qualipipe ingest "
                f"REPONSES.csv -i atelier_vision -t {self.territory.id}, puis qualipipe code.",
            )
            return
        quadrants = ws.afom_quadrants(self.data, self.notes, self.pseudonymize)
        self.doc.paragraph(
            f"L'atelier 1 a produit {len(self.notes)} notes. La matrice range les thèmes qui "
            "reviennent le plus dans chaque catégorie, avec le nombre de notes qui les portent."
        )
        cell = {
            q.category: "\n".join(
                [f"{q.category.capitalize()} — {q.notes} note(s)"]
                + [f"{label} : {n}" for _, label, n in q.themes]
                + list(q.examples)
            )
            for q in quadrants
        }
        self.doc.grid(
            f"Matrice AFOM de l'atelier 1 — {self.territory.name}",
            [
                [cell[ws.QUADRANTS[0]], cell[ws.QUADRANTS[1]]],
                [cell[ws.QUADRANTS[2]], cell[ws.QUADRANTS[3]]],
            ],
        )
        vision = ws.vision_table(self.notes, self.pseudonymize)
        if vision.rows:
            self.doc.heading("Le territoire dans 10 ans", 2)
            self.doc.table(vision)
        self.doc.heading("Entretiens et atelier 1", 2)
        compared = ws.interviews_vs_workshop(self.data, self.notes)
        self.doc.table(compared, columns=compared.columns[1:])

    def priorities(self) -> None:
        self.section(5)
        if not self.workshop2_answers:
            self.lacking(
                "Pas de réponses au questionnaire de priorisation (atelier 2) : l'ordre ci-dessous "
                "ne repose que sur les entretiens.",
                f"qualipipe ingest EXPORT.csv -i priorisation_enjeux -t {self.territory.id}",
            )
        columns = [
            "Priorité", "Enjeu", "Rang atelier 2", "Score de Borda", "Importance (moy.)",
            "Faisabilité (moy.)", "Dissensus", "Rang enjeu partagé", "Personnes (entretiens)",
        ]  # fmt: skip
        if self.issues:
            self.doc.table(priority_table(self.issues, self.workshop2_answers), columns=columns)
        self.figure("priorites_matrice.png")

    def preconisations_section(self) -> None:
        self.section(6)
        if not self.preconisations:
            self.lacking(
                "Aucune préconisation importée pour ce territoire.",
                f"qualipipe report template -t {self.territory.id}, remplir le classeur, puis "
                f"qualipipe report import FICHIER.xlsx -t {self.territory.id}",
            )
            return
        summary = Table(
            "Préconisations",
            "Les préconisations et leur horizon",
            ("N°", "Préconisation", "Enjeux traités", "Horizon"),
            tuple(
                (p.number, p.text, ", ".join(self.label(c) for c in p.issues), p.horizon)
                for p in self.preconisations
            ),
        )
        self.doc.table(summary)
        for p in self.preconisations:
            self.one_preconisation(p)

    def label(self, code: str) -> str:
        found = self.data.codebook.by_id().get(code)
        return found.label if found else code

    def one_preconisation(self, p: Preconisation) -> None:
        self.doc.heading(f"Préconisation {p.number} — {self.label(p.issues[0])}", 2)
        self.doc.paragraph(self.pseudonymize(p.text))
        rank = {i.code: n for n, i in enumerate(self.issues, start=1)}
        by_code: dict[str, PriorityIssue] = {i.code: i for i in self.issues}
        notes = ws.note_codes(self.data, self.notes)
        rows = []
        for code in p.issues:
            issue = by_code.get(code)
            rows.append(
                (
                    self.label(code),
                    rank.get(code),
                    issue.workshop_rank if issue else None,
                    issue.shared_rank if issue else None,
                    len(self.synthesis.stats[code].participants)
                    if code in self.synthesis.stats
                    else 0,
                    sum(code in codes for codes in notes.values()),
                )
            )
        self.doc.table(
            Table(
                f"Preuves {p.number}",
                f"Préconisation {p.number} : les enjeux qu'elle traite",
                (
                    "Enjeu",
                    "Rang de priorité",
                    "Rang atelier 2",
                    "Rang enjeu partagé",
                    "Personnes (entretiens)",
                    "Notes (atelier 1)",
                ),  # fmt: skip
                tuple(rows),
            )
        )
        quotes = self.verbatims(p.issues)
        if quotes:
            self.doc.paragraph("Ce qu'en disent les personnes rencontrées :")
            for quote in quotes:
                self.doc.bullet(quote)
        # Actors come from the template's list (organisations already masked when named after
        # a person); free texts are pseudonymised like every verbatim.
        actors = [self.pseudonymize(a) if a.startswith("Autre") else a for a in p.actors]
        details = [
            ("Acteurs à associer", ", ".join(actors) or "à préciser"),
            ("Horizon", p.horizon),
            ("Moyens", self.pseudonymize(p.means) if p.means else "à préciser"),
            (
                "Indicateur de suivi",
                self.pseudonymize(p.indicator) if p.indicator else "à préciser",
            ),
        ]
        for title, value in details:
            paragraph = self.doc.paragraph("")
            paragraph.add_run(f"{title} : ").bold = True
            paragraph.add_run(value)

    def verbatims(self, codes: Sequence[str], k: int = 2) -> list[str]:
        quotes: list[str] = []
        for code in codes:
            stats = self.synthesis.stats.get(code)
            if stats is not None:
                quotes += tb.verbatims_for(
                    stats,
                    self.data,
                    self.synthesis.picker,
                    self.pseudonymize,
                    replace(self.options, verbatims_per_code=k),
                )
            if len(quotes) >= k:
                break
        return quotes[:k]

    def evaluation(self) -> None:
        self.section(7)
        sheets = [a for a in self.data.answers if a.instrument == EVALUATION]
        dists = st.evaluation_distributions(find_instrument(self.study.root, EVALUATION), sheets)
        if not dists:
            self.lacking(
                "Pas de réponses au questionnaire d'évaluation du diagnostic.",
                f"qualipipe ingest EXPORT.csv -i evaluation_diagnostic -t {self.territory.id}",
            )
            return
        table = st.distribution_table(
            "Évaluation", "Évaluation du diagnostic", dists, st.SECTION_EVALUATION
        )
        means = Table(
            table.key,
            "Évaluation du diagnostic : notes moyennes",
            ("Question", "Intitulé", "Base", "Moyenne"),
            tuple(dict.fromkeys((r[0], r[1], r[5], r[6]) for r in table.rows if r[6] is not None)),
        )
        self.doc.table(means if means.rows else table)
        self.doc.paragraph(
            "Les réponses libres au questionnaire d'évaluation, codées, sont dans la synthèse du "
            "territoire (qualipipe synthesize)."
        )

    def annexes(self) -> None:
        self.section(8)
        for line in METHOD:
            self.doc.paragraph(line)
        self.section(9)
        codebook = self.data.codebook
        families = {c.id: c.label for c in codebook.codes if not c.codable}
        self.doc.table(
            Table(
                "Grille",
                f"Grille de codage « {codebook.name} » (version {codebook.version})",
                ("Famille", "Code", "Libellé", "Définition"),
                tuple(
                    (families.get(c.family, c.family), c.id, c.label, c.definition)
                    for c in codebook.codable()
                ),
            )
        )
        self.section(10)
        if "Participants" in self.tables:
            people = self.tables["Participants"]
            self.doc.table(people, columns=[c for c in people.columns if c != "Lesquels"])
        self.section(11)
        self.agreement_annex()

    def agreement_annex(self) -> None:
        try:
            report = agreement(self.study, territory=self.territory.id)
        except QualipipeError as error:
            self.lacking(f"Accord non calculable : {error}", "qualipipe agreement")
            return
        o = report.overall
        self.doc.paragraph(
            f"Codeurs : {', '.join(report.coders)}. {o.n_segments} passage(s) codé(s) par "
            "plusieurs codeurs sur ce territoire."
        )
        rows = [
            (f.label or "Ensemble", f.n_segments, f.percent, f.kappa, f.alpha)
            for f in (o, *report.per_code)
        ]
        self.doc.table(
            Table(
                "Accord",
                "Accord entre codeurs",
                ("Code", "Passages", "Accord observé", "Kappa de Cohen", "Alpha de Krippendorff"),
                tuple(rows),
                percent_columns=frozenset({2}),
                note="Calculé par « qualipipe agreement » sur les passages codés par plusieurs analystes.",
            )
        )

    def build(self, path: Path) -> LivrableReport:
        self.cover()
        self.context()
        self.portrait()
        self.founders()
        self.actors()
        self.vision()
        self.priorities()
        self.preconisations_section()
        self.evaluation()
        self.annexes()
        self.doc.save(path)
        counters = self.doc.counters
        return LivrableReport(
            path, self.missing, len(self.preconisations), counters["Tableau"], counters["Figure"]
        )


METHOD = (
    "Entretiens semi-directifs avec les fondateur·rices du PTCE et des acteur·rices du territoire, "
    "transcrits puis découpés en passages. Chaque passage est codé avec la grille commune des "
    "diagnostics (annexe B) : la machine suggère des codes, les analystes acceptent, rejettent ou "
    "ajoutent ; seules leurs décisions font foi, les suggestions non revues sont signalées.",
    "Un enjeu est « partagé » lorsqu'il est cité à la fois par des fondateur·rices et par des "
    "acteur·rices, ou par au moins trois personnes de plusieurs types d'acteurs.",
    "Atelier 1 : post-its ou réponses sur téléphone, rangés en atouts, faiblesses, opportunités et "
    "menaces, codés avec la même grille. Atelier 2 : questionnaire de priorisation (classement, "
    "vote par points, importance et faisabilité) ; le classement agrégé suit le score de Borda.",
    "Les verbatims sont pseudonymisés : les personnes sont désignées par leur rôle et leur "
    "territoire, les noms cités dans les propos sont remplacés.",
)


LIVRABLE_QUOTE_CHARS = 180  # a verbatim in a livrable table: about three lines


class LivrableWriter:
    """Writes the livrables of a study into `out_dir`: the study is read once (snapshot, cached
    spaCy features, name filter), on the first livrable, then each territory is cut out of it."""

    def __init__(self, study: Study, out_dir: Path, *, today: str | None = None) -> None:
        self.study, self.out_dir = study, out_dir
        # One verbatim per code in the tables (the livrable is read, not searched); two per
        # préconisation as its evidence; each cut shorter than in the synthesis, at a sentence
        # or clause end.
        self.options = SynthesisOptions(
            date=today or date.today().strftime("%d/%m/%Y"),
            verbatims_per_code=1,
            quote_chars=LIVRABLE_QUOTE_CHARS,
        )

    @cached_property
    def context(self) -> StudyContext:
        # No drawing pool: the livrable's figures are drawn as the sections are built.
        pseudonymize = make_pseudonymizer(self.study, keep_names=False)
        return StudyContext.build(self.study, self.options, pseudonymize)

    def write(self, territory: str) -> LivrableReport:
        """Write `out_dir/<territory id>/livrable.docx` (written beside, then moved into place)."""
        t = self.study.config.territory(territory)
        final = self.out_dir / t.id / LIVRABLE_FILE
        partial = final.with_name(f".{LIVRABLE_FILE}.en-cours")
        with tempfile.TemporaryDirectory(prefix="livrable-") as figures:
            report = LivrableBuilder(self.context, t, Path(figures)).build(partial)
        partial.replace(final)
        return replace(report, path=final)


def write_livrable(
    study: Study, out_dir: Path, territory: str, *, today: str | None = None
) -> LivrableReport:
    """Write one territory's livrable (several: one `LivrableWriter`, so the study is read once)."""
    return LivrableWriter(study, out_dir, today=today).write(territory)
