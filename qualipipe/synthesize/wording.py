"""How outputs name what was analysed: « 13 contributions analysées », « 3 entretiens et
2 comptes rendus analysés » — the wording follows the kind of the sources, never « entretien »
for a written contribution."""

from __future__ import annotations

from collections.abc import Iterable

from qualipipe.records import SOURCE_KIND_NOUNS, SourceKind

FEMININE = frozenset({SourceKind.WRITTEN, SourceKind.WORKSHOP, SourceKind.SURVEY})


def analysed_phrase(counts: Iterable[tuple[SourceKind, int]]) -> str:
    """« 1 entretien analysé », « 13 contributions analysées », « aucun texte analysé »."""
    order = list(SourceKind)
    present = sorted(((kind, n) for kind, n in counts if n), key=lambda item: order.index(item[0]))
    if not present:
        return "aucun texte analysé"
    parts = [f"{n} {SOURCE_KIND_NOUNS[kind][0 if n == 1 else 1]}" for kind, n in present]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " et " + parts[-1]
    plural = len(present) > 1 or present[0][1] > 1
    feminine = all(kind in FEMININE for kind, _ in present)
    return f"{listed} analysé{'e' if feminine else ''}{'s' if plural else ''}"


def ptce_description(name: str, ptce: str, kinds: Iterable[str]) -> str:
    """« Auxois — PTCE Pôle alimentaire (filière, émergent, rural) », empty parts left out."""
    details = ", ".join(k for k in kinds if k)
    text = f"{name} — PTCE {ptce}" if ptce else name
    return f"{text} ({details})" if details else text


def authors_noun(counts: Iterable[tuple[SourceKind, int]]) -> str:
    """Whose words a word cloud shows: « des personnes interrogées » for interviews, « des
    contributions » or « des comptes rendus » for written sources, « des textes » when mixed."""
    present = {kind for kind, n in counts if n}
    if present <= {SourceKind.TRANSCRIPT}:
        return "des personnes interrogées"
    if len(present) == 1:
        return "des " + SOURCE_KIND_NOUNS[present.pop()][1]
    return "des textes analysés"
