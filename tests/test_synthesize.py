"""Synthesis on a study built here: real SQLite store, real decisions and suggestions, real
.xlsx/.docx read back. Key figures are recomputed independently from the decision history."""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest
from docx import Document
from openpyxl import load_workbook
from PIL import Image

from qualipipe import store
from qualipipe.records import (
    Action,
    Code,
    Codebook,
    Decision,
    Participant,
    Role,
    Segment,
    Source,
    SourceKind,
    Suggestion,
)
from qualipipe.synthesize import synthesize_study
from qualipipe.synthesize.docx_report import LANDSCAPE_PT
from qualipipe.synthesize.figures import FIGURE_DPI, FIGURE_PIXELS
from tests.conftest import output_texts

CODES = [
    Code("MOT", "Motivations", "MOT", codable=False),
    Code("MOT_FAIRE_ENSEMBLE", "Faire ensemble", "MOT", parent="MOT"),
    Code("MOT_MUTUALISATION", "Mutualiser des moyens", "MOT", parent="MOT"),
    Code("BES", "Besoins", "BES", codable=False),
    Code("BES_FINANCEMENT", "Financement", "BES", parent="BES"),
    Code("BES_ANIMATION", "Animation", "BES", parent="BES"),
    Code("ENJ", "Enjeux territoriaux", "ENJ", codable=False),
    Code("ENJ_MOBILITE", "Mobilité", "ENJ", parent="ENJ"),
    Code("ENJ_EMPLOI", "Emploi et insertion", "ENJ", parent="ENJ"),
    Code("ENJ_ALIMENTATION", "Alimentation", "ENJ", parent="ENJ"),
    Code("ENJ_LOGEMENT", "Logement", "ENJ", parent="ENJ"),
    Code("TRANS", "Transversaux", "TRANS", codable=False),
    Code("TR_FREIN", "Freins", "TRANS", parent="TRANS"),
]
# An older code renamed into ENJ_MOBILITE: decisions on it must count for ENJ_MOBILITE.
OLD_CODE = "ENJ_TRANSPORT"

PEOPLE = [
    # id, real name, role, actor type, territory
    ("AUX-F1", "Marie Dupont", Role.FOUNDER, "structure de l'ESS", "auxois"),
    ("AUX-F2", "Jean-Luc Bernard", Role.FOUNDER, "SIAE", "auxois"),
    ("AUX-A1", "Sophie Martin", Role.ACTOR, "collectivité", "auxois"),
    ("AUX-A2", "Karim Benali", Role.ACTOR, "entreprise", "auxois"),
    ("AUX-A3", "Élodie Lefèvre", Role.ACTOR, "collectivité", "auxois"),
    ("BES-F1", "Paul Girard", Role.FOUNDER, "structure de l'ESS", "besancon-nord"),
    ("BES-A1", "Nadia Roux", Role.ACTOR, "financeur", "besancon-nord"),
]
REAL_NAMES = [p[1] for p in PEOPLE] + ["Claire Enquêtrice"]

