"""Bounded reading of zip containers (.docx, .odt, .xlsx, .qdpx) before any parser opens them.

A zip bomb is a small file whose entries expand to gigabytes: python-docx, odfpy and openpyxl
would inflate and parse them whole. The central directory declares each entry's sizes, and
Python's `zipfile` never inflates an entry past its declared size (it fails on the CRC instead),
so checking the declared sizes is enough to refuse a bomb before parsing.

Limits (documented in docs/; overridable through the environment for exceptional files):
- QUALIPIPE_MAX_XML_MO: uncompressed size of one XML part (document.xml, content.xml, a sheet);
  default 10 Mo — a two-hour interview is about 1 Mo; reading 10 Mo of XML (spaCy included)
  stays under 500 Mo of memory.
- QUALIPIPE_MAX_TOTAL_MO: uncompressed size of the whole container (pictures included);
  default 200 Mo.
- QUALIPIPE_MAX_RATIO: expansion ratio of an entry larger than 1 Mo; default 100 (text XML
  compresses 5 to 20 times).
- QUALIPIPE_MAX_ENTRIES: number of entries; default 10 000.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from qualipipe.errors import InputError, Problem
from qualipipe.files import naming

MB = 1024 * 1024
RATIO_FLOOR = 1 * MB  # small entries may compress a lot (empty styles): no ratio check below


@dataclass(frozen=True)
class ContainerLimits:
    max_xml: int = 10 * MB
    max_total: int = 200 * MB
    max_ratio: float = 100.0
    max_entries: int = 10_000

    @classmethod
    def from_environment(cls) -> ContainerLimits:
        default = cls()
        return cls(
            max_xml=int(_number("QUALIPIPE_MAX_XML_MO", default.max_xml / MB) * MB),
            max_total=int(_number("QUALIPIPE_MAX_TOTAL_MO", default.max_total / MB) * MB),
            max_ratio=_number("QUALIPIPE_MAX_RATIO", default.max_ratio),
            max_entries=int(_number("QUALIPIPE_MAX_ENTRIES", default.max_entries)),
        )


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw.replace(",", "."))
    except ValueError:
        raise InputError(
            f"Variable d'environnement {name} invalide.",
            [Problem(name, f"« {raw} » n'est pas un nombre ; corrigez-la ou supprimez-la.")],
        ) from None
    return value if value > 0 else default


def _refuse(path: Path, reason: str) -> InputError:
    return InputError(
        f"{path.name} refusé : {reason}.",
        [
            Problem(
                str(path),
                f"{reason} ; ce n'est pas un document ordinaire (fichier piégé ou corrompu ?). "
                "Ouvrez-le dans votre traitement de texte ou tableur et réenregistrez-le ; pour un "
                "document réellement aussi gros, relevez la limite (variables QUALIPIPE_MAX_XML_MO, "
                "QUALIPIPE_MAX_TOTAL_MO, QUALIPIPE_MAX_RATIO).",
            )
        ],
    )


def _unreadable(path: Path, what: str, error: Exception) -> InputError:
    return InputError(
        f"{path.name} : {what} illisible ou corrompu.",
        [
            Problem(
                str(path),
                f"archive illisible ({type(error).__name__}) : fichier tronqué ou d'un autre "
                f"format ; ouvrez-le et réenregistrez-le au format {path.suffix or what}.",
            )
        ],
    )


def check_container(
    path: Path, what: str = "document", limits: ContainerLimits | None = None
) -> None:
    """Refuse `path` (a zip container) with a French error when it is not safe to parse.

    `what` names the expected format for the message (e.g. "document .docx")."""
    limits = limits or ContainerLimits.from_environment()
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as error:
        raise _unreadable(path, what, error) from None
    except OSError as error:
        # Locked by Excel, unreadable folder…: the caller (or the CLI) says it in French.
        raise naming(error, path) from None
    if len(entries) > limits.max_entries:
        raise _refuse(path, f"{len(entries)} éléments dans l'archive (limite {limits.max_entries})")
    total = 0
    for entry in entries:
        total += entry.file_size
        if total > limits.max_total:
            raise _refuse(
                path,
                f"contenu décompressé de plus de {limits.max_total // MB} Mo "
                f"(limite {limits.max_total // MB} Mo)",
            )
        is_xml = entry.filename.lower().endswith((".xml", ".rels", ".qde"))
        if is_xml and entry.file_size > limits.max_xml:
            raise _refuse(
                path,
                f"la partie « {entry.filename} » fait {entry.file_size // MB} Mo une fois "
                f"décompressée (limite {limits.max_xml // MB} Mo)",
            )
        if entry.file_size > RATIO_FLOOR:
            ratio = entry.file_size / max(entry.compress_size, 1)
            if ratio > limits.max_ratio:
                raise _refuse(
                    path,
                    f"la partie « {entry.filename} » se décompresse {ratio:.0f} fois "
                    f"(limite {limits.max_ratio:.0f})",
                )
