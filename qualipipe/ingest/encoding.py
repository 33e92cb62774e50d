"""Turning the bytes of a file into text: encoding detection and normalisation.

Transcripts come from Word, old Windows tools, transcription software and research corpora, so
the encoding is whatever the tool wrote: UTF-8 with or without BOM, UTF-16, Windows-1252 or
ISO-8859-1. The text we store is NFC with `\\n` line ends, so that offsets mean the same thing
everywhere.
"""

from __future__ import annotations

import codecs
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from qualipipe.errors import InputError, Problem

BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Control characters never found in a text file (tab, LF, CR and form feed are fine).
_BINARY_BYTES = set(range(0, 9)) | {11} | set(range(14, 32)) - {27}


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str


def normalize_text(text: str) -> str:
    """NFC, `\\n` line ends, no BOM: the form every stored text has."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    return unicodedata.normalize("NFC", text)


def _utf16_without_bom(data: bytes) -> str | None:
    # Notepad and some transcription tools write UTF-16 without BOM: many NUL bytes at odd or
    # even positions betray it.
    if len(data) < 4 or len(data) % 2:
        return None
    even_nuls = data[0::2].count(0)
    odd_nuls = data[1::2].count(0)
    half = len(data) // 2
    if odd_nuls > 0.3 * half and even_nuls == 0:
        return "utf-16-le"
    if even_nuls > 0.3 * half and odd_nuls == 0:
        return "utf-16-be"
    return None


def looks_binary(data: bytes) -> bool:
    sample = data[:4096]
    if not sample:
        return False
    suspicious = sum(1 for byte in sample if byte in _BINARY_BYTES)
    return suspicious / len(sample) > 0.01


def detect_encoding(data: bytes) -> str | None:
    """The encoding of `data`, or None when it is not text."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return encoding
    utf16 = _utf16_without_bom(data)
    if utf16:
        return utf16
    if looks_binary(data):
        return None
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    # Not UTF-8: in French text this is nearly always Windows-1252 or ISO-8859-1. cp1252 is a
    # superset of latin-1 for printable characters, except 0x80-0x9F which latin-1 maps to C1
    # controls; charset-normalizer arbitrates when those bytes appear.
    if not any(0x80 <= byte <= 0x9F for byte in data):
        return "iso-8859-1"
    from charset_normalizer import from_bytes

    best = from_bytes(data, cp_isolation=["cp1252", "latin_1", "utf_8"]).best()
    if best is None:
        return "cp1252"
    return best.encoding


def decode_bytes(data: bytes, file: str) -> DecodedText:
    """Decode and normalise; a French `InputError` for empty or binary content."""
    if not data.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise InputError(
            f"{file} est vide.",
            [
                Problem(
                    file, "le fichier ne contient aucun texte ; vérifiez l'export ou retirez-le."
                )
            ],
        )
    encoding = detect_encoding(data)
    if encoding is None:
        raise InputError(
            f"{file} n'est pas un fichier texte.",
            [
                Problem(
                    file,
                    "le contenu est binaire ou corrompu ; réenregistrez la transcription "
                    "en texte (.txt UTF-8), .docx ou .odt.",
                )
            ],
        )
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as error:
        raise InputError(
            f"{file} est illisible.",
            [
                Problem(
                    file,
                    f"octets invalides pour l'encodage {encoding} (position {error.start}) ; "
                    "réenregistrez le fichier en UTF-8.",
                )
            ],
        ) from None
    return DecodedText(normalize_text(text), encoding)


def read_text_file(path: Path) -> DecodedText:
    return decode_bytes(path.read_bytes(), str(path))