# Interviewee turns per participant: (text, [(action, code), ...], [suggested codes]).
TURNS: dict[str, list[tuple[str, list[tuple[str, str]], list[str]]]] = {
    "AUX-F1": [
        (
            "On s'est regroupés parce que seuls on ne pesait rien, avec Jean-Luc Bernard on a monté le pôle.",
            [("accept", "MOT_FAIRE_ENSEMBLE")],
            [],
        ),
        (
            "Le car ne passe plus, la mobilité des salariés en insertion est un vrai frein au quotidien.",
            [("accept", OLD_CODE), ("add", "TR_FREIN")],
            ["ENJ_EMPLOI"],
        ),
        (
            "Il nous manque surtout du financement pour un poste d'animation du pôle.",
            [("accept", "BES_FINANCEMENT"), ("add", "BES_ANIMATION")],
            [],
        ),
    ],
    "AUX-F2": [
        (
            "L'emploi des jeunes du canton, c'est notre raison d'être : insertion par la cuisine.",
            [("accept", "ENJ_EMPLOI")],
            ["ENJ_ALIMENTATION"],
        ),
        (
            "Partager le camion frigorifique et la cuisine centrale, ça nous fait gagner beaucoup.",
            [("accept", "MOT_MUTUALISATION"), ("reject", "BES_FINANCEMENT")],
            [],
        ),
        (
            "Sans voiture on ne vient pas travailler ici, les transports manquent cruellement.",
            [("accept", "ENJ_MOBILITE"), ("reject", "ENJ_MOBILITE"), ("accept", "ENJ_MOBILITE")],
            [],
        ),
    ],
    "AUX-A1": [
        (
            "Pour la communauté de communes, la mobilité rurale reste la priorité du mandat.",
            [("accept", "ENJ_MOBILITE")],
            [],
        ),
        (
            "Les circuits courts et la restauration collective bio intéressent beaucoup les élus.",
            [("accept", "ENJ_ALIMENTATION")],
            [],
        ),
        (
            "Le logement des saisonniers devient très difficile dans les bourgs.",
            [("accept", "ENJ_LOGEMENT"), ("reject", "ENJ_LOGEMENT")],
            ["ENJ_LOGEMENT"],
        ),
    ],
    "AUX-A2": [
        (
            "On cherche de la main d'oeuvre, l'emploi local et l'insertion nous concernent directement.",
            [("accept", "ENJ_EMPLOI")],
            [],
        ),
        (
            "Nos livraisons vers les cantines pourraient passer par le pôle alimentaire.",
            [],
            ["ENJ_ALIMENTATION"],
        ),
    ],
    "AUX-A3": [
        (
            "Madame Dupont m'a parlé du projet, la mobilité des jeunes est un sujet pour nous aussi.",
            [("accept", "ENJ_MOBILITE")],
            [],
        ),
        (
            "Le financement du pôle doit être partagé avec la région, j'en ai parlé à Marie.",
            [],
            ["BES_FINANCEMENT"],
        ),
    ],
    "BES-F1": [
        (
            "Dans le quartier, l'emploi des femmes est l'enjeu principal, avec la garde d'enfants.",
            [("accept", "ENJ_EMPLOI")],
            [],
        ),
        (
            "On coopère depuis dix ans entre associations, ensemble on est plus forts.",
            [("accept", "MOT_FAIRE_ENSEMBLE")],
            ["MOT_MUTUALISATION"],
        ),
    ],
    "BES-A1": [
        (
            "Nous finançons surtout des projets d'emploi et d'insertion sur Planoise.",
            [("accept", "ENJ_EMPLOI")],
            [],
        ),
        (
            "Le logement social est dégradé, les habitants nous le disent souvent.",
            [("accept", "ENJ_LOGEMENT")],
            [],
        ),
    ],
}
INTERVIEWER = (
    "Claire Enquêtrice : Bonjour Marie Dupont, je lance l'enregistrement du magnétophone ; "
    "parlez-moi de la mobilité et du logement."
)


@dataclass
class Built:
    study: store.Study
    segment_of: dict[tuple[str, int], int]  # (participant, turn index) -> segment id
    interviewer_segments: list[int]


def build_study(study: store.Study) -> Built:
    conn = study.conn
    segment_of: dict[tuple[str, int], int] = {}
    interviewer_segments = []
    with study.transaction():
        codebook = Codebook("Grille de test", "1", tuple(CODES))
        version = store.save_codebook_version(conn, codebook, "grille de test v1")
        conn.execute(
            "INSERT INTO code_redirects (codebook_version_id, old_code, new_code, change, created_at)"
            " VALUES (?, ?, ?, 'renommé', ?)",
            (version, OLD_CODE, "ENJ_MOBILITE", store.now_iso()),
        )
        counters: dict[tuple[str, Role], int] = defaultdict(int)
        for pid, name, role, actor_type, territory in PEOPLE:
            counters[(territory, role)] += 1
            prefix = "Fondateur·rice" if role == Role.FOUNDER else "Acteur·rice"
            store.upsert_participant(
                conn,
                Participant(
                    pid,
                    territory,
                    role,
                    f"{prefix} {counters[(territory, role)]} — {territory}",
                    real_name=name,
                    organisation=f"Structure {pid}",
                    actor_type=actor_type,
                ),
            )
        for pid, turns in TURNS.items():
            territory = next(p[4] for p in PEOPLE if p[0] == pid)
            text = INTERVIEWER + "\n" + "\n".join(t for t, _, _ in turns)
            source_id = store.insert_source(
                conn,
                Source(
                    key=f"entretiens/{pid}.txt",
                    kind=SourceKind.TRANSCRIPT,
                    text=text,
                    participant_id=pid,
                    territory_id=territory,
                ),
            )
            segments = [Segment(0, len(INTERVIEWER), INTERVIEWER, "Claire", True)]
            offset = len(INTERVIEWER) + 1
            for turn, _, _ in turns:
                segments.append(Segment(offset, offset + len(turn), turn, pid))
                offset += len(turn) + 1
            ids = store.insert_segments(conn, source_id, segments)
            interviewer_segments.append(ids[0])
            # The interviewer turn carries an accepted code: it must never be counted.
            store.append_decision(conn, Decision(ids[0], Action.ACCEPT, "ana", "ENJ_LOGEMENT"))
            suggestions = []
            for index, (_, decisions, suggested) in enumerate(turns):
                segment_of[(pid, index)] = ids[index + 1]
                for action, code in decisions:
                    store.append_decision(
                        conn, Decision(ids[index + 1], Action(action), "ana", code)
                    )
                suggestions += [
                    Suggestion(ids[index + 1], c, 0.7, "combiné", "raison") for c in suggested
                ]
            store.replace_suggestions(conn, ids, suggestions, None)
        # A second coder rejects, later, what the first accepted: the latest decision wins.
        store.append_decision(
            conn, Decision(segment_of[("AUX-A2", 0)], Action.REJECT, "bob", "ENJ_EMPLOI")
        )
        store.append_decision(
            conn, Decision(segment_of[("AUX-A2", 0)], Action.ACCEPT, "bob", "ENJ_EMPLOI")
        )
        add_surveys(study)
    return Built(study, segment_of, interviewer_segments)


