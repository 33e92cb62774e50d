"""Pseudonymisation of texts shown in outputs.

Real names of participants (from the manifest, with first/last-name variants, any case or accent)
are replaced by their pseudonym; other person names found in the text (spaCy PER entities of
`fr_core_news_md`) are replaced by a neutral placeholder. Organisation names are kept unless asked
otherwise. Every stage that prints a verbatim gets its pseudonymiser from `pseudonymizer_for()`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from qualipipe.records import Participant

if TYPE_CHECKING:
    from qualipipe.store import Study

PERSON_PLACEHOLDER = "[personne]"
ORGANISATION_PLACEHOLDER = "[organisation]"


def fold(text: str) -> str:
    """Lower-case and strip accents, keeping one character per character (offsets stay valid)."""
    out = []
    for char in text:
        base = unicodedata.normalize("NFD", char)[0]
        lowered = base.lower()
        out.append(lowered if len(lowered) == 1 else char.lower()[:1] or char)
    return "".join(out)


def name_variants(real_name: str) -> list[str]:
    """Full name, reversed, initial + last name, civility + last name, each part of length ≥ 3."""
    parts = [p for p in re.split(r"\s+", real_name.strip()) if p]
    variants = {real_name.strip()}
    if len(parts) >= 2:
        last = " ".join(parts[1:])
        variants.add(" ".join(reversed(parts)))
        variants.add(f"{parts[-1]} {' '.join(parts[:-1])}")
        variants.add(f"{parts[0][0]}. {last}")
        for civility in ("M.", "Mme", "Mr", "Monsieur", "Madame", "Mlle", "Mademoiselle"):
            variants.add(f"{civility} {last}")
            variants.add(f"{civility} {parts[-1]}")
    for part in parts:
        for piece in [*part.split("-"), part]:
            if len(piece) >= 3:
                variants.add(piece)
    # Longest first so that "Marie Dupont" wins over "Marie".
    return sorted((v for v in variants if v), key=len, reverse=True)


Span = tuple[int, int, str]


def _free(spans: list[Span], start: int, end: int) -> bool:
    return all(end <= s or start >= e for s, e, _ in spans)


@dataclass
class Pseudonymizer:
    """Replace real names by pseudonyms in any text.

    - participants: with `real_name` filled (`list_participants(conn, with_real_names=True)`);
    - use_entities: also replace person names found by spaCy NER by `placeholder`;
    - keep_names: the analyst asked for real names (internal working documents): no change;
    - hide_organisations: also replace the participants' organisations.
    """

    participants: Iterable[Participant]
    placeholder: str = PERSON_PLACEHOLDER
    extra_names: Iterable[str] = ()
    use_entities: bool = False
    keep_names: bool = False
    hide_organisations: bool = False
    _patterns: list[tuple[re.Pattern[str], str]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        pairs: list[tuple[str, str]] = []
        for participant in self.participants:
            if participant.real_name:
                pairs.extend(
                    (v, participant.pseudonym) for v in name_variants(participant.real_name)
                )
            if self.hide_organisations and participant.organisation.strip():
                pairs.append((participant.organisation.strip(), ORGANISATION_PLACEHOLDER))
        for name in self.extra_names:
            pairs.extend((v, self.placeholder) for v in name_variants(name))
        pairs.sort(key=lambda pair: len(pair[0]), reverse=True)
        seen: set[str] = set()
        for variant, replacement in pairs:
            folded = fold(variant)
            if folded in seen:
                continue
            seen.add(folded)
            pattern = re.compile(rf"(?<!\w){re.escape(folded)}(?!\w)")
            self._patterns.append((pattern, replacement))

    def __call__(self, text: str) -> str:
        return self.apply(text)

    def _name_spans(self, text: str) -> list[Span]:
        folded = fold(text)
        spans: list[Span] = []
        for pattern, replacement in self._patterns:
            for match in pattern.finditer(folded):
                if _free(spans, *match.span()):
                    spans.append((match.start(), match.end(), replacement))
        return spans

    def _entity_spans(self, doc: object, spans: list[Span]) -> list[Span]:
        found = []
        for ent in doc.ents:  # type: ignore[attr-defined]
            if ent.label_ == "PER" and _free(spans, ent.start_char, ent.end_char):
                # Pseudonyms and placeholders already in a text must not be replaced again.
                if ent.text.startswith("[") or any(ent.text in r for *_, r in spans):
                    continue
                found.append((ent.start_char, ent.end_char, self.placeholder))
        return found

    @staticmethod
    def _replace(text: str, spans: list[Span]) -> str:
        for start, end, replacement in sorted(spans, reverse=True):
            text = text[:start] + replacement + text[end:]
        return text

    def apply(self, text: str) -> str:
        if self.keep_names or not text:
            return text
        return self.apply_many([text])[0]

    def apply_many(self, texts: Iterable[str]) -> list[str]:
        """Same as `apply` on each text; spaCy runs in batches."""
        texts = list(texts)
        if self.keep_names:
            return texts
        name_spans = [self._name_spans(t) for t in texts]
        if self.use_entities:
            from qualipipe.nlp import entity_pipeline

            docs = entity_pipeline().pipe(texts, batch_size=64)
            for spans, doc in zip(name_spans, docs, strict=True):
                spans.extend(self._entity_spans(doc, spans))
        return [self._replace(t, s) for t, s in zip(texts, name_spans, strict=True)]


def pseudonymizer_for(
    study: Study,
    *,
    keep_names: bool = False,
    hide_organisations: bool = False,
    use_entities: bool = True,
) -> Pseudonymizer:
    """The pseudonymiser for every verbatim a stage outputs (quotes, tables, workbooks)."""
    from qualipipe.store import list_participants

    participants = list_participants(study.conn, with_real_names=True)
    interviewers = sorted(
        {
            name.strip()
            for p in participants
            for name in re.split(r"[|;,/]", p.interviewer)
            if len(name.strip()) >= 3
        }
    )
    return Pseudonymizer(
        participants,
        extra_names=interviewers,
        use_entities=use_entities,
        keep_names=keep_names,
        hide_organisations=hide_organisations,
    )
