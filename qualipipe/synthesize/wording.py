"""How outputs name what was analysed: « 13 contributions analysées », « 3 entretiens et
2 comptes rendus analysés » — the wording follows the kind of the sources, never « entretien »
for a written contribution."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from qualipipe.records import SOURCE_KIND_NOUNS, Role, SourceKind
from qualipipe.synthesize.model import SynthesisOptions, TerritoryData

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


def ptce_named(ptce: str) -> str:
    """« PTCE Pôle alimentaire »; a name that already says it (« PTCE de l'Ain », « Pôle
    territorial de coopération économique Sud ») is not prefixed twice."""
    said = re.match(r"(?i)\s*(?:ptce|p[ôo]le territorial de coop[ée]ration [ée]conomique)\b", ptce)
    return ptce if said else f"PTCE {ptce}"


def ptce_description(name: str, ptce: str, kinds: Iterable[str]) -> str:
    """« Auxois — PTCE Pôle alimentaire (filière, émergent, rural) », empty parts left out."""
    details = ", ".join(k for k in kinds if k)
    text = f"{name} — {ptce_named(ptce)}" if ptce else name
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


def authors_phrase(data: TerritoryData) -> str:
    """« 2 fondateur·rice(s) et 5 acteur·rice(s) », « 13 contributeur·rice(s) »."""
    nouns = {
        Role.FOUNDER: "fondateur·rice(s)",
        Role.ACTOR: "acteur·rice(s)",
        Role.CONTRIBUTOR: "contributeur·rice(s)",
    }
    counts = [(len(data.analysed(role)), noun) for role, noun in nouns.items()]
    shown = [f"{n} {noun}" for n, noun in counts if n] or ["aucun participant"]
    return " et ".join(shown)


def total_counts(done: Sequence[TerritoryData]) -> list[tuple[SourceKind, int]]:
    totals: dict[SourceKind, int] = {}
    for data in done:
        for kind, n in data.source_counts:
            totals[kind] = totals.get(kind, 0) + n
    return sorted(totals.items())


def intro_lines(data: TerritoryData, options: SynthesisOptions) -> tuple[str, ...]:
    t = data.territory
    return (
        f"Étude : {data.study_name}. Territoire : "
        f"{ptce_description(t.name, t.ptce_name, (t.ptce_type, t.stage, t.setting))}.",
        f"Synthèse du {options.date} : {analysed_phrase(data.source_counts)} ; "
        + authors_phrase(data)
        + " dont au moins un texte a été analysé.",
        "Codages : validés par un·e analyste"
        + (
            " uniquement (--validated-only)."
            if options.validated_only
            else " (✓) et suggestions de la machine non encore revues (○)."
        )
        + (
            " Noms réels conservés (--noms-reels)."
            if options.keep_names
            else " Verbatims pseudonymisés."
        ),
    )