PRIORITY_ANSWERS = {
    # participant: ranking (answer codes), points, importance, feasibility, agreement
    "AUX-F1": (
        ["MOB", "EMPL", "ALIM"],
        {"MOBILITE": 5, "EMPLOI": 3, "ALIMENT": 2},
        {"MOBILITE": 5, "EMPLOI": 4, "ALIMENT": 3},
        {"MOBILITE": 2, "EMPLOI": 4, "ALIMENT": 4},
        "4",
    ),
    "AUX-F2": (
        ["EMPL", "MOB", "LOGT"],
        {"EMPLOI": 6, "MOBILITE": 4},
        {"MOBILITE": 4, "EMPLOI": 5, "ALIMENT": 1},
        {"MOBILITE": 2, "EMPLOI": 5, "ALIMENT": 3},
        "5",
    ),
    "AUX-A1": (
        ["MOB", "ALIM", "EMPL"],
        {"MOBILITE": 7, "ALIMENT": 3},
        {"MOBILITE": 5, "EMPLOI": 3, "ALIMENT": 5},
        {"MOBILITE": 3, "EMPLOI": 4, "ALIMENT": 4},
        "2",
    ),
    "AUX-A2": (
        ["EMPL", "ALIM"],
        {"EMPLOI": 10},
        {"MOBILITE": 4, "EMPLOI": 5, "ALIMENT": 1},
        {"MOBILITE": 2, "EMPLOI": 4, "ALIMENT": 2},
        "4",
    ),
}


def add_surveys(study: store.Study) -> None:
    conn = study.conn

    def put(pid: str, instrument: str, code: str, value: str) -> None:
        conn.execute(
            "INSERT INTO participant_attributes VALUES (?, ?, ?, ?)", (pid, instrument, code, value)
        )

    for pid, (ranking, points, importance, feasibility, agreement) in PRIORITY_ANSWERS.items():
        for rank, item in enumerate(ranking, start=1):
            put(pid, "priorisation_enjeux", f"P06[{rank}]", item)
        for item, value in points.items():
            put(pid, "priorisation_enjeux", f"P07[{item}]", str(value))
        for item, value in importance.items():
            put(pid, "priorisation_enjeux", f"P04[{item}]", str(value))
        for item, value in feasibility.items():
            put(pid, "priorisation_enjeux", f"P05[{item}]", str(value))
        put(pid, "priorisation_enjeux", "P14", agreement)
    for pid, satisfaction, used in (
        ("AUX-F1", "5", "DEJA"),
        ("AUX-A1", "4", "PEUT"),
        ("AUX-A2", "4", "DEJA"),
    ):
        put(pid, "evaluation_diagnostic", "E03", satisfaction)
        put(pid, "evaluation_diagnostic", "E07", used)
        put(pid, "evaluation_diagnostic", "E02[ENTRETIEN]", "Y")
    # An anonymous evaluation response fetched from LimeSurvey (no participant).
    conn.execute(
        "INSERT INTO survey_responses (survey_id, response_id, instrument, territory_id, token, submitted,"
        " data, data_hash, fetched_at) VALUES (1, 7, 'evaluation_diagnostic', 'auxois', '', 1, ?, 'h', ?)",
        (json.dumps({"E03": "2", "E07": "NON", "E02[ENTRETIEN]": ""}), store.now_iso()),
    )
    # An anonymous prioritisation response (unknown token) from a member of the PTCE.
    conn.execute(
        "INSERT INTO survey_responses (survey_id, response_id, instrument, territory_id, token,"
        " submitted, data, data_hash, fetched_at)"
        " VALUES (2, 3, 'priorisation_enjeux', 'auxois', 'inconnu', 1, ?, 'h2', ?)",
        (
            json.dumps(
                {
                    "P01": "MEMB",
                    "P06[1]": "ALIM",
                    "P06[2]": "",
                    "P07[ALIMENT]": "10",
                    "P04[ALIMENT]": "5",
                    "P05[ALIMENT]": "3",
                }
            ),
            store.now_iso(),
        ),
    )
    # A coded free-text evaluation answer that names a participant.
    text = "Plus de temps avec Sophie Martin et les élus aurait aidé."
    source_id = store.insert_source(
        conn,
        Source(
            key="survey:evaluation_diagnostic:1:E12",
            kind=SourceKind.SURVEY,
            text=text,
            participant_id="AUX-A2",
            territory_id="auxois",
            instrument="evaluation_diagnostic",
            question_code="E12",
        ),
    )
    (segment,) = store.insert_segments(conn, source_id, [Segment(0, len(text), text)])
    store.append_decision(conn, Decision(segment, Action.ACCEPT, "ana", "TR_FREIN"))


