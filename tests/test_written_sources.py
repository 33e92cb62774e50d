"""Written contributions as first-class sources, on the real code path: an .xlsx manifest with
a « type_source » column, contributions in .md and .docx, ingest, review export read back.

The examples are those of issue 12: participants called Pierre Petit, Jean Blanc and
Marie-Claire Martin whose names are also common words; a « Saint-Trojan-les-Bains » author;
« Monsieur le Maire »; a `[Signature]` marker and « Objet : » lines in a letter; a file name
that holds a person's name."""

from __future__ import annotations

import gzip
from pathlib import Path

import docx
import pytest
from openpyxl import Workbook, load_workbook

from qualipipe.codebook import changes as codebook
from qualipipe.config import load_config
from qualipipe.errors import InputError
from qualipipe.ingest import ingest_paths
from qualipipe.nlp import COMMON_WORDS_FILE, french_words_from_model
from qualipipe.pseudonymize import Policy, Pseudonymizer, pseudonymizer_for
from qualipipe.records import Participant, Role, SourceKind
from qualipipe.review import workbook as wb
from qualipipe.review.common import ReviewFilter
from qualipipe.review.export import export_review

REPO = Path(__file__).resolve().parents[1]

LETTER = """\
Objet : le commerce en centre-bourg

Monsieur le Maire,

Je tiens un petit commerce sur la place depuis douze ans. Le vote blanc progresse et la
situation est claire : sans parking, les clients partent vers la zone commerciale.

Mes propositions :
− un marché le samedi
− des loyers modérés
− une navette

J'en ai parlé avec Jean Blanc et avec Marie-Claire Martin, qui pensent comme moi.
Vous pouvez me joindre au 06 12 34 56 78 ou à pierre.petit@exemple.fr.

Impôts : trop lourds pour les petites boutiques.

PS : merci pour la réunion.

[Signature]
"""

REPORT_PARAGRAPHS = [
    "Compte rendu de la réunion du 26 janvier à Saint-Trojan-les-Bains",
    "Objet : transition écologique",
    "Les habitants présents sont venus de Saint-Trojan-les-Bains et des communes voisines sur "
    "l'île ; les échanges ont porté sur les transports et les déchets.",
    "Mais : plusieurs participants regrettent l'absence de bus le dimanche.",
    "Monsieur le Président de la communauté de communes a répondu aux questions.",
    "[Prénom Nom]",
]


def _manifest(path: Path) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(["identifiant", "nom", "territoire", "fichier", "type_source"])
    sheet.append(["C01", "Pierre Petit", "auxois", "contribution_Pierre_Petit.md", "contribution"])
    sheet.append(["C02", "Jean Blanc", "auxois", "", "contribution"])
    sheet.append(["C03", "Marie-Claire Martin", "auxois", "", "contribution"])
    sheet.append(["R01", "Saint-Trojan-les-Bains", "auxois", "cr_reunion.docx", "compte-rendu"])
    sheet.append(["C04", "", "besancon-nord", "anonyme.md", "contribution"])
    book.save(path)
    return path


@pytest.fixture
def written_study(make_study, tmp_path: Path):
    study = make_study()
    folder = tmp_path / "contributions"
    folder.mkdir()
    (folder / "contribution_Pierre_Petit.md").write_text(LETTER, encoding="utf-8")
    document = docx.Document()
    for paragraph in REPORT_PARAGRAPHS:
        document.add_paragraph(paragraph)
    document.save(str(folder / "cr_reunion.docx"))
    (folder / "anonyme.md").write_text(
        "Je ne signe pas.\n\nLe bus ne passe plus depuis deux ans, il faut le rétablir.\n",
        encoding="utf-8",
    )
    report = ingest_paths(study, [folder], manifest=_manifest(tmp_path / "auteurs.xlsx"))
    assert report.ok, [str(f.error) for f in report.failed]
    study.report = report
    yield study


def test_written_sources_keep_all_their_text_as_the_authors(written_study) -> None:
    conn = written_study.conn
    kinds = dict(conn.execute("SELECT participant_id, kind FROM sources").fetchall())
    assert kinds == {"C01": "written", "R01": "report", "C04": "written"}
    assert conn.execute("SELECT count(*) FROM segments WHERE is_interviewer = 1").fetchone()[0] == 0
    outcomes = {Path(f.path).name: f for f in written_study.report.files}
    for outcome in outcomes.values():
        assert outcome.interviewer_segments == 0 and outcome.participant_segments > 0
        assert not outcome.mostly_interviewer
    # Every word of the letter is in some segment: nothing was dropped as a speaker label.
    letter_segments = [
        r[0]
        for r in conn.execute(
            "SELECT s.text FROM segments s JOIN sources src ON src.id = s.source_id "
            "WHERE src.participant_id = 'C01' ORDER BY s.ordinal"
        )
    ]
    covered = " ".join(letter_segments).split()
    assert covered == LETTER.split()
    # Paragraphs, not lines: bullets stay with their list, the signature with its neighbour.
    assert not any(text.strip() in ("[Signature]", "− une navette") for text in letter_segments)
    assert any("Mes propositions" in t and "− une navette" in t for t in letter_segments)
    assert len(letter_segments) < LETTER.count("\n") / 2


