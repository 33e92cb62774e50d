"""Pseudonymisation: manifest names in any case/accent variant, spaCy PER entities, options,
and no manifest name in any synthesis output of the example study."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from qualipipe.pseudonymize import (
    Policy,
    Pseudonymizer,
    find_person_spans,
    may_name_people,
    name_variants,
    pseudonymizer_for,
    remember_person_spans,
)
from qualipipe.records import Participant, Role
from qualipipe.store import upsert_participant
from qualipipe.text import fold_aligned as fold

REPO = Path(__file__).resolve().parents[1]
MARTINE = Participant(
    id="F1",
    territory_id="auxois",
    role=Role.FOUNDER,
    pseudonym="Fondateur·rice 1 — Auxois",
    real_name="Martine Lefèvre-Dubois",
    organisation="Ressourcerie du Val",
)


@pytest.mark.parametrize(
    "written",
    [
        "Martine Lefèvre-Dubois",
        "MARTINE LEFEVRE-DUBOIS",
        "martine lefevre-dubois",
        "Lefèvre-Dubois Martine",
        "M. Lefèvre-Dubois",
        "Mme Lefevre-Dubois",
        "Madame Dubois",
        "Martine",
        "LEFÈVRE",
        "Dubois",
    ],
)
def test_manifest_name_variants_any_case_or_accent(written: str) -> None:
    hide = Pseudonymizer([MARTINE])
    result = hide(f"Comme le disait {written}, la ressourcerie manque de place.")
    assert "Fondateur·rice 1 — Auxois" in result
    for part in ("martine", "lefevre", "dubois"):
        assert part not in fold(result)


def test_words_containing_a_name_are_not_touched() -> None:
    participant = Participant(
        "A1", "auxois", Role.ACTOR, "Acteur·rice 1 — Auxois", real_name="Paul Marin"
    )
    assert (
        Pseudonymizer([participant])("Les marins et la paulownia.") == "Les marins et la paulownia."
    )


def test_person_entities_replaced_organisations_kept_unless_asked() -> None:
    text = "J'ai rencontré Jean-Pierre Dubreuil avec Martine à la Ressourcerie du Val."
    hide = Pseudonymizer([MARTINE], use_entities=True)
    assert hide(text) == (
        "J'ai rencontré [personne] avec Fondateur·rice 1 — Auxois à la Ressourcerie du Val."
    )
    hide_all = Pseudonymizer([MARTINE], use_entities=True, hide_organisations=True)
    assert hide_all(text).endswith("à la [organisation].")
    keep = Pseudonymizer([MARTINE], use_entities=True, keep_names=True)
    assert keep(text) == text


def test_apply_many_matches_apply() -> None:
    hide = Pseudonymizer([MARTINE], use_entities=True)
    texts = ["Martine parle.", "Rien ici.", "Avec Jean-Pierre Dubreuil."]
    assert hide.apply_many(texts) == [hide(t) for t in texts]


def test_name_variants_include_reversed_and_initial() -> None:
    variants = name_variants("Jean Dupont")
    assert {"Jean Dupont", "Dupont Jean", "J. Dupont", "M. Dupont", "Mme Dupont"} <= set(variants)


def test_pseudonymizer_for_study_covers_participants_and_interviewers(
    make_study, tmp_path: Path
) -> None:
    from qualipipe.ingest.manifest import apply_manifest

    study = make_study()
    manifest = tmp_path / "p.csv"
    manifest.write_text(
        "identifiant;nom;role;territoire;enqueteur\nF1;Martine Lefèvre;fondateur;auxois;Claire Morel\n",
        encoding="utf-8",
    )
    apply_manifest(study, manifest)
    hide = pseudonymizer_for(study)
    assert (
        hide("claire morel interroge MARTINE LEFEVRE.")
        == "[personne] interroge Fondateur·rice 1 — Auxois."
    )
    assert pseudonymizer_for(study, Policy.KEEP_NAMES)("Martine Lefèvre") == "Martine Lefèvre"


def _output_texts(folder: Path) -> dict[Path, str]:
    """Every text an analyst can read in the synthesis outputs (.md, .docx, .xlsx, .csv)."""
    import docx
    from openpyxl import load_workbook

    texts: dict[Path, str] = {}
    for path in folder.rglob("*"):
        suffix = path.suffix.lower()
        if suffix in (".md", ".csv", ".txt", ".json", ".html", ".svg"):
            texts[path] = path.read_text(encoding="utf-8", errors="replace")
        elif suffix == ".docx":
            document = docx.Document(str(path))
            parts = [p.text for p in document.paragraphs]
            parts += [c.text for t in document.tables for r in t.rows for c in r.cells]
            texts[path] = "\n".join(parts)
        elif suffix == ".xlsx":
            workbook = load_workbook(path, read_only=True)
            texts[path] = "\n".join(
                str(v)
                for ws in workbook.worksheets
                for row in ws.iter_rows(values_only=True)
                for v in row
                if v
            )
            workbook.close()
    return texts


def test_no_manifest_name_in_any_synthesis_output_of_the_example_study(
    tmp_path: Path, example_copy
) -> None:
    from qualipipe import synthesize
    from qualipipe.records import Action, Decision
    from qualipipe.store import append_decision, current_codebook, list_participants, open_study

    study = open_study(example_copy())
    try:
        codes = [c.id for c in current_codebook(study.conn).codable()]
        participants = list_participants(study.conn, with_real_names=True)
        names = [p.real_name for p in participants] + [
            p.interviewer for p in participants if p.interviewer
        ]
        name_re = re.compile("|".join(re.escape(fold(v)) for n in names for v in name_variants(n)))
        # Code every interviewee segment that names someone, so that those verbatims are
        # candidates for every table and quote of the synthesis.
        rows = study.conn.execute(
            "SELECT id, text FROM segments WHERE is_interviewer = 0"
        ).fetchall()
        naming = [r["id"] for r in rows if name_re.search(fold(r["text"]))]
        assert len(naming) >= 5
        with study.transaction() as conn:
            for index, segment_id in enumerate(naming):
                for code in (codes[index % len(codes)], codes[(index + 7) % len(codes)]):
                    append_decision(conn, Decision(segment_id, Action.ADD, "analyste", code))
        out = tmp_path / "outputs"
        synthesize.synthesize_study(study, out)
    finally:
        study.close()
    texts = _output_texts(out)
    assert texts
    # Organisation names are kept by design (hide_organisations=True hides them), even when they
    # contain a surname ("Ranoux Bâtiment"): remove them before looking for person names.
    organisations = sorted(
        {fold(p.organisation) for p in participants if p.organisation}, key=len, reverse=True
    )
    for path, text in texts.items():
        folded = fold(text)
        for organisation in organisations:
            folded = folded.replace(organisation, " ")
        texts[path] = folded
    word = re.compile(
        r"(?<!\w)(?:"
        + "|".join(re.escape(fold(v)) for n in names for v in name_variants(n))
        + r")(?!\w)"
    )
    leaks = {
        str(path.relative_to(out)): sorted(set(word.findall(fold(text))))
        for path, text in texts.items()
        if word.search(fold(text))
    }
    assert leaks == {}


def test_hyphenated_first_name_takes_the_surname_with_it() -> None:
    # The manifest holds the first name only, without its hyphen; the transcript the whole name.
    marie = Participant(
        "A7", "auxois", Role.ACTOR, "Acteur·rice 7 — Auxois", real_name="Marie Helene"
    )
    for hide in (Pseudonymizer([marie]), Pseudonymizer([marie], use_entities=True)):
        result = hide("Bonjour Marie-Hélène Matera, vous habitez le quartier ?")
        assert result == "Bonjour Acteur·rice 7 — Auxois, vous habitez le quartier ?"
    # A territory, a title or a word after a comma stays: only a surname-like word is taken in.
    places = Pseudonymizer([marie], places=["Auxois"])
    assert places("Marie Helene Auxois, Marie Helene Le Goff, Marie Helene, Pires") == (
        "Acteur·rice 7 — Auxois Auxois, Acteur·rice 7 — Auxois Le Goff, "
        "Acteur·rice 7 — Auxois, Pires"
    )


def _interview_without_listed_interviewer(make_study):  # noqa: ANN001, ANN202
    from tests.conftest import insert_lines_source
    from tests.test_review import load_codebook

    study = make_study()
    with study.transaction():
        load_codebook(study)
        upsert_participant(study.conn, replace(MARTINE, interviewer=""))
        insert_lines_source(
            study.conn,
            "entretiens/f1.txt",
            [
                "Bonjour, vous pouvez vous présenter ?",
                "Je m'occupe de la ressourcerie depuis dix ans.",
                "Merci. Et les locaux ?",
                "Oui Mat Pires, les locaux manquent vraiment.",
            ],
            # The last turn is a second interviewee the manifest does not list either.
            speakers=[
                "Mat Pires (ENQ)",
                "Martine Lefèvre-Dubois",
                "Mat Pires (ENQ)",
                "Valentine Testanier",
            ],
            interviewer={0, 2},
            participant_id="F1",
            territory_id="auxois",
            path="entretiens/f1.txt",
            format="txt",
        )
    return study


def test_interviewer_named_only_in_speaker_labels_is_hidden(make_study, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    from qualipipe.review.export import export_review

    study = _interview_without_listed_interviewer(make_study)
    hide = pseudonymizer_for(study)
    assert hide("Mat Pires (ENQ)") == "[personne] (ENQ)"
    assert "Pires" not in hide("Merci à Mat Pires et à Mat.")
    # In the review workbook the neighbouring interviewer turns are shown by role, no name.
    path = export_review(study, output=tmp_path / "revue.xlsx", limit=None).path
    workbook = load_workbook(path, read_only=True)
    cells = [
        str(v) for ws in workbook.worksheets for r in ws.iter_rows(values_only=True) for v in r
    ]
    workbook.close()
    shown = "\n".join(cells)
    assert "Enquêteur·rice : Merci. Et les locaux ?" in shown
    assert "Pires" not in shown and "Lefèvre" not in shown
    assert "Testanier" not in shown  # nor in the « Emplacement » column, which names the speaker


def test_kept_person_spans_spare_spacy_and_change_nothing(make_study) -> None:
    study = _interview_without_listed_interviewer(make_study)
    texts = [r[0] for r in study.conn.execute("SELECT text FROM segments")]
    texts += ["Jean-Pierre Dubreuil est passé hier.", "Alors on verra."]
    fresh = pseudonymizer_for(study, cached_entities=True)
    expected = fresh.apply_many(texts)
    assert fresh.entity_reads > 0  # nothing kept yet: spaCy read them
    with study.transaction():
        insert_lines_source_texts(study, texts[-2:])
    remember_person_spans(study, progress=False)
    cached = pseudonymizer_for(study, cached_entities=True)
    assert cached.apply_many(texts) == expected
    assert cached.entity_reads == 0


def insert_lines_source_texts(study, texts: list[str]) -> None:  # noqa: ANN001
    from tests.conftest import insert_lines_source

    insert_lines_source(study.conn, "ecrits/notes.txt", texts, kind="written", path="notes.txt")


def test_texts_spacy_skips_hold_no_person_it_would_hide() -> None:
    # `may_name_people` must only skip texts where spaCy's people would all be dropped anyway:
    # checked on every line of the example interviews with the real model.
    lines = [
        line.strip()
        for path in sorted((REPO / "examples" / "etude-demo" / "entretiens").glob("*.txt"))
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    lines += ["Alors Dupont est venu.", "Et Le Maire aussi.", "Oui. Voilà."]
    hide = Pseudonymizer([MARTINE], use_entities=True)
    skipped = [t for t in lines if not may_name_people(t, hide.index.common)]
    assert "Alors Dupont est venu." not in skipped
    assert len(skipped) >= 20  # the check below is about real texts, not an empty list
    people = find_person_spans({str(i): text for i, text in enumerate(skipped)})
    for i, text in enumerate(skipped):
        spans, pending = hide._spans(text)
        assert not pending
        assert hide._entity_spans(text, people[str(i)], spans, pending) == [], text


def test_speaker_labels_name_people_or_roles_only() -> None:
    hide = Pseudonymizer([MARTINE], use_entities=True)
    labels = ["Caroline", "Pierre-Fabien", "Benoît du Breuil-de-Pont-en-Auge", "Enquêtrice"]
    labels += ["Martine", "Mat Pires (ENQ)", "Acteur", "spk1", "Fondateur·rice 1 — Auxois"]
    assert hide.hide_speakers(labels) == [
        "[personne]",
        "[personne]",
        "[personne]",
        "Enquêtrice",
        "Fondateur·rice 1 — Auxois",
        "[personne] (ENQ)",
        "Acteur",
        "spk1",
        "Fondateur·rice 1 — Auxois",  # a label ingest already wrote with the pseudonym
    ]