# ---------------------------------------------------------------------------------------------
# Independent figures, computed from the raw decision history (not through qualipipe.synthesize)
# ---------------------------------------------------------------------------------------------


def independent_coding(built: Built) -> dict[tuple[int, str], bool]:
    """Latest decision per (segment, code) over all coders, old code renamed, interviewer out."""
    latest: dict[tuple[int, str], bool] = {}
    for d in store.decision_history(built.study.conn):
        if d.code_id is None or d.segment_id in built.interviewer_segments:
            continue
        code = "ENJ_MOBILITE" if d.code_id == OLD_CODE else d.code_id
        latest[(d.segment_id, code)] = d.action in (Action.ACCEPT, Action.ADD)
    return latest


def owner_of(built: Built) -> dict[int, str]:
    rows = built.study.conn.execute(
        "SELECT s.id, src.participant_id FROM segments s JOIN sources src ON src.id = s.source_id"
    )
    return {r[0]: r[1] for r in rows}


def expected_mentions(
    built: Built, territory: str, *, with_suggestions: bool
) -> dict[str, dict[str, set]]:
    """code -> {'founders': ids, 'actors': ids, 'validated': segments, 'suggested': segments}."""
    coding = independent_coding(built)
    owner = owner_of(built)
    role = {p[0]: p[2] for p in PEOPLE}
    place = {p[0]: p[4] for p in PEOPLE}
    result: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
    applied = [(seg, code, "validated") for (seg, code), on in coding.items() if on]
    if with_suggestions:
        for seg, code in built.study.conn.execute("SELECT segment_id, code_id FROM suggestions"):
            if (seg, code) not in coding:
                applied.append((seg, code, "suggested"))
    for seg, code, kind in applied:
        pid = owner[seg]
        if place[pid] != territory:
            continue
        result[code][kind].add(seg)
        result[code]["founders" if role[pid] == Role.FOUNDER else "actors"].add(pid)
    return result


def sheet_rows(path: Path, sheet: str) -> list[dict[str, object]]:
    ws = load_workbook(path)[sheet]
    rows = list(ws.iter_rows(min_row=4, values_only=True))
    header = rows[0]
    return [
        dict(zip(header, row, strict=True)) for row in rows[1:] if any(v is not None for v in row)
    ]


# ---------------------------------------------------------------------------------------------
# One full synthesis of the built study, shared by the tests of this module (figures are slow)
# ---------------------------------------------------------------------------------------------

TOML = """\
[etude]
nom = "Étude de synthèse"

[[territoires]]
id = "auxois"
nom = "Auxois"
ptce = "Pôle alimentaire de l'Auxois"
type = "filière"
stade = "émergent"
milieu = "rural"

[[territoires]]
id = "besancon-nord"
nom = "Besançon Nord"
ptce = "Coopérative de quartier Planoise"
type = "généraliste"
stade = "existant"
milieu = "urbain"
"""
TODAY = "28/11/2026"


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("synthese") / "etude-synthese"
    root.mkdir()
    (root / "qualipipe.toml").write_text(TOML, encoding="utf-8")
    study = store.open_study(root)
    built = build_study(study)
    out = root.parent / "outputs" / root.name
    report = synthesize_study(study, out, include_comparison=True, today=TODAY)
    yield built, report, out
    study.close()


