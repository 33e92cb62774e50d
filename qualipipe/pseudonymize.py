"""Pseudonymisation of texts shown in outputs.

Real names of participants (from the manifest, with first/last-name variants, any case or accent)
are replaced by their pseudonym; other person names found in the text are replaced by a neutral
placeholder. Organisation names are kept unless asked otherwise.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field

from qualipipe.records import Participant


def fold(text: str) -> str:
    """Lower-case and strip accents, keeping one character per character (offsets stay valid)."""
    out = []
    for char in text:
        base = unicodedata.normalize("NFD", char)[0]
        out.append(base.lower() if len(base.lower()) == 1 else char.lower()[:1] or char)
    return "".join(out)


def name_variants(real_name: str) -> list[str]:
    """Full name, reversed, and each part of length ≥ 3 (first name alone, last name alone)."""
    parts = [p for p in re.split(r"[\s]+", real_name.strip()) if p]
    variants = {real_name.strip()}
    if len(parts) >= 2:
        variants.add(" ".join(reversed(parts)))
        variants.add(f"{parts[0][0]}. {' '.join(parts[1:])}")
        variants.add(f"M. {' '.join(parts[1:])}")
        variants.add(f"Mme {' '.join(parts[1:])}")
    for part in parts:
        for piece in part.split("-") + [part]:
            if len(piece) >= 3:
                variants.add(piece)
    # Longest first so that "Marie Dupont" wins over "Marie".
    return sorted((v for v in variants if v), key=len, reverse=True)


@dataclass
class Pseudonymizer:
    """Replace real names by pseudonyms in any text."""

    participants: Iterable[Participant]
    placeholder: str = "[personne]"
    extra_names: Iterable[str] = ()
    _patterns: list[tuple[re.Pattern[str], str]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        pairs: list[tuple[str, str]] = []
        for participant in self.participants:
            if participant.real_name:
                pairs.extend(
                    (v, participant.pseudonym) for v in name_variants(participant.real_name)
                )
        for name in self.extra_names:
            pairs.extend((v, self.placeholder) for v in name_variants(name))
        pairs.sort(key=lambda pair: len(pair[0]), reverse=True)
        self._patterns = [
            (re.compile(rf"(?<!\w){re.escape(fold(variant))}(?!\w)"), pseudonym)
            for variant, pseudonym in pairs
        ]

    def __call__(self, text: str) -> str:
        return self.apply(text)

    def apply(self, text: str) -> str:
        for pattern, replacement in self._patterns:
            folded = fold(text)
            spans = [m.span() for m in pattern.finditer(folded)]
            for start, end in reversed(spans):
                text = text[:start] + replacement + text[end:]
        return text
