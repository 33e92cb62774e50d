"""Transcript readers: one function per format, all returning a `ReadTranscript`.

Plain-text formats (.txt, .md) are stored exactly as read; turns are offsets into that text.
Formats that are not plain text (.docx, .odt: one line per paragraph) or that carry timings
(.srt, .vtt, Transcriber .trs, Praat .TextGrid, CFPP2000 time-aligned .txt) are stored as a
readable rendering, one line per speaker turn (`Locuteur : paroles`), with each turn's timings
kept on its segments. Either way `text[turn.start:turn.end]` is what the speaker said.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import docx
from docx.table import Table
from docx.text.paragraph import Paragraph
from lxml import etree
from odf import teletype
from odf.namespaces import TEXTNS
from odf.opendocument import load as load_odf

from qualipipe.containers import check_container
from qualipipe.errors import InputError, Problem
from qualipipe.ingest.encoding import decode_bytes, normalize_text
from qualipipe.ingest.plaintext import (
    accepted_labels,
    known_label,
    label_candidates,
    paragraph_spans,
    parse_turns,
)
from qualipipe.ingest.turns import (
    INTERVIEWER,
    Piece,
    ReadTranscript,
    Turn,
    Utterance,
    is_interviewer_label,
)


def _problem(path: Path, message: str, line: int | None = None) -> InputError:
    return InputError(f"{path.name} n'a pas pu être lu.", [Problem(str(path), message, line)])


@contextmanager
def _unreadable(path: Path, what: str, advice: str) -> Iterator[None]:
    """Any error of the library opening `path` becomes one French line: python-docx and odfpy
    raise several unrelated types (zipfile, XML, KeyError…) for a damaged file."""
    try:
        yield
    except Exception as error:
        raise _problem(
            path, f"{what} illisible ou corrompu ({type(error).__name__}) ; {advice}"
        ) from None


# ---------------------------------------------------------------------------------------------
# Rendering timed utterances as text
# ---------------------------------------------------------------------------------------------


@dataclass
class _Renderer:
    parts: list[str] = field(default_factory=list)
    length: int = 0
    turns: list[Turn] = field(default_factory=list)

    def _append(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.length += len(chunk)

    def add_turn(self, group: list[Utterance]) -> None:
        first = group[0]
        if first.speaker:
            self._append(f"{first.speaker} : ")
        start = self.length
        pieces: list[Piece] = []
        for index, utterance in enumerate(group):
            if index:
                self._append(" ")
            piece_start = self.length
            self._append(utterance.text)
            pieces.append(Piece(piece_start, self.length, utterance.start_time, utterance.end_time))
        self.turns.append(
            Turn(
                start=start,
                end=self.length,
                speaker=first.speaker,
                section=first.section,
                role=first.role,
                pieces=tuple(pieces),
            )
        )
        self._append("\n")

    def text(self) -> str:
        return "".join(self.parts)


_SPACES = re.compile(r"\s+")


def clean_utterance(text: str) -> str:
    return _SPACES.sub(" ", normalize_text(text)).strip()


def render_utterances(
    utterances: Iterable[Utterance], fmt: str, encoding: str = ""
) -> ReadTranscript:
    """Group consecutive utterances of the same speaker (and section) into turns, then render."""
    renderer = _Renderer()
    group: list[Utterance] = []
    for utterance in utterances:
        utterance = Utterance(
            utterance.speaker.strip(),
            clean_utterance(utterance.text),
            utterance.start_time,
            utterance.end_time,
            utterance.section,
            utterance.role,
        )
        if not utterance.text:
            continue
        if group and (
            utterance.speaker != group[0].speaker or utterance.section != group[0].section
        ):
            renderer.add_turn(group)
            group = []
        group.append(utterance)
    if group:
        renderer.add_turn(group)
    return ReadTranscript(renderer.text(), tuple(renderer.turns), fmt, encoding)


def read_plain_text(path: Path) -> ReadTranscript:
    decoded = decode_bytes(path.read_bytes(), str(path))
    text = decoded.text
    if _looks_like_cfpp(text):
        return read_cfpp_text(text, path, decoded.encoding)
    markdown = path.suffix.lower() == ".md"
    turns = parse_turns(text, markdown=markdown)
    paragraphs = paragraph_spans(text, markdown=markdown, per_line=False)
    return ReadTranscript(
        text, tuple(turns), "md" if markdown else "txt", decoded.encoding, tuple(paragraphs)
    )


# ---------------------------------------------------------------------------------------------
# CFPP2000 time-aligned text: `[12.34-15.67] Nom Prénom (ENQ) (interviewer): paroles`
# ---------------------------------------------------------------------------------------------

_CFPP_LINE = re.compile(
    r"^\[(?P<start>\d+(?:\.\d+)?)-(?P<end>\d+(?:\.\d+)?)\][ \t]+(?P<speaker>[^:\n]+?)"
    r"(?:[ \t]+\((?P<role>interviewer|interviewee)\))?:[ \t]?(?P<text>.*)$"
)


def _looks_like_cfpp(text: str) -> bool:
    lines = [line for line in text.split("\n")[:50] if line.strip()]
    return bool(lines) and sum(bool(_CFPP_LINE.match(line)) for line in lines) >= 0.8 * len(lines)


def read_cfpp_text(text: str, path: Path, encoding: str = "") -> ReadTranscript:
    utterances = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        match = _CFPP_LINE.match(line)
        if not match:
            raise _problem(
                path,
                "ligne inattendue dans une transcription alignée (format attendu : "
                "« [début-fin] Locuteur (rôle): paroles »).",
                number,
            )
        utterances.append(
            Utterance(
                speaker=match["speaker"],
                text=match["text"],
                start_time=float(match["start"]),
                end_time=float(match["end"]),
                role=match["role"] or "",
            )
        )
    return render_utterances(utterances, "cfpp", encoding)


# ---------------------------------------------------------------------------------------------
# Word processors
# ---------------------------------------------------------------------------------------------


def _docx_paragraph_label(paragraph: object) -> tuple[str, int] | None:
    """Speaker written in bold at the start of a paragraph: (label, content offset)."""
    runs = list(paragraph.runs)  # type: ignore[attr-defined]
    bold = ""
    for run in runs:
        if run.bold and not bold.endswith("\n"):
            bold += run.text
            continue
        break
    label = bold.strip().rstrip(":").strip()
    if not label or len(label.split()) > 5 or len(bold.strip()) == len(paragraph.text.strip()):  # type: ignore[attr-defined]
        return None
    text = paragraph.text  # type: ignore[attr-defined]
    offset = len(bold)
    while offset < len(text) and text[offset] in " \t:":
        offset += 1
    return label, offset


def read_docx(path: Path) -> ReadTranscript:
    check_container(path, "document Word")
    advice = "ouvrez-le dans Word ou LibreOffice et réenregistrez-le en .docx."
    with _unreadable(path, "document Word", advice):
        document = docx.Document(str(path))
    lines: list[str] = []
    headings: set[int] = set()
    bold_labels: dict[int, tuple[str, int]] = {}
    fully_bold: set[int] = set()
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            text = normalize_text(block.text).replace("\n", " ")
            style = (block.style.name or "") if block.style is not None else ""
            if style.lower().startswith(("heading", "titre")) and text.strip():
                headings.add(len(lines))
            else:
                label = _docx_paragraph_label(block)
                if label:
                    bold_labels[len(lines)] = label
                elif text.strip() and all(r.bold for r in block.runs if r.text.strip()):
                    fully_bold.add(len(lines))
            lines.append(text)
        elif isinstance(block, Table):
            # Two-column tables are the usual "speaker | words" layout; other tables are
            # read row by row, cells separated by " | ".
            for row in block.rows:
                cells = [normalize_text(c.text).replace("\n", " ").strip() for c in row.cells]
                if len(cells) == 2 and cells[0] and len(cells[0].split()) <= 4:
                    bold_labels[len(lines)] = (cells[0], len(cells[0]) + 3)
                    lines.append(f"{cells[0]} : {cells[1]}")
                else:
                    lines.append(" | ".join(cells))
    text = "\n".join(lines)
    if fully_bold and not bold_labels and not accepted_labels(label_candidates(text), known_label):
        # No speaker names at all, questions typed in bold: a common French layout. Bold
        # paragraphs are the interviewer's questions, the others the interviewee's answers.
        bold_labels = {
            index: ("Question" if index in fully_bold else "", 0)
            for index, line in enumerate(lines)
            if line.strip() and index not in headings
        }
    turns = parse_turns(text, headings=frozenset(headings), bold_labels=bold_labels)
    paragraphs = paragraph_spans(text, headings=frozenset(headings), per_line=True)
    return ReadTranscript(text, tuple(turns), "docx", paragraphs=tuple(paragraphs))


def read_odt(path: Path) -> ReadTranscript:
    check_container(path, "document OpenDocument")
    with _unreadable(path, "document OpenDocument", "réenregistrez-le en .odt depuis LibreOffice."):
        document = load_odf(str(path))
    lines: list[str] = []
    headings: set[int] = set()
    paragraph_name, heading_name = (TEXTNS, "p"), (TEXTNS, "h")

    def walk(node: object) -> None:
        for child in node.childNodes:  # type: ignore[attr-defined]
            qname = getattr(child, "qname", None)
            if qname in (paragraph_name, heading_name):
                if qname == heading_name:
                    headings.add(len(lines))
                lines.append(normalize_text(teletype.extractText(child)).replace("\n", " "))
            elif getattr(child, "childNodes", None):
                walk(child)

    walk(document.text)
    text = "\n".join(lines)
    turns = parse_turns(text, headings=frozenset(headings))
    paragraphs = paragraph_spans(text, headings=frozenset(headings), per_line=True)
    return ReadTranscript(text, tuple(turns), "odt", paragraphs=tuple(paragraphs))


# ---------------------------------------------------------------------------------------------
# Subtitles (automatic transcription tools)
# ---------------------------------------------------------------------------------------------

_CUE_TIME = re.compile(
    r"(?P<start>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*(?P<end>(?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})"
)
_VTT_VOICE = re.compile(r"<v(?:\.[\w.]+)?\s+(?P<speaker>[^>]+)>")
_TAGS = re.compile(r"</?[^>]+>")
_CUE_SPEAKER = re.compile(r"^(?:\[(?P<b>[^\]]{1,40})\]|(?P<c>[^\W\d_][\w'’.\- ]{0,40}?)\s*:)\s*")


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    seconds = 0.0
    for part in parts:
        seconds = seconds * 60 + float(part)
    return seconds


def read_subtitles(path: Path) -> ReadTranscript:
    decoded = decode_bytes(path.read_bytes(), str(path))
    fmt = path.suffix.lower().lstrip(".")
    utterances: list[Utterance] = []
    blocks = re.split(r"\n[ \t]*\n", decoded.text)
    for block in blocks:
        lines = block.strip("\n").split("\n")
        timing = next(
            (i for i, line in enumerate(lines) if _CUE_TIME.search(line) and "-->" in line), None
        )
        if timing is None:
            continue  # WEBVTT header, NOTE, STYLE blocks
        match = _CUE_TIME.search(lines[timing])
        assert match is not None
        cue = " ".join(line.strip() for line in lines[timing + 1 :] if line.strip())
        speaker = ""
        voice = _VTT_VOICE.search(cue)
        if voice:
            speaker = voice["speaker"].strip()
        cue = _TAGS.sub("", cue).strip()
        named = _CUE_SPEAKER.match(cue)
        if not speaker and named and len((named["b"] or named["c"]).split()) <= 4:
            speaker = (named["b"] or named["c"]).strip()
            cue = cue[named.end() :]
        utterances.append(Utterance(speaker, cue, _seconds(match["start"]), _seconds(match["end"])))
    if not utterances:
        raise _problem(
            path,
            "aucun sous-titre trouvé (lignes « 00:00:01,000 --> 00:00:04,000 » attendues) ; "
            "vérifiez l'export de l'outil de transcription.",
        )
    return render_utterances(utterances, fmt, decoded.encoding)


# ---------------------------------------------------------------------------------------------
# Transcriber .trs (XML, often ISO-8859-1, DOCTYPE pointing at an absent trans-14.dtd)
# ---------------------------------------------------------------------------------------------


def _trs_utterances(root: object) -> list[Utterance]:
    speakers = {s.get("id"): s.get("name") or s.get("id") for s in root.iter("Speaker")}  # type: ignore[attr-defined]
    topics = {t.get("id"): t.get("desc") or t.get("id") for t in root.iter("Topic")}  # type: ignore[attr-defined]
    utterances: list[Utterance] = []
    for section in root.iter("Section"):  # type: ignore[attr-defined]
        topic = topics.get(section.get("topic"), "") if section.get("topic") else ""
        for turn in section.iter("Turn"):
            ids = (turn.get("speaker") or "").split()
            names = [speakers.get(i, i) for i in ids] or [""]
            turn_end = float(turn.get("endTime") or 0)
            current = names[0]
            time = float(turn.get("startTime") or 0)
            chunks: list[list[object]] = [[current, turn.text or "", time]]
            for child in turn:
                if child.tag == "Sync":
                    time = float(child.get("time") or time)
                    chunks.append([current, "", time])
                elif child.tag == "Who":
                    index = int(child.get("nb") or 1) - 1
                    current = names[index] if 0 <= index < len(names) else current
                    chunks.append([current, "", time])
                chunks[-1][1] = f"{chunks[-1][1]} {child.tail or ''}"
            for index, (speaker, text, start) in enumerate(chunks):
                end = chunks[index + 1][2] if index + 1 < len(chunks) else turn_end
                utterances.append(
                    Utterance(str(speaker), str(text), float(start), float(end), topic)  # type: ignore[arg-type]
                )
    return utterances


def read_trs(path: Path) -> ReadTranscript:
    data = path.read_bytes()
    if not data.strip():
        decode_bytes(data, str(path))  # raises the "empty file" error
    # No DTD loading, no network, no entity expansion: the DTD is never shipped, and a
    # transcript must not make the tool fetch anything.
    parser = etree.XMLParser(
        load_dtd=False, no_network=True, resolve_entities=False, dtd_validation=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as error:
        raise _problem(
            path,
            f"XML Transcriber invalide ({error.msg}) ; ouvrez le fichier dans Transcriber et "
            "réenregistrez-le.",
            error.lineno,
        ) from None
    if root.tag != "Trans":
        raise _problem(path, "ce fichier XML n'est pas une transcription Transcriber (<Trans>).")
    encoding = (root.getroottree().docinfo.encoding or "utf-8").lower()
    return render_utterances(_trs_utterances(root), "trs", encoding)


# ---------------------------------------------------------------------------------------------
# Praat .TextGrid (long or short text format; one interval tier per speaker)
# ---------------------------------------------------------------------------------------------

_TG_TOKEN = re.compile(r'"((?:[^"]|"")*)"|([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|<exists>')
_TG_KEYED = re.compile(
    r'(?P<key>\b(?:class|name|xmin|xmax|text|mark|number)\b)\s*=\s*(?:"(?P<s>(?:[^"]|"")*)"|(?P<n>[-+\d.eE]+))'
)


def _textgrid_long(text: str) -> list[tuple[str, str, list[tuple[float, float, str]]]]:
    tiers: list[tuple[str, str, list[tuple[float, float, str]]]] = []
    xmin = xmax = 0.0
    for match in _TG_KEYED.finditer(text):
        key, value = match["key"], match["s"] if match["s"] is not None else match["n"]
        value = value.replace('""', '"') if match["s"] is not None else value
        if key == "class":
            tiers.append((value, "", []))
        elif key == "name" and tiers:
            cls, _, intervals = tiers[-1]
            tiers[-1] = (cls, value, intervals)
        elif key in ("xmin", "number"):
            xmin = float(value)
            xmax = xmin if key == "number" else xmax
        elif key == "xmax":
            xmax = float(value)
        elif key in ("text", "mark") and tiers:
            tiers[-1][2].append((xmin, xmax, value))
    return tiers


def _textgrid_short(text: str) -> list[tuple[str, str, list[tuple[float, float, str]]]]:
    tokens = [
        m[1].replace('""', '"') if m[1] is not None else m[2] for m in _TG_TOKEN.finditer(text)
    ]
    tokens = [t for t in tokens if t is not None]
    # "ooTextFile", "TextGrid", xmin, xmax, n_tiers, then per tier: class, name, xmin, xmax, n, ...
    position = 2 + 2
    count = int(float(tokens[position]))
    position += 1
    tiers = []
    for _ in range(count):
        cls, name = tokens[position], tokens[position + 1]
        size = int(float(tokens[position + 4]))
        position += 5
        intervals = []
        for _ in range(size):
            if cls == "IntervalTier":
                start, end, label = tokens[position : position + 3]
                position += 3
            else:
                start, label = tokens[position : position + 2]
                end = start
                position += 2
            intervals.append((float(start), float(end), label))
        tiers.append((cls, name, intervals))
    return tiers


def read_textgrid(path: Path) -> ReadTranscript:
    decoded = decode_bytes(path.read_bytes(), str(path))
    if "TextGrid" not in decoded.text[:200]:
        raise _problem(path, "ce fichier n'est pas un TextGrid Praat (en-tête « ooTextFile »).")
    try:
        tiers = (
            _textgrid_long(decoded.text)
            if "item [" in decoded.text
            else _textgrid_short(decoded.text)
        )
    except (IndexError, ValueError):
        raise _problem(
            path, "TextGrid incomplet ou corrompu ; réenregistrez-le depuis Praat."
        ) from None
    utterances = [
        Utterance(
            name,
            label,
            start,
            end,
            role=INTERVIEWER if is_interviewer_label(name) else "",
        )
        for cls, name, intervals in tiers
        if cls == "IntervalTier"
        for start, end, label in intervals
        if label.strip()
    ]
    utterances.sort(key=lambda u: (u.start_time, u.end_time))
    return render_utterances(utterances, "textgrid", decoded.encoding)


READERS: dict[str, Callable[[Path], ReadTranscript]] = {
    ".txt": read_plain_text,
    ".md": read_plain_text,
    ".docx": read_docx,
    ".odt": read_odt,
    ".srt": read_subtitles,
    ".vtt": read_subtitles,
    ".trs": read_trs,
    ".textgrid": read_textgrid,
}
TRANSCRIPT_EXTENSIONS = tuple(READERS)


def read_transcript(path: Path) -> ReadTranscript:
    """Read any supported transcript; French `InputError` for everything that can go wrong."""
    if not path.is_file():
        raise InputError(
            f"{path} introuvable.",
            [Problem(str(path), "le fichier n'existe pas ; vérifiez le chemin.")],
        )
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise InputError(
            f"{path.name} : format non pris en charge.",
            [
                Problem(
                    str(path),
                    f"extension « {path.suffix or '(aucune)'} » inconnue ; formats acceptés : "
                    f"{', '.join(TRANSCRIPT_EXTENSIONS)} (et .csv/.xlsx pour les exports LimeSurvey "
                    "avec --instrument).",
                )
            ],
        )
    if path.stat().st_size == 0:
        raise InputError(
            f"{path.name} est vide.",
            [Problem(str(path), "le fichier est vide (0 octet) ; vérifiez la copie ou l'export.")],
        )
    transcript = reader(path)
    if not transcript.turns and not transcript.paragraphs:
        raise InputError(
            f"{path.name} ne contient aucun texte.",
            [
                Problem(
                    str(path),
                    "aucun texte trouvé (seulement des titres ou des lignes vides) ; vérifiez "
                    "son contenu, ou retirez-le du dossier.",
                )
            ],
        )
    return transcript