def test_outputs_exist_and_open(synthesized) -> None:
    _, report, out = synthesized
    assert report.territories == ["auxois", "besancon-nord"]
    for folder in ("auxois", "besancon-nord"):
        workbook = load_workbook(out / folder / "synthese.xlsx")
        # every table has its sheet, or (no row) a summary line saying there is no data
        summary = [r for r in workbook["Sommaire"].iter_rows(values_only=True) if r[1]]
        empty = [r[0] for r in summary if str(r[1]).startswith("aucune donnée")]
        sheets = [
            r[1].removeprefix("feuille « ").removesuffix(" »")
            for r in summary
            if str(r[1]).startswith("feuille")
        ]
        assert set(workbook.sheetnames) == {"Sommaire", *sheets}
        tables = [r for r in summary if str(r[0]).startswith("Tableau")]
        assert len(tables) == len(sheets) + len(empty)
        assert {"Sommaire", "MOT", "ENJ", "Par type d'acteur", "Participants"} <= set(
            workbook.sheetnames
        )
        ws = workbook["ENJ"]
        assert ws["A1"].value.startswith("Tableau 3 — Enjeux territoriaux")
        assert ws.freeze_panes == "A5"
        doc = Document(str(out / folder / "synthese.docx"))
        assert doc.tables and all(t.style.name == "Light Grid Accent 1" for t in doc.tables)
        for table in doc.tables:  # every table inside the text width of a landscape page
            assert sum(c.width for c in table.columns) <= LANDSCAPE_PT * 12700 + 635
        captions = [p.text for p in doc.paragraphs if p.style.name == "Caption"]
        assert any(c.startswith("Tableau 1 — ") for c in captions)
        assert any(c.startswith("Figure 1 — Cartographie des acteurs") for c in captions)
        headings = [p.text for p in doc.paragraphs if p.style.name.startswith("Heading")]
        assert "Enjeux territoriaux partagés" in headings and "Cartographie des acteurs" in headings
        markdown = (out / folder / "synthese.md").read_text(encoding="utf-8")
        assert "## Enjeux territoriaux partagés" in markdown
        assert "(figures/carte_acteurs.png)" in markdown
        for name in (
            "carte_acteurs.png",
            "carte_acteurs.gexf",
            "carte_acteurs.graphml",
        ):
            assert (out / folder / "figures" / name).is_file()
    assert (out / "auxois" / "figures" / "priorites_matrice.png").is_file()
    assert (out / "auxois" / "figures" / "nuage_territoire.png").is_file()
    # A handful of short answers: too few words for a cloud that would say anything.
    assert not list((out / "besancon-nord" / "figures").glob("nuage_*.png"))
    comparison = load_workbook(out / "comparaison" / "comparaison.xlsx")
    header = [c.value for c in comparison["Comparaison des codes"][4]]
    assert {"% rural", "% urbain", "% filière", "% généraliste", "% émergent", "% existant"} <= set(
        header
    )
    assert all(p.is_file() for p in report.files)


def family_rows(path: Path) -> dict:
    """Code -> row of the family sheets; a family without any mention has no sheet."""
    sheets = load_workbook(path).sheetnames
    families = [f for f in ("MOT", "BES", "ENJ", "TRANS") if f in sheets]
    return {r["Code"]: r for family in families for r in sheet_rows(path, family)}


@pytest.mark.parametrize("territory", ["auxois", "besancon-nord"])
def test_family_figures_match_the_decisions(synthesized, territory: str) -> None:
    built, _, out = synthesized
    expected = expected_mentions(built, territory, with_suggestions=True)
    rows = family_rows(out / territory / "synthese.xlsx")
    assert set(rows) == set(expected)
    for code, facts in expected.items():
        row = rows[code]
        assert row["Fondateurs"] == len(facts["founders"]), code
        assert row["Acteurs"] == len(facts["actors"]), code
        assert row["Segments validés"] == len(facts["validated"]), code
        assert row["Segments suggérés"] == len(facts["suggested"]), code
    if territory == "auxois":
        # 4 segments: the renamed code, a reject overridden by a later accept, two actors.
        assert rows["ENJ_MOBILITE"]["Segments validés"] == 4
        assert rows["ENJ_MOBILITE"]["Fondateurs"] == 2 and rows["ENJ_MOBILITE"]["% fondateurs"] == 1
        assert "ENJ_LOGEMENT" not in rows  # accepted then rejected; interviewer turn ignored


def test_suggested_only_codes_are_marked(synthesized) -> None:
    _, _, out = synthesized
    path = out / "besancon-nord" / "synthese.xlsx"
    row = next(r for r in sheet_rows(path, "MOT") if r["Code"] == "MOT_MUTUALISATION")
    assert row["Statut"] == "suggéré (non revu)" and row["Segments validés"] == 0
    assert row["Verbatims représentatifs"].startswith("○ « ")
    ws = load_workbook(path)["MOT"]
    cells = [c for c in ws["A"] if c.value == "MOT_MUTUALISATION"]
    assert cells[0].font.i is True
    markdown = (out / "besancon-nord" / "synthese.md").read_text(encoding="utf-8")
    assert "| Mutualiser des moyens | ○ |" in markdown and "MOT_MUTUALISATION" not in markdown
    assert "○ suggéré par la machine, non revu" in markdown  # the symbol's legend


def test_validated_only_leaves_suggestions_out(synthesized, tmp_path: Path) -> None:
    built, _, _ = synthesized
    out = tmp_path / "validees"
    synthesize_study(built.study, out, validated_only=True, with_figures=False, today=TODAY)
    for territory in ("auxois", "besancon-nord"):
        expected = expected_mentions(built, territory, with_suggestions=False)
        rows = family_rows(out / territory / "synthese.xlsx")
        assert set(rows) == set(expected)
        for code, facts in expected.items():
            assert (rows[code]["Fondateurs"], rows[code]["Acteurs"]) == (
                len(facts["founders"]),
                len(facts["actors"]),
            ), code
            assert "Segments suggérés" not in rows[code]
            assert rows[code]["Statut"] == "validé"
    markdown = (out / "besancon-nord" / "synthese.md").read_text(encoding="utf-8")
    assert "| Mutualiser des moyens |" not in markdown and "○" not in markdown
    assert "suggestion non revue" not in markdown


