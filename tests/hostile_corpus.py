"""The hostile-input corpus (issue 13), generated at test time: zip bombs, XXE and billion laughs
in every XML-based format, truncated files, wrong encodings.

Each case is a file name, a builder writing the file, and the command that reads it. Bombs are
streamed into the zip so that building them never holds their expanded size in memory.
`python -m tests.hostile_corpus DOSSIER` writes the whole corpus (used by
benchmarks/hostile_memory.py).
"""

from __future__ import annotations

import codecs
import io
import random
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import docx
from odf.opendocument import OpenDocumentText
from odf.text import P
from openpyxl import Workbook

XXE_DOCTYPE = '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
LAUGHS_DOCTYPE = (
    '<!DOCTYPE r [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)
SECRET_MARK = "root:x:0:0"  # what /etc/passwd would leak into the study

W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
PARAGRAPH = "<w:p><w:r><w:t>{}</w:t></w:r></w:p>"
SPEECH = "Enquêtrice : Pourquoi ce pôle ?\nMartine : Parce que seuls on n'y arrive pas."


@dataclass(frozen=True)
class Case:
    name: str  # case id, also used as file name stem suffix
    file: str  # file name to write (participant id as stem for transcripts)
    build: Callable[[Path], None]
    command: str  # "transcript" | "manifest" | "survey" | "review" | "decisions" | "qdc"
    expect: str = ""  # text a clean import must have decoded correctly


# --- containers -------------------------------------------------------------------------------


def _template(kind: str) -> dict[str, bytes]:
    """The parts of a small valid document of `kind` (docx, odt, xlsx)."""
    buffer = io.BytesIO()
    if kind == "docx":
        document = docx.Document()
        for line in SPEECH.split("\n"):
            document.add_paragraph(line)
        document.save(buffer)
    elif kind == "odt":
        document = OpenDocumentText()
        for line in SPEECH.split("\n"):
            document.text.addElement(P(text=line))
        document.save(buffer)
    else:
        workbook = Workbook()
        workbook.active.append(["identifiant", "nom"])
        workbook.active.append(["SC-F09", "Nom"])
        if kind == "xlsx-revue":  # looks like a review workbook, so that its sheet gets read
            workbook.active.title = "Revue"
            meta = workbook.create_sheet("_qualipipe")
            meta.append(["format", "revue"])
        workbook.save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


MAIN_PART = {
    "docx": "word/document.xml",
    "odt": "content.xml",
    "xlsx": "xl/worksheets/sheet1.xml",
    "xlsx-revue": "xl/worksheets/sheet1.xml",
}


def _write_zip(
    path: Path, parts: dict[str, bytes], big: tuple[str, Iterator[bytes]] | None = None
) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            if big and name == big[0]:
                continue
            archive.writestr(name, data)
        if big:
            with archive.open(big[0], "w", force_zip64=True) as entry:
                for chunk in big[1]:
                    entry.write(chunk)


def _bomb_stream(kind: str, megabytes: int) -> Iterator[bytes]:
    if kind == "docx":
        head, item, tail = (
            f"<w:document {W}><w:body>",
            PARAGRAPH.format("a" * 20),
            "</w:body></w:document>",
        )
    elif kind == "odt":
        head = (
            '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
            'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
        )
        item, tail = (
            "<text:p>aaaaaaaaaaaaaaaaaaaa</text:p>",
            "</office:text></office:body></office:document-content>",
        )
    else:
        head = '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        item, tail = (
            '<row><c t="inlineStr"><is><t>aaaaaaaa</t></is></c></row>',
            "</sheetData></worksheet>",
        )
    yield ('<?xml version="1.0" encoding="UTF-8"?>' + head).encode()
    chunk = (item * (65536 // len(item))).encode()
    for _ in range(megabytes * 1024 * 1024 // len(chunk)):
        yield chunk
    yield tail.encode()


def zip_bomb(kind: str, megabytes: int) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        _write_zip(path, _template(kind), (MAIN_PART[kind], _bomb_stream(kind, megabytes)))

    return build


def _with_doctype(xml: bytes, doctype: str, reference: str) -> bytes:
    """Insert `doctype` after the XML declaration and `reference` in the first text node."""
    text = xml.decode("utf-8")
    declaration_end = text.index("?>") + 2 if text.startswith("<?xml") else 0
    text = text[:declaration_end] + doctype + text[declaration_end:]
    for marker in ("Pourquoi", "SC-F09", "identifiant"):
        if marker in text:
            return text.replace(marker, reference + " " + marker, 1).encode("utf-8")
    raise AssertionError("no text node to poison")


def entity_attack(kind: str, doctype: str, reference: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        parts = _template(kind)
        part = MAIN_PART[kind] if not kind.startswith("xlsx") else "xl/sharedStrings.xml"
        if part not in parts:  # openpyxl writes inline strings in the sheet
            part = MAIN_PART[kind]
        parts[part] = _with_doctype(parts[part], doctype, reference)
        _write_zip(path, parts)

    return build


def sheet_attack(kind: str, doctype: str, reference: str) -> Callable[[Path], None]:
    """The entity inside a worksheet, which read-only openpyxl parses only while iterating."""

    def build(path: Path) -> None:
        parts = _template(kind)
        sheet = parts[MAIN_PART[kind]].decode("utf-8")
        end = sheet.index("?>") + 2 if sheet.startswith("<?xml") else 0
        sheet = sheet[:end] + doctype.replace(" r ", " worksheet ") + sheet[end:]
        parts[MAIN_PART[kind]] = sheet.replace("<v>", f"<v>{reference}", 1).encode("utf-8")
        _write_zip(path, parts)

    return build


def truncated(kind: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in _template(kind).items():
                archive.writestr(name, data)
        data = buffer.getvalue()
        path.write_bytes(data[: len(data) // 2])

    return build


def lying_sizes(kind: str) -> Callable[[Path], None]:
    """A valid container whose central directory claims a tiny size for the main part."""

    def build(path: Path) -> None:
        _write_zip(path, _template(kind))
        data = bytearray(path.read_bytes())
        name = MAIN_PART[kind].encode()
        index = data.find(name, data.find(b"PK\x01\x02"))
        while index != -1:
            header = data.rfind(b"PK\x01\x02", 0, index)
            if header != -1 and header + 46 == index:
                data[header + 24 : header + 28] = (10).to_bytes(4, "little")  # uncompressed size
                break
            index = data.find(name, index + 1)
        path.write_bytes(bytes(data))

    return build


# --- plain XML --------------------------------------------------------------------------------

TRS = (
    '<?xml version="1.0" encoding="ISO-8859-1"?>{doctype}<Trans><Speakers><Speaker id="spk1" '
    'name="Martine"/></Speakers><Episode><Section type="report" startTime="0" endTime="5">'
    '<Turn speaker="spk1" startTime="0" endTime="5"><Sync time="0"/>{text} bonjour</Turn>'
    "</Section></Episode></Trans>"
)
QDC = (
    '<?xml version="1.0" encoding="utf-8"?>{doctype}<CodeBook xmlns="urn:QDA-XML:codebook:1.0" '
    'origin="x"><Codes><Code guid="11111111-1111-1111-1111-111111111111" name="{text}" '
    'isCodable="true"/></Codes></CodeBook>'
)


def xml_file(
    template: str, doctype: str, text: str, encoding: str = "latin-1"
) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(template.format(doctype=doctype, text=text).encode(encoding))

    return build


def cut(template: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        data = template.format(doctype="", text="x").encode("utf-8")
        path.write_bytes(data[: len(data) * 2 // 3])

    return build


# --- text and encodings -----------------------------------------------------------------------


def text_file(text: str, encoding: str, bom: bytes = b"") -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(bom + text.encode(encoding))

    return build


def raw(data: bytes) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(data)

    return build


def noise(size: int) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(random.Random(13).randbytes(size))

    return build


MANIFEST = (
    "identifiant;nom;role;type_acteur;territoire;consentement;fichier\n"
    "SC-F09;Renée Müller-Çelik;fondateur;autre;sud-creuse;oui;\n"
)
DECISIONS = (
    "fichier;extrait;code;decision;codeur\nsc_fondateur_01.txt;seuls;MOT_ANCRAGE;accepter;Zoé\n"
)
SRT = "1\n00:00:01,000 --> 00:00:04,000\nMartine : Ça coûte cher, très cher.\n"


def corpus() -> list[Case]:
    cases: list[Case] = []
    containers = [
        ("docx", "SC-F01.docx", "transcript"),
        ("odt", "SC-F02.odt", "transcript"),
        ("xlsx", "manifeste.xlsx", "manifest"),
        ("xlsx", "reponses.xlsx", "survey"),
        ("xlsx-revue", "revue.xlsx", "review"),
    ]
    for kind, file, command in containers:
        tag = f"{command}-{kind}"
        cases += [
            Case(f"{tag}-bombe-100mo", file, zip_bomb(kind, 100), command),
            Case(f"{tag}-bombe-20mo", file, zip_bomb(kind, 20), command),
            Case(f"{tag}-xxe", file, entity_attack(kind, XXE_DOCTYPE, "&xxe;"), command),
            Case(
                f"{tag}-milliard-de-rires",
                file,
                entity_attack(kind, LAUGHS_DOCTYPE, "&lol9;"),
                command,
            ),
            Case(f"{tag}-tronque", file, truncated(kind), command),
            Case(f"{tag}-tailles-mensongeres", file, lying_sizes(kind), command),
            Case(f"{tag}-pas-une-archive", file, raw(b"PK\x03\x04" + b"\x00" * 40), command),
        ]
    for kind, file, command in containers[2:]:
        cases += [
            Case(
                f"{command}-xlsx-feuille-xxe",
                file,
                sheet_attack(kind, XXE_DOCTYPE, "&xxe;"),
                command,
            ),
            Case(
                f"{command}-xlsx-feuille-milliard-de-rires",
                file,
                sheet_attack(kind, LAUGHS_DOCTYPE, "&lol9;"),
                command,
            ),
        ]
    cases += [
        Case(
            "trs-xxe",
            "SC-F03.trs",
            xml_file(TRS, XXE_DOCTYPE.replace(" r ", " Trans "), "&xxe;"),
            "transcript",
        ),
        Case(
            "trs-milliard-de-rires",
            "SC-F03.trs",
            xml_file(TRS, LAUGHS_DOCTYPE.replace(" r ", " Trans "), "&lol9;"),
            "transcript",
        ),
        Case("trs-tronque", "SC-F03.trs", cut(TRS), "transcript"),
        Case(
            "trs-utf16-annonce-latin1",
            "SC-F03.trs",
            xml_file(TRS, "", "été", "utf-16"),
            "transcript",
        ),
        Case(
            "qdc-xxe",
            "grille.qdc",
            xml_file(QDC, XXE_DOCTYPE.replace(" r ", " CodeBook "), "&xxe;", "utf-8"),
            "qdc",
        ),
        Case(
            "qdc-milliard-de-rires",
            "grille.qdc",
            xml_file(QDC, LAUGHS_DOCTYPE.replace(" r ", " CodeBook "), "&lol9;", "utf-8"),
            "qdc",
        ),
        Case("qdc-tronque", "grille.qdc", cut(QDC), "qdc"),
        Case("qdc-binaire", "grille.qdc", noise(4096), "qdc"),
        Case(
            "txt-utf16-sans-bom",
            "LN-F01.txt",
            text_file(SPEECH, "utf-16-le"),
            "transcript",
            "arrive pas",
        ),
        Case(
            "txt-utf16-bom",
            "LN-F01.txt",
            text_file(SPEECH, "utf-16-le", codecs.BOM_UTF16_LE),
            "transcript",
            "arrive pas",
        ),
        Case(
            "txt-cp1252",
            "LN-F01.txt",
            text_file(SPEECH + " Coût : 3 €.", "cp1252"),
            "transcript",
            "Coût : 3 €",
        ),
        Case(
            "txt-utf8-coupe",
            "LN-F01.txt",
            raw(SPEECH.encode("utf-8") + "é".encode()[:1]),
            "transcript",
        ),
        Case(
            "txt-octets-nuls",
            "LN-F01.txt",
            raw(SPEECH.encode("utf-8").replace(b" ", b"\x00")),
            "transcript",
        ),
        Case("txt-binaire", "LN-F01.txt", noise(8192), "transcript"),
        Case(
            "md-latin1",
            "SC-A01.md",
            text_file("# Entretien\n\n" + SPEECH, "latin-1"),
            "transcript",
            "Enquêtrice",
        ),
        Case("srt-utf16", "SC-A02.srt", text_file(SRT, "utf-16"), "transcript", "Ça coûte cher"),
        Case("srt-tronque", "SC-A02.srt", raw(SRT.encode()[:20]), "transcript"),
        Case("textgrid-binaire", "SC-A03.TextGrid", noise(2048), "transcript"),
        Case(
            "manifeste-csv-cp1252",
            "manifeste.csv",
            text_file(MANIFEST, "cp1252"),
            "manifest",
            "Renée Müller-Çelik",
        ),
        Case(
            "manifeste-csv-utf16",
            "manifeste.csv",
            text_file(MANIFEST, "utf-16"),
            "manifest",
            "Renée Müller-Çelik",
        ),
        Case("manifeste-csv-binaire", "manifeste.csv", noise(4096), "manifest"),
        Case("decisions-csv-utf16", "decisions.csv", text_file(DECISIONS, "utf-16"), "decisions"),
        Case("decisions-csv-binaire", "decisions.csv", noise(4096), "decisions"),
        Case("reponses-csv-binaire", "reponses.csv", noise(4096), "survey"),
    ]
    return cases


def command_for(case: Case, study: Path, file: Path) -> list[str]:
    s = ["-s", str(study)]
    return {
        "transcript": ["ingest", *s, str(file)],
        "manifest": ["ingest", *s, "-m", str(file)],
        "survey": [
            "ingest",
            *s,
            str(file),
            "--instrument",
            "priorisation_enjeux",
            "-t",
            "sud-creuse",
        ],
        "review": ["review", "import", *s, str(file), "--coder", "Alice"],
        "decisions": ["review", "import", *s, str(file), "--coder", "Alice"],
        "qdc": ["codebook", "import", str(file), "--sortie", str(file.with_suffix(".yaml"))],
    }[case.command]


if __name__ == "__main__":
    folder = Path(sys.argv[1])
    folder.mkdir(parents=True, exist_ok=True)
    for case in corpus():
        target = folder / case.name / case.file
        target.parent.mkdir(exist_ok=True)
        case.build(target)
        print(target)