def test_review_export_shows_readable_pseudonymised_verbatims(written_study, tmp_path) -> None:
    codebook.load_into_study(written_study, REPO / "codebooks" / "ptce.yaml")
    result = export_review(written_study, ReviewFilter(), output=tmp_path / "revue.xlsx")
    sheet = load_workbook(result.path)[wb.REVIEW_SHEET]
    headers = [c.value for c in sheet[1]]
    rows = [
        dict(zip(headers, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)
    ]
    texts = "\n".join(str(r[wb.COL_SEGMENT]) for r in rows)
    # Common words stay, people do not.
    assert "Je tiens un petit commerce" in texts
    assert "Le vote blanc progresse et la\nsituation est claire" in texts
    assert "Monsieur le Maire," in texts
    assert "Monsieur le Président de la communauté de communes" in texts
    assert "Jean Blanc" not in texts and "Marie-Claire" not in texts
    assert "avec Contributeur·rice 2 — Auxois et avec Contributeur·rice 3 — Auxois" in texts
    # The place-like author name is hidden whole, its pieces « les », « sur » are left alone.
    assert "Saint-Trojan" not in texts
    assert "venus de Contributeur·rice 4 — Auxois et des communes voisines sur l'île" in texts
    # Contact details.
    assert "[téléphone]" in texts and "[courriel]" in texts and "06 12" not in texts
    # The source column names the kind and the pseudonym, never the file name.
    sources = {str(r[wb.COL_SOURCE]) for r in rows}
    assert "Contribution — Contributeur·rice 1 — Auxois" in sources
    assert "Compte rendu — Contributeur·rice 4 — Auxois" in sources
    assert not any("Petit" in s or ".md" in s or ".docx" in s for s in sources)


def test_anonymous_author_gets_a_pseudonym(written_study) -> None:
    row = written_study.conn.execute(
        "SELECT p.pseudonym, p.role, i.real_name FROM participants p "
        "LEFT JOIN participant_identities i ON i.participant_id = p.id WHERE p.id = 'C04'"
    ).fetchone()
    assert tuple(row) == ("Contributeur·rice 1 — Besançon Nord", "contributeur", None)


def test_manifest_warns_about_name_pieces_that_are_common_words(written_study) -> None:
    notes = " ".join(written_study.report.manifest.notes)
    assert "« Petit »" in notes and "« Blanc »" in notes and "« Claire »" in notes
    assert "Saint-Trojan-les-Bains" in notes


def test_a_letter_ingested_as_an_interview_keeps_its_text(make_study, tmp_path: Path) -> None:
    """Without --type, « Objet : », « Impôts : », « PS : » and [Signature] are not speakers:
    they do not take turns, so the whole letter is the participant's."""
    study = make_study()
    (tmp_path / "F01.txt").write_text(LETTER, encoding="utf-8")
    manifest = tmp_path / "p.csv"
    manifest.write_text("identifiant;nom;role;territoire\nF01;Pierre Petit;acteur;auxois\n")
    report = ingest_paths(study, [tmp_path / "F01.txt"], manifest=manifest)
    [outcome] = report.files
    assert outcome.kind is SourceKind.TRANSCRIPT
    assert outcome.interviewer_segments == 0 and outcome.participant_segments > 0


def test_manifest_type_column_refuses_unknown_kinds(make_study, tmp_path: Path) -> None:
    study = make_study()
    manifest = tmp_path / "p.csv"
    manifest.write_text("identifiant;territoire;type_source\nC1;auxois;lettre\n")
    with pytest.raises(InputError) as error:
        ingest_paths(study, [], manifest=manifest)
    assert "type de source « lettre » inconnu" in str(error.value.problems[0])


def test_territories_need_only_an_id_and_problems_are_reported_once(tmp_path: Path) -> None:
    (tmp_path / "qualipipe.toml").write_text(
        '[etude]\nnom = "Contributions"\n\n'
        + "".join(
            f'[[territoires]]\nid = "commune-{i}"\nptce = ""\ntype = "autre"\n\n' for i in range(3)
        ),
        encoding="utf-8",
    )
    with pytest.raises(InputError) as error:
        load_config(tmp_path)
    problems = [p.message for p in error.value.problems]
    assert len(problems) == 1
    assert "« commune-0 », « commune-1 », « commune-2 »" in problems[0]
    assert 'type = "autre"' in problems[0]
    (tmp_path / "qualipipe.toml").write_text(
        '[etude]\nnom = "Contributions"\n\n[[territoires]]\nid = "aunis"\nptce = ""\n',
        encoding="utf-8",
    )
    [territory] = load_config(tmp_path).territories
    assert (territory.name, territory.ptce_name, territory.ptce_type) == ("aunis", "", "")


def test_one_pass_over_the_texts_whatever_the_number_of_participants() -> None:
    """Issue 15: many texts against many names in one pass. The trie's work (steps) grows with
    the texts, not with the participants: 800 participants cost what 8 do."""
    firsts = ["Anne", "Luc", "Inès", "Paul", "Rose", "Yves", "Jade", "Marc"]
    lasts = [f"Nom{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}x" for i in range(100)]
    people = [
        Participant(f"P{i}", "t", Role.ACTOR, f"Acteur·rice {i}", real_name=f"{f} {last}")
        for i, (f, last) in enumerate((f, last) for last in lasts for f in firsts)
    ]
    texts = [
        f"Réunion {i} : Anne Nomaax et M. Nombax ont parlé du petit commerce avec Rose."
        for i in range(300)
    ]
    steps = {}
    for count in (8, 800):
        hide = Pseudonymizer(people[:count])
        hidden = hide.apply_many(texts)
        steps[count] = hide.index.steps
        assert "Nomaax" not in hidden[0]
    tokens = sum(len(t.split()) for t in texts) * 2
    assert steps[800] <= tokens
    assert steps[800] <= 1.5 * steps[8]


def test_entities_spare_titles_and_common_words() -> None:
    hide = Pseudonymizer([], use_entities=True)
    text = "Bonjour, Monsieur le Maire, j'écris VOLONTAIREMENT. Monsieur le Président, merci."
    assert hide(text) == text
    assert hide(hide("J'ai vu Jean-Pierre Dubreuil.")) == "J'ai vu [personne]."


def test_policies_from_one_factory(make_study, tmp_path: Path) -> None:
    study = make_study()
    manifest = tmp_path / "p.csv"
    manifest.write_text(
        "identifiant;nom;role;territoire;enqueteur\nF1;Martine Lefèvre;fondateur;auxois;Claire Morel\n",
        encoding="utf-8",
    )
    ingest_paths(study, [], manifest=manifest)
    text = "Claire Morel a vu Martine Lefèvre (06 12 34 56 78)."
    hidden = "[personne] a vu Fondateur·rice 1 — Auxois ([téléphone])."
    # Reasons used to forget interviewers: every policy now hides them.
    for policy in (Policy.VERBATIM, Policy.LABEL, Policy.REASON):
        assert pseudonymizer_for(study, policy)(text) == hidden
    assert pseudonymizer_for(study, Policy.KEEP_NAMES)(text) == (
        "Claire Morel a vu Martine Lefèvre ([téléphone])."
    )


def test_shipped_common_words_match_the_model() -> None:
    shipped = (REPO / "qualipipe" / "data" / COMMON_WORDS_FILE).read_bytes()
    assert set(gzip.decompress(shipped).decode().split()) == set(french_words_from_model())


def test_synthesis_of_written_sources_speaks_of_contributions(written_study, tmp_path) -> None:
    from qualipipe.synthesize import synthesize_study

    codebook.load_into_study(written_study, REPO / "codebooks" / "ptce.yaml")
    out = tmp_path / "sorties"
    synthesize_study(written_study, out, territory="auxois", with_figures=False)
    [markdown] = out.rglob("synthese.md")
    text = markdown.read_text(encoding="utf-8")
    assert "1 contribution et 1 compte rendu analysés" in text
    assert "2 contributeur·rice(s)" in text
    assert "entretien" not in text.split("## ")[0]
    # The territory has a PTCE here; a written study without one just has no PTCE line part.
    assert (
        "Territoire : Auxois — PTCE Pôle alimentaire de l'Auxois (filière, émergent, rural)" in text
    )


@pytest.mark.parametrize(
    ("counts", "phrase"),
    [
        ([(SourceKind.TRANSCRIPT, 1)], "1 entretien analysé"),
        ([(SourceKind.WRITTEN, 13)], "13 contributions analysées"),
        (
            [(SourceKind.TRANSCRIPT, 3), (SourceKind.REPORT, 2)],
            "3 entretiens et 2 comptes rendus analysés",
        ),
        ([], "aucun texte analysé"),
    ],
)
def test_analysed_phrase_follows_the_kinds(counts, phrase) -> None:
    from qualipipe.synthesize.wording import analysed_phrase

    assert analysed_phrase(counts) == phrase