def test_shared_issues_follow_the_rule(synthesized) -> None:
    built, _, out = synthesized
    actor_type = {p[0]: p[3] for p in PEOPLE}
    for territory in ("auxois", "besancon-nord"):
        expected = []
        for code, facts in expected_mentions(built, territory, with_suggestions=True).items():
            people = facts["founders"] | facts["actors"]
            types = {actor_type[p] for p in people}
            both = facts["founders"] and facts["actors"]
            if code.startswith("ENJ_") and (both or (len(people) >= 3 and len(types) >= 2)):
                expected.append((-len(people), code))
        rows = sheet_rows(out / territory / "synthese.xlsx", "Enjeux partagés")
        assert [r["Code"] for r in rows] == [code for _, code in sorted(expected)]
        assert [r["Rang"] for r in rows] == list(range(1, len(rows) + 1))
    auxois = sheet_rows(out / "auxois" / "synthese.xlsx", "Enjeux partagés")
    assert auxois[0]["Code"] == "ENJ_MOBILITE" and auxois[0]["Participants"] == 4
    assert (
        auxois[0]["Qui le partage (par type d'acteur)"]
        == "collectivité (2), SIAE (1), structure de l'ESS (1)"
    )


def test_priorities_from_the_survey_answers(synthesized) -> None:
    _, _, out = synthesized
    rows = {r["Code"]: r for r in sheet_rows(out / "auxois" / "synthese.xlsx", "Priorités")}
    # Hand-computed: 5 ranks (instrument max 5): 1st = 5 points, 2nd = 4, 3rd = 3; the
    # anonymous member ranked only ALIM, first.
    borda = {
        "EMPLOI": 4 + 5 + 3 + 5,
        "ALIMENT": 3 + 4 + 4 + 5,
        "MOBILITE": 5 + 4 + 5,
        "LOGEMENT": 3,
    }
    assert {c: r["Score de Borda"] for c, r in rows.items()} == borda
    assert list(rows) == ["EMPLOI", "ALIMENT", "MOBILITE", "LOGEMENT"]
    assert {c: r["Points"] for c, r in rows.items()} == {
        "EMPLOI": 3 + 6 + 10,
        "ALIMENT": 2 + 3 + 10,
        "MOBILITE": 5 + 4 + 7,
        "LOGEMENT": 0,
    }
    assert rows["EMPLOI"]["Part des points"] == pytest.approx(19 / 50)
    assert rows["LOGEMENT"]["Enjeu"] == "Logement"  # ranking code LOGT mapped by its label
    assert rows["MOBILITE"]["Importance (moy.)"] == pytest.approx(4.5)
    assert rows["MOBILITE"]["Quadrant"] == "à préparer"  # importance 4.5, feasibility 2.25
    assert rows["ALIMENT"]["Dissensus"] == "oui"  # importance 3, 1, 5, 1, 5
    assert rows["EMPLOI"]["Dissensus"] == "non"  # importance 4, 5, 3, 5
    assert rows["ALIMENT"]["Importance 5 (réponses)"] == 2
    groups = sheet_rows(out / "auxois" / "synthese.xlsx", "Priorités par groupe")
    header = list(groups[0])
    # The anonymous response said "Membre du pôle": it counts with the founders.
    assert "Borda — membres du pôle (fondateurs) (n=3)" in header
    assert "Borda — acteurs du territoire (n=2)" in header


def test_evaluation_distributions_and_coded_answers(synthesized) -> None:
    _, _, out = synthesized
    rows = sheet_rows(out / "auxois" / "synthese.xlsx", "Évaluation")
    e03 = {r["Réponse"]: r["Effectif"] for r in rows if r["Question"] == "E03"}
    assert e03 == {"1": 0, "2": 1, "3": 0, "4": 2, "5": 1}  # incl. the anonymous response
    e07 = {r["Réponse"]: (r["Effectif"], r["Part"]) for r in rows if r["Question"] == "E07"}
    assert e07["Oui, c'est déjà le cas"] == (2, 0.5)
    coded = sheet_rows(out / "auxois" / "synthese.xlsx", "Évaluation réponses libres")
    assert [(r["Question"], r["Code"], r["Segments validés"]) for r in coded] == [
        ("E12", "TR_FREIN", 1)
    ]
    assert (out / "auxois" / "figures" / "evaluation_e03.png").is_file()


def name_pieces() -> list[str]:
    pieces = set()
    for name in REAL_NAMES:
        pieces.add(name)
        pieces.update(p for p in re.split(r"[\s-]+", name) if len(p) >= 3)
    return sorted(pieces)


