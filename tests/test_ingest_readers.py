"""Every transcript reader on small real files (tests/data/ingest) and generated .docx/.odt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qualipipe.errors import InputError
from qualipipe.ingest.encoding import decode_bytes
from qualipipe.ingest.readers import INTERVIEWER, ReadTranscript, read_transcript

DATA = Path(__file__).parent / "data" / "ingest"


def spoken(transcript: ReadTranscript) -> list[tuple[str, str]]:
    return [(t.speaker, transcript.text[t.start : t.end]) for t in transcript.turns]


def test_colon_labels_txt_kept_as_read() -> None:
    path = DATA / "entretien_nom.txt"
    transcript = read_transcript(path)
    assert transcript.text == path.read_text(encoding="utf-8")
    assert spoken(transcript) == [
        ("Enquêtrice", "Bonjour, pouvez-vous présenter votre structure ?"),
        (
            "Martine Lefèvre",
            "Bonjour. Je dirige la Ressourcerie du Val, une association d'insertion.\n"
            "Nous employons douze salariés en parcours.",
        ),
        ("Enquêtrice", "Quels sont vos besoins ?"),
        (
            "Martine Lefèvre",
            "Surtout un local plus grand, et un financement stable pour l'accompagnement.",
        ),
    ]


def test_q_r_labels_and_brackets() -> None:
    qr = read_transcript(DATA / "entretien_qr.txt")
    assert [s for s, _ in spoken(qr)] == ["Q", "R", "Q", "R"]
    assert spoken(qr)[3][1] == "Créer une légumerie commune, c'est notre projet prioritaire."
    brackets = read_transcript(DATA / "entretien_crochets.txt")
    assert spoken(brackets)[1] == (
        "Paul Girard",
        "Un territoire rural, vieillissant, mais avec beaucoup d'entraide.",
    )


def test_markdown_without_speakers_gives_paragraphs_with_sections() -> None:
    transcript = read_transcript(DATA / "entretien_sans_locuteur.md")
    assert [(t.speaker, t.section) for t in transcript.turns] == [
        ("", "Les besoins"),
        ("", "Les besoins"),
        ("", "Les coopérations"),
    ]
    assert spoken(transcript)[1][1] == "Le logement des saisonniers revient aussi souvent."


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "cp1252", "iso-8859-1"])
def test_encodings_are_detected(tmp_path: Path, encoding: str) -> None:
    source = (DATA / "entretien_nom.txt").read_text(encoding="utf-8")
    # Windows tools also write CRLF: stored text has "\n" only.
    path = tmp_path / "entretien.txt"
    path.write_bytes(source.replace("\n", "\r\n").encode(encoding))
    transcript = read_transcript(path)
    assert transcript.text == source
    assert spoken(transcript)[1][0] == "Martine Lefèvre"


def test_cp1252_specific_characters() -> None:
    data = "Enquêteur : L’œuvre « coûte » 10 € – vraiment ?\n".encode("cp1252")
    assert decode_bytes(data, "x.txt").text == "Enquêteur : L’œuvre « coûte » 10 € – vraiment ?\n"


def test_srt_and_vtt_keep_timestamps_and_speakers() -> None:
    srt = read_transcript(DATA / "entretien.srt")
    assert spoken(srt) == [
        ("Enquêteur", "Vous êtes installée depuis longtemps ?"),
        ("Sophie Marchand", "Depuis 2015, à la ferme de mes parents. On vend en circuit court."),
    ]
    assert (srt.turns[1].start_time, srt.turns[1].end_time) == (5.0, 12.0)
    vtt = read_transcript(DATA / "entretien.vtt")
    assert [s for s, _ in spoken(vtt)] == ["Enquêtrice", "Karim Haddad"]
    assert vtt.turns[1].pieces[1].start_time == 68.0
    assert "NOTE" not in vtt.text


def test_transcriber_trs_latin1_with_absent_dtd() -> None:
    transcript = read_transcript(DATA / "entretien.trs")
    assert transcript.encoding == "iso-8859-1"
    assert spoken(transcript) == [
        ("ENQ", "vous êtes arrivée quand à Orléans"),
        ("AB12", "en mille neuf cent soixante avec mes parents et puis voilà"),
        ("ENQ", "d'accord"),
        ("AB12", "il manque une crèche dans le quartier"),
    ]
    assert [t.section for t in transcript.turns] == ["Q1 parcours"] * 3 + ["Q2 besoins"]
    assert transcript.turns[1].start_time == 2.0


def test_textgrid_long_and_short_formats() -> None:
    long = read_transcript(DATA / "entretien.TextGrid")
    assert spoken(long) == [
        ("ENQ Julie", "vous habitez ici depuis quand"),
        ("Bernard", 'depuis toujours on dit "le bourg" ici'),
        ("ENQ Julie", "d'accord"),
        ("Bernard", "les commerces ont fermé"),
    ]
    assert long.turns[0].role == INTERVIEWER and long.turns[1].role == ""
    short = read_transcript(DATA / "entretien_court.TextGrid")
    assert spoken(short) == [("Enquêteur", "et le marché"), ("Lucie", "il a lieu le jeudi")]
    assert short.turns[1].start_time == 2.0


def test_docx_bold_speakers_colon_speakers_and_tables(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_heading("Parcours", level=2)
    paragraph = document.add_paragraph()
    paragraph.add_run("Enquêtrice").bold = True
    paragraph.add_run(" Comment est né le projet ?")
    paragraph = document.add_paragraph()
    paragraph.add_run("Luc Bernard :").bold = True
    paragraph.add_run(" D'une cantine qui cherchait des légumes.")
    document.add_paragraph("Enquêtrice : Et aujourd'hui ?")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Luc Bernard"
    table.rows[0].cells[1].text = "Nous livrons six écoles."
    path = tmp_path / "entretien.docx"
    document.save(str(path))

    transcript = read_transcript(path)
    assert spoken(transcript) == [
        ("Enquêtrice", "Comment est né le projet ?"),
        ("Luc Bernard", "D'une cantine qui cherchait des légumes."),
        ("Enquêtrice", "Et aujourd'hui ?"),
        ("Luc Bernard", "Nous livrons six écoles."),
    ]
    assert {t.section for t in transcript.turns} == {"Parcours"}


def test_odt_colon_speakers(tmp_path: Path) -> None:
    from odf import text as odf_text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    document.text.addElement(odf_text.H(outlinelevel="1", text="Besoins"))
    for line in (
        "Enquêteur : Quel est votre besoin ?",
        "Awa Diallo : Un local partagé.",
        "Enquêteur : Merci.",
    ):
        document.text.addElement(odf_text.P(text=line))
    path = tmp_path / "entretien.odt"
    document.save(str(path))
    transcript = read_transcript(path)
    assert spoken(transcript) == [
        ("Enquêteur", "Quel est votre besoin ?"),
        ("Awa Diallo", "Un local partagé."),
        ("Enquêteur", "Merci."),
    ]
    assert transcript.turns[1].section == "Besoins"


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("vide.txt", b"", "vide"),
        ("blancs.txt", b"  \r\n\r\n", "vide"),
        ("binaire.txt", bytes(range(256)) * 8, "binaire"),
        ("image.png", b"\x89PNG\r\n\x1a\n", "extension"),
        ("casse.docx", b"PK\x03\x04 pas un vrai docx", "Word illisible"),
        ("casse.odt", b"pas un odt", "OpenDocument illisible"),
        ("casse.trs", b"<?xml version='1.0'?><Trans><Episode>", "XML Transcriber invalide"),
        ("vide.srt", b"juste du texte\n", "aucun sous-titre"),
    ],
)
def test_bad_files_get_french_errors_naming_the_file(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as raised:
        read_transcript(path)
    message = str(raised.value)
    assert name in message
    assert expected in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="introuvable"):
        read_transcript(tmp_path / "absent.txt")


def test_shared_cfpp_file_is_recognised(tmp_path: Path) -> None:
    from tests.conftest import require_shared

    folder = require_shared("data", "cfpp2000_interviews", "transcripts")
    path = folder / "Assia-Berrada-F-49_Ivry-v2-2.txt"
    shutil.copy(path, tmp_path / path.name)
    transcript = read_transcript(tmp_path / path.name)
    assert transcript.format == "cfpp"
    roles = {t.speaker: t.role for t in transcript.turns}
    assert roles == {"Florence Lefeuvre (ENQ)": "interviewer", "Assia Berrada": "interviewee"}


def test_timestamped_labels(tmp_path: Path) -> None:
    path = tmp_path / "horodate.txt"
    path.write_text(
        "[00:00:05] Enquêteur : Vous habitez ici ?\n"
        "[00:00:09] Lina Roche : Oui, depuis dix ans.\n"
        "00:01:02 Enquêteur : Et avant ?\n"
        "00:01:05 Lina Roche : À Dijon.\n",
        encoding="utf-8",
    )
    assert spoken(read_transcript(path)) == [
        ("Enquêteur", "Vous habitez ici ?"),
        ("Lina Roche", "Oui, depuis dix ans."),
        ("Enquêteur", "Et avant ?"),
        ("Lina Roche", "À Dijon."),
    ]


def test_docx_questions_in_bold_without_names(tmp_path: Path) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph().add_run("Quels sont les besoins du territoire ?").bold = True
    document.add_paragraph("Un tiers-lieu, clairement.")
    document.add_paragraph("Et des transports le soir.")
    document.add_paragraph().add_run("Qui pourrait le porter ?").bold = True
    document.add_paragraph("La coopérative, avec la commune.")
    path = tmp_path / "questions_en_gras.docx"
    document.save(str(path))
    transcript = read_transcript(path)
    assert [(t.speaker, t.role) for t in transcript.turns][:2] == [("Question", ""), ("", "")]
    assert spoken(transcript)[1:3] == [
        ("", "Un tiers-lieu, clairement."),
        ("", "Et des transports le soir."),
    ]
    from qualipipe.ingest.readers import is_interviewer_label

    assert [is_interviewer_label(t.speaker) for t in transcript.turns] == [
        True,
        False,
        False,
        True,
        False,
    ]
