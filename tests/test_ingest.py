"""Ingestion into a real study: manifest, transcripts, re-ingest, bad input, CLI."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest

from qualipipe.errors import InputError
from qualipipe.ingest import SegmentationParams, ingest_paths
from qualipipe.ingest.manifest import apply_manifest, read_manifest
from qualipipe.records import Action, Decision
from qualipipe.store import append_decision, get_meta, list_participants

DATA = Path(__file__).parent / "data" / "ingest"
HEADER = "identifiant;nom;role;organisation;type_acteur;territoire;consentement;date_entretien;enqueteur;fichier;jeton\n"
ROWS = (
    "AUX-F1;Martine Lefèvre;fondateur;Ressourcerie du Val;structure de l'ESS;auxois;oui;2026-02-01;Claire Morel;entretien_nom.txt;tokA\n"
    "AUX-A1;Paul Girard;acteur;Mairie;collectivité;Auxois;oui;;;entretien_crochets.txt|entretien_qr.txt;\n"
    "BES-A1;Bernard Petit;Acteur;;citoyen;besancon-nord;non;;ENQ Julie;entretien.TextGrid;\n"
)


def write_manifest(folder: Path, rows: str = ROWS, name: str = "participants.csv") -> Path:
    path = folder / name
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def segments_of(study, key_part: str) -> list:
    return study.conn.execute(
        """SELECT s.*, src.text AS source_text FROM segments s JOIN sources src ON src.id = s.source_id
           WHERE src.key LIKE ? AND s.retired = 0 ORDER BY s.ordinal""",
        (f"%{key_part}%",),
    ).fetchall()


def assert_offsets_hold(study) -> None:
    rows = study.conn.execute(
        'SELECT s.start, s."end", s.text, src.text AS source_text FROM segments s '
        "JOIN sources src ON src.id = s.source_id WHERE s.retired = 0"
    ).fetchall()
    assert rows
    for r in rows:
        assert r["source_text"][r["start"] : r["end"]] == r["text"]


# --------------------------------------------------------------------------------- manifest


def test_manifest_pseudonyms_are_stable_and_real_names_kept_apart(
    make_study, tmp_path: Path
) -> None:
    study = make_study()
    apply_manifest(study, write_manifest(tmp_path))
    first = {p.id: p.pseudonym for p in list_participants(study.conn)}
    assert first == {
        "AUX-F1": "Fondateur·rice 1 — Auxois",
        "AUX-A1": "Acteur·rice 1 — Auxois",
        "BES-A1": "Acteur·rice 1 — Besançon Nord",
    }
    names = dict(study.conn.execute("SELECT participant_id, real_name FROM participant_identities"))
    assert names["AUX-F1"] == "Martine Lefèvre"
    assert "Lefèvre" not in str(list(study.conn.execute("SELECT * FROM participants")))
    # A newcomer listed FIRST must not renumber the others.
    newcomer = "AUX-A0;Nina Roux;acteur;;entreprise;auxois;oui;;;;\n"
    report = apply_manifest(study, write_manifest(tmp_path, newcomer + ROWS))
    again = {p.id: p.pseudonym for p in list_participants(study.conn)}
    assert {k: again[k] for k in first} == first
    assert again["AUX-A0"] == "Acteur·rice 2 — Auxois"
    assert report.added == ["AUX-A0"] and sorted(report.updated) == ["AUX-A1", "AUX-F1", "BES-A1"]
    besancon = next(p for p in list_participants(study.conn) if p.id == "BES-A1")
    assert besancon.consent is False and besancon.interviewer == "ENQ Julie"


def test_manifest_xlsx_with_accented_headers(make_study, tmp_path: Path) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(
        ["Identifiant", "Prénom", "Nom", "Rôle", "Territoire", "Type acteur", "Date entretien"]
    )
    sheet.append(
        ["X1", "Éloïse", "Marchal", "fondateur", "Besançon Nord", "SIAE", date(2026, 3, 2)]
    )
    path = tmp_path / "participants.xlsx"
    workbook.save(path)
    study = make_study()
    entries = read_manifest(path, study.config)
    assert entries[0].participant.territory_id == "besancon-nord"
    assert entries[0].participant.actor_type == "SIAE"
    assert entries[0].participant.real_name == "Éloïse Marchal"
    assert entries[0].participant.interview_date == "2026-03-02"


@pytest.mark.parametrize(
    ("rows", "header", "expected"),
    [
        (
            ROWS + ROWS.splitlines(keepends=True)[0],
            HEADER,
            ["ligne 5", "colonne identifiant", "AUX-F1", "en double"],
        ),
        ("Z1;Zoé;maire;;autre;auxois;oui;;;;\n", HEADER, ["ligne 2", "colonne role", "maire"]),
        ("Z1;Zoé;acteur;;banque;auxois;oui;;;;\n", HEADER, ["colonne type_acteur", "banque"]),
        (
            "Z1;Zoé;acteur;;autre;lyon;oui;;;;\n",
            HEADER,
            ["colonne territoire", "lyon", "auxois, besancon-nord"],
        ),
        (
            "Z1;Zoé;acteur\n",
            "identifiant;nom;role\n",
            ["colonne obligatoire « territoire » absente"],
        ),
        (
            ROWS + "Z1;Zoé;acteur;;autre;auxois;oui;;;ENTRETIEN_QR.txt;\n",
            HEADER,
            ["ligne 5", "colonne fichier", "déjà attribué à AUX-A1"],
        ),
    ],
)
def test_manifest_errors_name_row_and_column(
    make_study, tmp_path: Path, rows: str, header: str, expected: list[str]
) -> None:
    study = make_study()
    path = tmp_path / "participants.csv"
    path.write_text(header + rows, encoding="utf-8")
    with pytest.raises(InputError) as raised:
        apply_manifest(study, path)
    message = str(raised.value)
    assert "participants.csv" in message
    for fragment in expected:
        assert fragment in message
    assert list_participants(study.conn) == []  # nothing half-written


def test_manifest_actor_types_written_in_plain_words(make_study, tmp_path: Path) -> None:
    # An analyst writes « association » or « Élue » in the type column, as consultation
    # platforms do: understood, and the same words as a table of written answers.
    study = make_study()
    rows = (
        "AUX-F1;Martine Lefèvre;fondateur;Ressourcerie;association;auxois;oui;;;;\n"
        "AUX-A1;Paul Girard;acteur;Mairie;Élue municipale;auxois;oui;;;;\n"
    )
    apply_manifest(study, write_manifest(tmp_path, rows))
    types = {p.id: p.actor_type for p in list_participants(study.conn)}
    assert types == {"AUX-F1": "structure de l'ESS", "AUX-A1": "collectivité"}


# -------------------------------------------------------------------------------- transcripts


def copy_data(tmp_path: Path, *names: str) -> Path:
    folder = tmp_path / "entretiens"
    folder.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(DATA / name, folder / name)
    return folder


def test_batch_ingests_good_files_and_reports_bad_ones(make_study, tmp_path: Path) -> None:
    study = make_study()
    folder = copy_data(tmp_path, "entretien_nom.txt", "entretien_qr.txt", "entretien.TextGrid")
    (folder / "inconnu.txt").write_text("Q : Bonjour ?\nR : Bonjour.\n", encoding="utf-8")
    (folder / "vide.txt").write_bytes(b"")
    report = ingest_paths(study, [folder], manifest=write_manifest(tmp_path))
    status = {Path(f.path).name: f.status for f in report.files}
    assert status == {
        "entretien.TextGrid": "nouveau",
        "entretien_nom.txt": "nouveau",
        "entretien_qr.txt": "nouveau",
        "inconnu.txt": "erreur",
        "vide.txt": "erreur",
    }
    assert not report.ok
    errors = {Path(f.path).name: str(f.error) for f in report.failed}
    assert "participant inconnu" in errors["inconnu.txt"] and "manifeste" in errors["inconnu.txt"]
    assert "vide" in errors["vide.txt"]
    assert_offsets_hold(study)
    rows = segments_of(study, "entretien_nom.txt")
    # Interviewer turns are kept but marked; the participant's own name becomes the pseudonym.
    assert [(r["speaker"], r["is_interviewer"]) for r in rows] == [
        ("Enquêtrice", 1),
        ("Fondateur·rice 1 — Auxois", 0),
        ("Enquêtrice", 1),
        ("Fondateur·rice 1 — Auxois", 0),
    ]
    textgrid = segments_of(study, "entretien.TextGrid")
    assert [(r["is_interviewer"], r["start_time"]) for r in textgrid] == [
        (1, 0.0),
        (0, 2.6),
        (1, 7.0),
        (0, 8.0),
    ]
    assert get_meta(study.conn, "segmentation")["min_chars"] == SegmentationParams().min_chars


def test_interviewer_from_manifest_enqueteur(make_study, tmp_path: Path) -> None:
    study = make_study()
    folder = tmp_path / "e"
    folder.mkdir()
    (folder / "e1.txt").write_text(
        "Claire Morel : Que fait votre structure ?\nMartine : Du réemploi.\n"
        "Claire Morel : Depuis quand ?\nMartine : Depuis 2012.\n",
        encoding="utf-8",
    )
    rows = ROWS.replace("entretien_nom.txt", "e1.txt")
    ingest_paths(study, [folder], manifest=write_manifest(tmp_path, rows))
    assert [r["is_interviewer"] for r in segments_of(study, "e1.txt")] == [1, 0, 1, 0]


def test_long_turns_split_into_sentences_short_ones_merged(make_study, tmp_path: Path, nlp) -> None:
    study = make_study()
    sentences = [
        "Le pôle est né en 2019 autour de trois structures de l'insertion par l'activité économique.",
        "Oui.",
        "Nous voulions mutualiser un entrepôt, un camion frigorifique et un poste de logisticien.",
        "La communauté de communes a mis à disposition un bâtiment agricole désaffecté.",
        "Aujourd'hui, le principal besoin reste le financement du poste de coordination.",
        "Sans lui, la coopération repose sur la bonne volonté de chacun, et elle s'épuise.",
        "Les élus le savent mais les crédits de la politique de la ville ne couvrent pas tout.",
    ]
    folder = tmp_path / "e"
    folder.mkdir()
    (folder / "entretien_nom.txt").write_text(
        "Enquêtrice : Racontez.\n\nMartine Lefèvre : " + " ".join(sentences) + "\n",
        encoding="utf-8",
    )
    ingest_paths(study, [folder], manifest=write_manifest(tmp_path))
    texts = [r["text"] for r in segments_of(study, "entretien_nom.txt")]
    assert texts[0] == "Racontez."
    # "Oui." is too short to be coded alone: merged with the sentence that follows it.
    assert texts[1:] == [sentences[0], f"{sentences[1]} {sentences[2]}", *sentences[3:]]
    assert_offsets_hold(study)


def test_unpunctuated_speech_is_cut_at_pauses(make_study, tmp_path: Path) -> None:
    study = make_study()
    chunk = "alors euh on a commencé avec les jardins et puis les gens sont venus petit à petit"
    speech = " + ".join([chunk] * 20)
    folder = tmp_path / "e"
    folder.mkdir()
    (folder / "entretien_nom.txt").write_text(f"Q : et alors\nR : {speech}\n", encoding="utf-8")
    ingest_paths(study, [folder], manifest=write_manifest(tmp_path))
    rows = segments_of(study, "entretien_nom.txt")
    params = SegmentationParams()
    answer = rows[1:]
    assert len(answer) > 1
    assert all(len(r["text"]) <= params.max_chars for r in answer)
    assert all(r["text"].startswith("alors") or r["text"].startswith("+") for r in answer)
    assert "".join(r["text"] for r in answer).replace(" ", "") == speech.replace(" ", "")


# ------------------------------------------------------------------------------- re-ingest


def test_same_file_twice_changes_nothing(make_study, tmp_path: Path) -> None:
    study = make_study()
    folder = copy_data(tmp_path, "entretien_nom.txt", "entretien_qr.txt")
    manifest = write_manifest(tmp_path)
    ingest_paths(study, [folder], manifest=manifest)
    before = list(map(tuple, study.conn.execute("SELECT * FROM segments ORDER BY id")))
    sources_before = list(map(tuple, study.conn.execute("SELECT * FROM sources ORDER BY id")))
    report = ingest_paths(study, [folder], manifest=manifest)
    assert {f.status for f in report.files} == {"inchangé"}
    assert list(map(tuple, study.conn.execute("SELECT * FROM segments ORDER BY id"))) == before
    assert (
        list(map(tuple, study.conn.execute("SELECT * FROM sources ORDER BY id"))) == sources_before
    )


def test_corrected_transcript_keeps_decisions_on_unchanged_segments(
    make_study, tmp_path: Path
) -> None:
    study = make_study()
    folder = copy_data(tmp_path, "entretien_nom.txt")
    ingest_paths(study, [folder], manifest=write_manifest(tmp_path))
    rows = segments_of(study, "entretien_nom.txt")
    kept, changed = rows[3], rows[1]
    with study.transaction() as conn:
        append_decision(conn, Decision(kept["id"], Action.ACCEPT, "alice", "BES_FINANCEMENT"))
        append_decision(conn, Decision(changed["id"], Action.ADD, "alice", "MOT_INSERTION"))
    # The analyst fixes a typo in turn 2 and adds a question at the top.
    path = folder / "entretien_nom.txt"
    corrected = path.read_text(encoding="utf-8").replace("douze salariés", "quatorze salariés")
    path.write_text("Enquêtrice : On commence ?\n\n" + corrected, encoding="utf-8")

    report = ingest_paths(study, [folder])
    outcome = report.files[0]
    assert (outcome.status, outcome.kept, outcome.added, outcome.retired) == ("mis à jour", 3, 2, 1)
    after = segments_of(study, "entretien_nom.txt")
    moved = next(r for r in after if r["id"] == kept["id"])
    assert moved["text"] == kept["text"] and moved["ordinal"] == kept["ordinal"] + 1
    assert moved["source_text"][moved["start"] : moved["end"]] == kept["text"]
    assert moved["start"] != kept["start"]
    from qualipipe.store import current_coding

    assert current_coding(study.conn)[(kept["id"], "BES_FINANCEMENT")] is True
    assert [(d.segment_id, d.code_id) for d in report.lost_decisions] == [
        (changed["id"], "MOT_INSERTION")
    ]
    assert "recodez" in report.lost_decisions[0].describe()
    retired = study.conn.execute(
        "SELECT retired FROM segments WHERE id = ?", (changed["id"],)
    ).fetchone()
    assert retired["retired"] == 1  # never deleted: the decision still points at a real row
    assert_offsets_hold(study)


# ----------------------------------------------------------------------------------- CLI


def test_cli_exit_status_and_summary(make_study, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from qualipipe.cli import app

    study = make_study()
    folder = copy_data(tmp_path, "entretien_nom.txt")
    manifest = write_manifest(tmp_path)
    runner = CliRunner()
    ok = runner.invoke(
        app, ["ingest", str(folder), "--manifest", str(manifest), "--study", str(study.root)]
    )
    assert ok.exit_code == 0, ok.output
    assert "1 nouveau" in ok.output
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4")
    bad = runner.invoke(
        app, ["ingest", str(folder / "notes.pdf"), str(folder), "--study", str(study.root)]
    )
    assert bad.exit_code == 1
    assert "1 inchangé" in bad.output and "1 erreur" in bad.output
    assert "Traceback" not in bad.output


def test_transcriber_header_before_the_first_turn_is_not_coded_as_interviewee(
    make_study, tmp_path
) -> None:
    from qualipipe.ingest import ingest_paths

    study = make_study()
    manifest = tmp_path / "participants.csv"
    manifest.write_text(
        "identifiant;nom;role;organisation;type_acteur;territoire;consentement;fichier\n"
        "F01;Hélène Moreau;fondateur;Les Jardins;structure de l'ESS;auxois;oui;f01.txt\n",
        encoding="utf-8",
    )
    transcript = tmp_path / "f01.txt"
    transcript.write_text(
        "[Entretien fondateur — Auxois — 3 mars 2026 — durée 45 min]\n\n"
        "Enquêtrice : Pourquoi coopérer ?\n\n"
        "Hélène Moreau : Parce que seuls on n'y arrive pas, il faut mutualiser.\n",
        encoding="utf-8",
    )
    report = ingest_paths(study, [transcript], manifest=manifest)
    assert report.ok
    rows = study.conn.execute(
        "SELECT text, is_interviewer FROM segments ORDER BY ordinal"
    ).fetchall()
    coded = [r["text"] for r in rows if not r["is_interviewer"]]
    assert coded == ["Parce que seuls on n'y arrive pas, il faut mutualiser."]
    assert rows[0]["text"].startswith("[Entretien fondateur") and rows[0]["is_interviewer"] == 1


def test_an_interview_whose_interviewer_nobody_named_is_flagged_with_who_asks(
    make_study, tmp_path: Path
) -> None:
    # ESLO-like labels: codes, not roles. Nothing says which speaker asks the questions, so
    # their questions would be coded as the participant's words: the import says so, names
    # the speaker asking the questions, and stops saying it once the manifest names them.
    from click.testing import CliRunner

    from qualipipe.cli import app

    study = make_study()
    folder = tmp_path / "e"
    folder.mkdir()
    questions = ["Vous habitez Orléans depuis quand ?", "Et votre travail ?", "Le quartier ?"]
    questions += ["Vos enfants vont à l'école ?", "Le dimanche, vous sortez ?", "Et le cinéma ?"]
    lines = [f"OU : {q}\nBA725 : Oui, depuis longtemps, c'est bien." for q in questions]
    (folder / "e1.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = ROWS.replace("entretien_nom.txt", "e1.txt").replace("Claire Morel", "")
    runner = CliRunner()
    args = ["ingest", str(folder), "--study", str(study.root), "--manifest"]
    flagged = runner.invoke(app, [*args, str(write_manifest(tmp_path, rows))])
    assert flagged.exit_code == 0, flagged.output
    assert "1 entretien(s) à plusieurs locuteurs sans enquêteur reconnu" in flagged.output
    assert "« OU » pose le plus de questions" in " ".join(flagged.output.split())
    assert {r["is_interviewer"] for r in segments_of(study, "e1.txt")} == {0}

    named = write_manifest(tmp_path, rows.replace("2026-02-01;;", "2026-02-01;OU;"))
    fixed = runner.invoke(app, [*args, str(named)])
    assert fixed.exit_code == 0, fixed.output
    assert "sans enquêteur reconnu" not in fixed.output
    assert [r["is_interviewer"] for r in segments_of(study, "e1.txt")][:2] == [1, 0]