def fold(text: str) -> str:
    """Lower case without accents (whole-text version, fast on large XML parts)."""
    decomposed = unicodedata.normalize("NFD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def test_no_real_name_in_any_output(synthesized) -> None:
    _, _, out = synthesized
    texts = output_texts(out)
    assert len(texts) >= 3 * 3 + 2 * 2  # xlsx, docx, md per folder; gexf, graphml per territory
    for path, text in texts.items():
        folded = fold(text)
        pattern = "|".join(re.escape(fold(piece)) for piece in name_pieces())
        found = re.findall(rf"(?<!\w)(?:{pattern})(?!\w)", folded)
        assert not found, (found, path)


def test_real_names_only_when_asked(synthesized, tmp_path: Path) -> None:
    built, _, _ = synthesized
    out = tmp_path / "noms"
    synthesize_study(
        built.study, out, territory="auxois", keep_names=True, with_figures=False, today=TODAY
    )
    markdown = (out / "auxois" / "synthese.md").read_text(encoding="utf-8")
    assert (
        "Sophie Martin" in markdown
    )  # verbatim of the evaluation answer, and the participant list
    assert "Marie Dupont" in markdown
    # The scan used above does see names when they are there (xlsx and docx XML included).
    texts = output_texts(out)
    for suffix in (".xlsx", ".docx", ".md"):
        assert any(p.suffix == suffix and "Sophie Martin" in t for p, t in texts.items()), suffix


def test_running_twice_gives_identical_tables(synthesized, tmp_path: Path) -> None:
    built, _, _ = synthesized
    first, second = tmp_path / "un", tmp_path / "deux"
    for out in (first, second):
        synthesize_study(built.study, out, include_comparison=True, with_figures=False, today=TODAY)
    for md in sorted(first.rglob("*.md")):
        assert md.read_text(encoding="utf-8") == (second / md.relative_to(first)).read_text(
            encoding="utf-8"
        )
    for xlsx in sorted(first.rglob("*.xlsx")):
        a, b = load_workbook(xlsx), load_workbook(second / xlsx.relative_to(first))
        assert a.sheetnames == b.sheetnames
        for name in a.sheetnames:
            assert list(a[name].values) == list(b[name].values), (xlsx, name)
    for docx in sorted(first.rglob("*.docx")):
        a, b = Document(str(docx)), Document(str(second / docx.relative_to(first)))
        cells = [[c.text for row in t.rows for c in row.cells] for t in a.tables]
        assert cells == [[c.text for row in t.rows for c in row.cells] for t in b.tables]


def test_pngs_have_the_documented_size_and_dpi(synthesized) -> None:
    _, _, out = synthesized
    pngs = sorted(out.rglob("*.png"))
    assert len(pngs) >= 6
    for png in pngs:
        with Image.open(png) as image:
            assert image.size == FIGURE_PIXELS, png
            assert tuple(round(d) for d in image.info["dpi"]) == (FIGURE_DPI, FIGURE_DPI), png


def test_actor_map_graph_files(synthesized) -> None:
    import networkx as nx

    built, _, out = synthesized
    expected = expected_mentions(built, "auxois", with_suggestions=True)
    pairs = {
        (pid, code)
        for code, f in expected.items()
        if code.startswith("ENJ_")
        for pid in f["founders"] | f["actors"]
    }
    pseudonym = {p.id: p.pseudonym for p in store.list_participants(built.study.conn)}
    for graph in (
        nx.read_graphml(out / "auxois/figures/carte_acteurs.graphml"),
        nx.read_gexf(out / "auxois/figures/carte_acteurs.gexf"),
    ):
        label = {n: d["label"] for n, d in graph.nodes(data=True)}
        edges = set()
        for a, b in graph.edges():
            person, issue = (a, b) if graph.nodes[a]["genre"] == "participant" else (b, a)
            edges.add((label[person], issue))
        assert edges == {(pseudonym[pid], code) for pid, code in pairs}
        people = [d for _, d in graph.nodes(data=True) if d["genre"] == "participant"]
        assert len(people) == 5
        carried = {d["label"]: int(d["enjeux_partages"]) for d in people}
        assert carried[pseudonym["AUX-F2"]] == 3  # mobilité, emploi, alimentation (suggested)


def test_word_clouds_leave_out_interviewer_turns_names_and_stop_words(synthesized) -> None:
    from qualipipe.synthesize.load import load_territory, make_pseudonymizer
    from qualipipe.synthesize.model import SynthesisOptions
    from qualipipe.synthesize.pipeline import StudyContext, TerritorySynthesis

    built, _, out = synthesized
    study = built.study
    data = load_territory(study, study.config.territory("auxois"), validated_only=False)
    context = StudyContext.build(
        study, SynthesisOptions(date=TODAY), make_pseudonymizer(study, keep_names=False)
    )
    synthesis = TerritorySynthesis(context, data, out / "inutile")
    clouds = {name: counts for name, _, _, counts in synthesis.cloud_frequencies()}
    territory = clouds["nuage_territoire.png"]
    assert territory["mobilité"] == 3 and territory["insertion"] >= 2
    for word in ("enregistrement", "magnétophone", "dupont", "marie", "sophie", "le", "de", "être"):
        assert word not in territory
    assert "financement" in clouds["nuage_bes.png"] and "mobilité" not in clouds["nuage_mot.png"]


def test_cli_synthesize(synthesized, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from qualipipe.cli import app

    built, _, _ = synthesized
    result = CliRunner().invoke(
        app,
        [
            "synthesize",
            "--study",
            str(built.study.root),
            "--territory",
            "auxois",
            "--validated-only",
            "--sans-figures",
            "--seuil-partage",
            "2",
            "--sortie",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    workbook = tmp_path / built.study.root.name / "auxois" / "synthese.xlsx"
    assert workbook.is_file()
    summary = " ".join(result.output.split())
    assert re.search(r"Synthèse : 1 territoire\(s\) en \d+ s .* 5 fichiers dont 0 figures", summary)
    assert "≥ 2 participants" in sheet_rows(workbook, "Enjeux partagés")[0]["Critère"]


def test_without_codebook_a_french_error(make_study, tmp_path: Path) -> None:
    from qualipipe.errors import StudyError

    study = make_study()
    with pytest.raises(StudyError, match="grille de codage"):
        synthesize_study(study, tmp_path / "sorties")
    assert not (tmp_path / "sorties" / "auxois").exists()


def test_failed_run_keeps_the_previous_report(synthesized, tmp_path: Path, monkeypatch) -> None:
    from qualipipe.synthesize import workers

    built, _, _ = synthesized
    out = tmp_path / "sorties"
    synthesize_study(built.study, out, territory="auxois", with_figures=False, today=TODAY)
    before = (out / "auxois" / "synthese.md").read_text(encoding="utf-8")
    runs = built.study.conn.execute(
        "SELECT count(*) FROM runs WHERE step = 'synthesize'"
    ).fetchone()[0]

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disque plein")

    monkeypatch.setattr(workers, "write_docx", broken)
    with pytest.raises(OSError):
        synthesize_study(
            built.study, out, territory="auxois", with_figures=False, today="01/01/2027"
        )
    assert (out / "auxois" / "synthese.md").read_text(encoding="utf-8") == before
    assert sorted(p.name for p in out.iterdir()) == ["auxois"]  # no half-written folder left
    after = built.study.conn.execute(
        "SELECT count(*) FROM runs WHERE step = 'synthesize'"
    ).fetchone()[0]
    assert after == runs


def test_failure_in_a_worker_keeps_every_previous_report(
    synthesized, tmp_path: Path, monkeypatch
) -> None:
    """With several territories the documents are written by worker processes: a failure there
    stops the run, and leaves the previous reports as they were and no half-written folder."""
    from qualipipe.synthesize import workers

    built, _, _ = synthesized
    out = tmp_path / "sorties"
    synthesize_study(built.study, out, with_figures=False, today=TODAY)
    before = {p: p.read_bytes() for p in sorted(out.rglob("synthese.md"))}
    assert len(before) == 2

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disque plein")

    monkeypatch.setattr(workers, "write_docx", broken)  # before the workers fork
    with pytest.raises(OSError):
        synthesize_study(built.study, out, today="01/01/2027")
    assert {p: p.read_bytes() for p in sorted(out.rglob("synthese.md"))} == before
    assert sorted(p.name for p in out.iterdir()) == ["auxois", "besancon-nord"]


def test_cli_unknown_territory_is_one_french_line(synthesized, capsys) -> None:
    from qualipipe.cli import main

    built, _, _ = synthesized
    with pytest.raises(SystemExit) as exited:
        main(["synthesize", "--study", str(built.study.root), "--territory", "nulle-part"])
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "Territoire « nulle-part » inconnu" in err and "Traceback" not in err


def test_batched_pseudonymiser_gives_what_the_study_pseudonymiser_gives(synthesized) -> None:
    """The synthesis pseudonymises its verbatims in batches and remembers them: the result must
    stay the pseudonymiser's own, names of the manifest in lower case included."""
    from qualipipe.pseudonymize import Policy, pseudonymizer_for
    from qualipipe.synthesize.load import BatchedPseudonymizer

    built, _, _ = synthesized
    study = built.study
    inner = pseudonymizer_for(study, Policy.VERBATIM)
    texts = [r[0] for r in study.conn.execute("SELECT text FROM segments ORDER BY id")]
    texts += [
        "j'en ai parlé avec marie dupont et sophie martin hier",
        "Le projet porté par Marie Dupont avance, dit Robert Castagnier.",
        "appelez-moi au 06 12 34 56 78 ou sur karim.benali@example.org",
        "rien à signaler de ce côté-là",
        "",
    ]
    expected = inner.apply_many(texts)
    batched = BatchedPseudonymizer(pseudonymizer_for(study, Policy.VERBATIM))
    batched.prefetch(texts[:-3])
    assert [batched(t) for t in texts] == expected
    assert "sophie martin" not in expected[-5] and "06 12" not in expected[-3]
    assert "Castagnier" not in expected[-4]  # found by spaCy alone: not in the manifest
