"""Names the study knows (manifest, speaker labels) and people named beside them, hidden in
every text, in the conventions of real transcripts (CFPP2000: aligned lines, Praat tiers named
« Turns », speakers listed with « + », transcriber notes in square brackets)."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from qualipipe.ingest import ingest_paths
from qualipipe.pseudonymize import Pseudonymizer, pseudonymizer_for, remember_person_spans
from qualipipe.records import Participant, Role
from qualipipe.review.export import export_review
from qualipipe.study_names import BRACKETED, name_in_label
from tests.conftest import require_shared
from tests.test_review import load_codebook

OZGUR = Participant("CF1", "auxois", Role.ACTOR, "Acteur·rice 1 — Auxois", real_name="Ozgur Kiliç")
P = OZGUR.pseudonym

# A CFPP2000 transcript as the corpus writes it: one line per interval of a Praat tier, the
# « Turns » tier listing who speaks, a « Comments » tier, lower-case speech with few capitals.
CFPP_TRANSCRIPT = """\
[0.00-1.50] Turns (interviewee): Ozgur Kiliç
[1.50-7.00] Turns (interviewee): Sonia Branca-Rosoff (ENQ)
[7.00-7.26] Turns (interviewee): Benoît du Breuil-de-Pont-en-Auge
[7.26-9.45] Sonia Branca-Rosoff (ENQ) (interviewer): et vous habitez le quartier depuis longtemps
[9.45-10.15] Turns (interviewee): Augustin + Ozgur Kiliç + Noalig
[10.15-14.38] Ozgur Kiliç (interviewee): oui depuis dix ans on allait chez monsieur Béranger rue Saint-Denis pour le pain
[14.38-15.44] Benoît du Breuil-de-Pont-en-Auge (interviewee): [christine rit] c'était madame de Bordes qui tenait la boulangerie
[15.44-16.00] Christine (interviewee): oui c'est ça
[16.00-17.10] Augustin (interviewee): et la pierre du marché Saint-Pierre + on y allait avec Benoît
[17.10-18.00] Comments (interviewee): {suite de syllabes}
[18.00-21.00] Ozgur Kiliç (interviewee): Benoît du Breuil-de-Pont-en-Auge il connaît tout le monde ici
"""
# Every piece of every name the transcript holds, as a word in any case.
NAMES = re.compile(
    r"\b(ozgur|kili[cç]|sonia|branca|rosoff|beno[iî]t|breuil|auge|augustin|noalig|"
    r"b[ée]ranger|bordes|christine)\b",
    re.IGNORECASE,
)


def _cfpp_study(make_study, tmp_path: Path):  # noqa: ANN001, ANN202
    study = make_study()
    with study.transaction():
        load_codebook(study)
    transcript = tmp_path / "cfpp_1.txt"
    transcript.write_text(CFPP_TRANSCRIPT, encoding="utf-8")
    manifest = tmp_path / "participants.csv"
    manifest.write_text(
        "identifiant;nom;role;territoire;fichier\nCF1;Ozgur Kiliç;acteur;auxois;cfpp_1.txt\n",
        encoding="utf-8",
    )
    assert ingest_paths(study, [transcript], manifest=manifest).ok
    return study


def _workbook_text(path: Path) -> str:
    workbook = load_workbook(path, read_only=True)
    cells = [
        str(v) for ws in workbook.worksheets for r in ws.iter_rows(values_only=True) for v in r
    ]
    workbook.close()
    return "\n".join(c for c in cells if c != "None")


def test_no_name_of_a_cfpp_transcript_reaches_the_review_workbook(
    make_study, tmp_path: Path
) -> None:
    study = _cfpp_study(make_study, tmp_path)
    path = export_review(study, output=tmp_path / "revue.xlsx", limit=None).path
    shown = _workbook_text(path)
    assert NAMES.findall(shown) == []
    # Still readable: the civility, places, common words and tier names stay.
    assert "monsieur [personne] rue Saint-Denis" in shown
    assert "madame [personne] qui tenait" in shown
    assert "la pierre du marché Saint-Pierre" in shown
    assert "Comments" in shown  # a Praat tier is no person


def test_kept_person_spans_and_live_path_agree_on_a_cfpp_transcript(
    make_study, tmp_path: Path
) -> None:
    study = _cfpp_study(make_study, tmp_path)
    texts = [r[0] for r in study.conn.execute("SELECT text FROM segments ORDER BY id")]
    live = pseudonymizer_for(study).apply_many(texts)
    remember_person_spans(study, progress=False)
    cached = pseudonymizer_for(study, cached_entities=True)
    assert cached.apply_many(texts) == live
    assert cached.entity_reads == 0
    assert NAMES.findall("\n".join(live)) == []


def test_speaker_label_names_keep_their_particles(make_study, tmp_path: Path) -> None:
    study = _cfpp_study(make_study, tmp_path)
    hide = pseudonymizer_for(study)
    assert "Benoît du Breuil-de-Pont-en-Auge" in hide.speaker_names
    assert not {"Turns", "Comments"} & set(hide.speaker_names)
    assert hide("Benoît du Breuil-de-Pont-en-Auge est parti") == "[personne] est parti"
    assert hide.hide_speakers(["Comments", "Turns", "Sonia Branca enq"]) == [
        "Comments",
        "Turns",
        "[personne] enq",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "téléphonez à monsieur Béranger rue Saint-Denis",
            "téléphonez à monsieur [personne] rue Saint-Denis",
        ),
        ("c'était madame de Bordes qui tenait", "c'était madame [personne] qui tenait"),
        ("chez M. et Mme Courtemanche", "chez M. et Mme [personne]"),
        ("notre docteur Brandon Roger il était là", "notre docteur [personne] il était là"),
        ("avec Mlle Lecrasse.", "avec Mlle [personne]."),
        ("avec Madame Marie-Hélène Matera-Dupont hier", "avec Madame [personne] hier"),
        # Functions, idioms, acronyms and what is already hidden stay as written.
        ("Monsieur le Maire est venu", "Monsieur le Maire est venu"),
        ("Madame La Présidente a ouvert", "Madame La Présidente a ouvert"),
        ("le professeur d'EPS", "le professeur d'EPS"),
        ("au R.M.I. Untel", "au R.M.I. Untel"),
        ("c'est monsieur Untel", "c'est monsieur Untel"),
        ("Bonjour Monsieur. Paris est loin", "Bonjour Monsieur. Paris est loin"),
        ("monsieur NPERS et monsieur XXX", "monsieur NPERS et monsieur XXX"),
    ],
)
def test_names_after_a_civility_are_people(text: str, expected: str) -> None:
    assert Pseudonymizer([OZGUR])(text) == expected
    # spaCy adds nothing to hide in these (and must not undo the rule).
    assert Pseudonymizer([OZGUR], use_entities=True)(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Augustin + Ozgur Kiliç + Noalig", f"[personne] + {P} + [personne]"),
        ("Ozgur et Étienne Salvegas sont venus", f"{P} et [personne] sont venus"),
        ("Ozgur & Augustin", f"{P} & [personne]"),
        # Not a list of people: no capital, a place, or no known name in it.
        ("Ozgur et la pierre", f"{P} et la pierre"),
        ("Ozgur + Saint-Denis", f"{P} + Saint-Denis"),
        ("Paris et Lyon", "Paris et Lyon"),
    ],
)
def test_people_listed_with_a_known_name_are_hidden(text: str, expected: str) -> None:
    assert Pseudonymizer([OZGUR])(text) == expected


def test_speakers_named_in_lower_case_in_transcriber_notes() -> None:
    hide = Pseudonymizer([OZGUR], speaker_names=["Christine", "Pierre"])
    assert hide("si on n'est pas + [christine tousse] dans un milieu") == (
        "si on n'est pas + [[personne] tousse] dans un milieu"
    )
    assert hide("et [toux de christine] les touristes") == "et [toux de [personne]] les touristes"
    assert hide("[ozgur rit] oui") == f"[{P} rit] oui"
    # A first name that is also a common word stays a word, in a note or not.
    assert hide("[bruit de pierre] la pierre du mur") == "[bruit de pierre] la pierre du mur"


def test_every_turns_line_of_the_real_cfpp_group_interview_is_hidden() -> None:
    # The real CFPP2000 group interview (five speakers): its « Turns » tier lists who speaks,
    # one name or several joined by « + ». Only its speaker labels are known to the study.
    folder = require_shared("data", "cfpp2000_interviews")
    with (folder / "interviews_index.csv").open(encoding="utf-8") as handle:
        labels = next(
            row["speakers"].split("|")
            for row in csv.DictReader(handle)
            if row["interview_id"] == "Ozgur_Kilic_H_32_alii_3e-1-v2"
        )
    names = [name for label in labels if (name := name_in_label(BRACKETED.sub(" ", label)))]
    assert "Benoît du Breuil-de-Pont-en-Auge" in names and "Turns" not in names
    hide = Pseudonymizer([], speaker_names=names)
    transcript = folder / "transcripts" / "Ozgur_Kilic_H_32_alii_3e-1-v2.txt"
    turns = [
        line.split(": ", 1)[1]
        for line in transcript.read_text(encoding="utf-8").splitlines()
        if " Turns (interviewee): " in line
    ]
    assert len(turns) > 500
    shown = {hide(text) for text in turns}
    # Left: placeholders, the role mark, « + », the corpus' « inconnu » and « tous ».
    left = {word for text in shown for word in re.findall(r"[^\W\d_]+", text)}
    assert left <= {"personne", "ENQ", "inconnu", "tous"}
