"""Quotes without transcription marks: CFPP2000 and ESLO conventions (see their READMEs in
../shared/data), a real SQLite study synthesised, the .docx read back, the stored text intact."""

from __future__ import annotations

import re
from pathlib import Path

from docx import Document

from qualipipe import store
from qualipipe.quotes import mostly_marks, readable_quote
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
)
from qualipipe.report.livrable import write_livrable
from qualipipe.synthesize import synthesize_study
from qualipipe.synthesize.verbatims import Candidate, VerbatimPicker
from qualipipe.synthesize.wording import ptce_description

MARKS = re.compile(
    r"\[(?:pause|rire|mm|toux)[^\]]*\]|(?<!\S)\++(?!\S)|\beuh\b|\bNPERS\b|/\w+, \w+/"
)


def test_cfpp_and_eslo_marks_leave_the_words_said_in_their_order() -> None:
    cfpp = (
        "oui + bon euh on participe avec l'association de [personne] [pause] c'est un moment "
        "où tout le monde vient /a, à/ un petit stand [rire] et vend ses ses bric et broc XXX"
    )
    shown = readable_quote(cfpp)
    assert not MARKS.search(shown), shown
    assert shown == (
        "oui bon on participe avec l'association de [personne] c'est un moment où tout le monde "
        "vient a un petit stand et vend ses bric et broc (inaudible)"
    )
    eslo = (
        "monseigneur NPERS est très très attaché à à cette présence de l'Eglise (oui) en en ville"
    )
    assert readable_quote(eslo) == (
        "monseigneur [personne] est très très attaché à cette présence de l'Eglise en ville"
    )
    # Written text keeps its punctuation, brackets and slashes.
    written = "Transition écologique : soutenir le bio (circuits courts) [...] actifs/retraités."
    assert readable_quote(written) == written
    assert readable_quote("[00:12:31] j'appr- je sais [12.30-15.20] pas") == "je sais pas"
    assert readable_quote("des débats \uf0d8 Organiser") == "des débats • Organiser"


def test_a_quote_made_mostly_of_marks_comes_after_a_worded_one() -> None:
    marks = "oui [pause] non [pause] euh [pause] bon [pause] euh [pause] ben [pause] voilà [pause]"
    worded = "il faudrait un bus le matin pour que les jeunes aillent travailler en ville"
    assert mostly_marks(marks) and not mostly_marks(worded)
    picker = VerbatimPicker({1: marks, 2: worded})
    candidates = [Candidate(1, marks, "p1", True), Candidate(2, worded, "p2", True)]
    assert [c.segment_id for c in picker.pick(candidates, 2)] == [2, 1]
    # A lone word is no quote beside a real one, whatever its place; alone, it is all there is.
    lone = Candidate(3, "se [rire]", "p3", True)
    assert [c.segment_id for c in picker.pick([lone, *candidates], 3)] == [2, 1]
    assert [c.segment_id for c in VerbatimPicker({3: lone.text}).pick([lone], 3)] == [3]


def test_synthesis_quotes_are_readable_and_the_stored_segment_is_not_touched(
    tmp_path: Path,
) -> None:
    root = tmp_path / "etude"
    root.mkdir()
    (root / "qualipipe.toml").write_text(
        '[etude]\nnom = "Marques"\n\n[[territoires]]\nid = "ivry"\nnom = "Ivry"\n', encoding="utf-8"
    )
    said = [
        "euh le le bus [pause] il passe plus le matin + alors pour aller travailler euh c'est "
        "/dur, sur/ [rire] pour les jeunes du quartier",
        "on a on a monté euh une épicerie [pause] solidaire avec les voisins [mm] ça marche bien",
    ]
    with store.open_study(root) as study, study.transaction() as conn:
        codes = (Code("ENJ", "Enjeux", "ENJ", codable=False), Code("ENJ_MOB", "Mobilité", "ENJ", parent="ENJ"))  # fmt: skip
        store.save_codebook_version(conn, Codebook("Grille", "1", codes), "grille")
        ids = []
        for n, text in enumerate(said, start=1):
            pid = f"IV{n}"
            store.upsert_participant(conn, Participant(pid, "ivry", Role.ACTOR, f"Acteur·rice {n}"))
            source = Source(f"{pid}.txt", SourceKind.TRANSCRIPT, text, pid, "ivry")
            [segment_id] = store.insert_segments(
                conn, store.insert_source(conn, source), [Segment(0, len(text), text, pid)]
            )
            store.append_decision(conn, Decision(segment_id, Action.ACCEPT, "ana", "ENJ_MOB"))
            ids.append(segment_id)
    with store.open_study(root) as study:
        synthesize_study(study, tmp_path / "sorties", with_figures=False)
        livrable = write_livrable(study, tmp_path / "sorties", "ivry").path
        stored = [s.text for s in store.active_segments(study.conn)]
    assert sorted(stored) == sorted(said)  # offsets and text as ingested
    docx = next((tmp_path / "sorties").rglob("synthese.docx"))
    cells = [c.text for t in Document(str(docx)).tables for row in t.rows for c in row.cells]
    quotes = [c for c in cells if "«" in c and "bus" in c or "épicerie" in c]
    assert quotes, cells
    for quote in quotes:
        assert not MARKS.search(quote), quote
    assert any(
        "le bus il passe plus le matin alors pour aller travailler c'est dur pour" in q
        for q in quotes
    )
    assert any(
        "on a monté une épicerie solidaire avec les voisins ça marche bien" in q for q in quotes
    )

    # The same study as a livrable: quotes readable, and no empty PTCE keys shown as « , , ».
    text = "\n".join(p.text for p in Document(str(livrable)).paragraphs)
    cells = [c.text for t in Document(str(livrable)).tables for row in t.rows for c in row.cells]
    assert any("le bus il passe plus le matin alors" in c for c in cells), cells
    assert not any(MARKS.search(c) for c in cells if "«" in c)
    assert "PTCE ," not in text and "(, , )" not in text and "PTCE  " not in text, text
    assert "Le diagnostic territorial partagé du territoire Ivry a réuni" in text
    # No founder in this study: the livrable's code tables have no founders' columns of zeros.
    headers = [[c.text for c in t.rows[0].cells] for t in Document(str(livrable)).tables]
    codes = next(h for h in headers if "Verbatims représentatifs" in h)
    assert "Acteurs" in codes and "Fondateurs" not in codes and "% fondateurs" not in codes


def test_a_ptce_named_ptce_is_not_prefixed_twice() -> None:
    assert ptce_description("Ain", "PTCE de l'Ain", ("filière",)) == "Ain — PTCE de l'Ain (filière)"
    assert ptce_description("Ain", "Pôle nourricier", ()) == "Ain — PTCE Pôle nourricier"
    assert ptce_description("Ain", "", ()) == "Ain"
