"""Pure computations from a territory's typed records to the report's tables.

Figures count *participants* (founders, actors) who mention a code — a participant mentions a
code when at least one of their segments carries it — and *segments*. Validated codings come from
the analysts' decisions; suggested-only codings (suggestions on which nobody decided) are counted
unless `validated_only`, and every row says which kind it rests on.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from qualipipe.records import Code, Codebook, Participant, Role
from qualipipe.synthesize.model import (
    MIXED,
    SUGGESTED,
    VALIDATED,
    Cell,
    SynthesisOptions,
    Table,
    TerritoryData,
)
from qualipipe.synthesize.verbatims import Candidate, VerbatimPicker, format_verbatim

ISSUES_FAMILY = "ENJ"
MAIN_FAMILIES = ("MOT", "BES", "ENJ")
COOCCURRENCE_FAMILIES = ("BES", "ENJ")

SECTION_CODES = "Motivations, besoins et enjeux"
SECTION_SHARED = "Enjeux territoriaux partagés"
SECTION_CROSS = "Fondateurs, acteurs et types d'acteurs"
SECTION_ACTORS = "Cartographie des acteurs"


@dataclass(frozen=True)
class CodeStats:
    """Who mentions one code in one territory, and on how many segments."""

    code: Code
    validated_segments: tuple[int, ...]
    suggested_segments: tuple[int, ...]
    founders: frozenset[str]
    actors: frozenset[str]
    by_type: dict[str, frozenset[str]]  # actor type -> participant ids

    @property
    def participants(self) -> frozenset[str]:
        return self.founders | self.actors

    @property
    def segments(self) -> int:
        return len(self.validated_segments) + len(self.suggested_segments)

    @property
    def status(self) -> str:
        if self.validated_segments and self.suggested_segments:
            return MIXED
        return VALIDATED if self.validated_segments else SUGGESTED


@dataclass(frozen=True)
class SharedIssue:
    stats: CodeStats
    criterion: str
    rank: int = 0


def participant_label(participant: Participant | None, *, keep_names: bool) -> str:
    if participant is None:
        return "répondant·e anonyme"
    if keep_names and participant.real_name:
        return participant.real_name
    return participant.pseudonym


def families(codebook: Codebook) -> list[Code]:
    """Root families in codebook order, MOT / BES / ENJ first (the report's order)."""
    roots = [c for c in codebook.codes if not c.codable and c.parent in (None, "")]
    roots = [r for r in roots if any(c.family == r.id and c.codable for c in codebook.codes)]
    rank = {family: i for i, family in enumerate(MAIN_FAMILIES)}
    order = {r.id: i for i, r in enumerate(roots)}
    return sorted(roots, key=lambda r: (rank.get(r.id, len(rank)), order[r.id]))


def code_stats(data: TerritoryData) -> dict[str, CodeStats]:
    """Per code (codebook order), the segments and analysed participants that carry it."""
    people = {p.id: p for p in data.analysed()}
    validated: dict[str, set[int]] = defaultdict(set)
    suggested: dict[str, set[int]] = defaultdict(set)
    holders: dict[str, set[str]] = defaultdict(set)
    for coding in data.codings:
        (validated if coding.validated else suggested)[coding.code_id].add(coding.segment_id)
        if coding.participant_id in people:
            holders[coding.code_id].add(coding.participant_id)
    stats: dict[str, CodeStats] = {}
    for code in data.codebook.codable():
        if code.id not in validated and code.id not in suggested:
            continue
        ids = holders[code.id]
        by_type: dict[str, set[str]] = defaultdict(set)
        for pid in ids:
            by_type[people[pid].actor_type].add(pid)
        stats[code.id] = CodeStats(
            code=code,
            validated_segments=tuple(sorted(validated[code.id])),
            suggested_segments=tuple(sorted(suggested[code.id] - validated[code.id])),
            founders=frozenset(i for i in ids if people[i].role == Role.FOUNDER),
            actors=frozenset(i for i in ids if people[i].role == Role.ACTOR),
            by_type={
                t: frozenset(by_type[t]) for t in sorted(by_type, key=lambda t: (t.casefold(), t))
            },
        )
    return stats


def share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


# ---------------------------------------------------------------------------------------------
# Per family: one row per code, with representative verbatims
# ---------------------------------------------------------------------------------------------


def chosen_verbatims(
    stats: CodeStats, data: TerritoryData, picker: VerbatimPicker, k: int
) -> list[Candidate]:
    candidates = [
        Candidate(i, data.segments[i].text, data.segments[i].participant_id, True)
        for i in stats.validated_segments
    ] + [
        Candidate(i, data.segments[i].text, data.segments[i].participant_id, False)
        for i in stats.suggested_segments
    ]
    return picker.pick(candidates, k)


def verbatims_for(
    stats: CodeStats,
    data: TerritoryData,
    picker: VerbatimPicker,
    pseudonymize: Callable[[str], str],
    options: SynthesisOptions,
) -> list[str]:
    return [
        format_verbatim(
            c,
            participant_label(data.participant(c.participant_id), keep_names=options.keep_names),
            pseudonymize,
        )
        for c in chosen_verbatims(stats, data, picker, options.verbatims_per_code)
    ]


def family_table(
    family: Code,
    data: TerritoryData,
    stats: dict[str, CodeStats],
    picker: VerbatimPicker,
    pseudonymize: Callable[[str], str],
    options: SynthesisOptions,
) -> Table:
    n_founders = len(data.analysed(Role.FOUNDER))
    n_actors = len(data.analysed(Role.ACTOR))
    columns = ["Code", "Libellé", "Statut", "Fondateurs", "% fondateurs", "Acteurs", "% acteurs"]
    columns += ["Segments validés"] + ([] if options.validated_only else ["Segments suggérés"])
    columns += ["Verbatims représentatifs"]
    rows: list[tuple[Cell, ...]] = []
    muted = set()
    for s in (s for s in stats.values() if s.code.family == family.id):
        row: list[Cell] = [
            s.code.id,
            s.code.label,
            s.status,
            len(s.founders),
            share(len(s.founders), n_founders),
            len(s.actors),
            share(len(s.actors), n_actors),
            len(s.validated_segments),
        ]
        if not options.validated_only:
            row.append(len(s.suggested_segments))
        row.append("\n".join(verbatims_for(s, data, picker, pseudonymize, options)))
        if s.status == SUGGESTED:
            muted.add(len(rows))
        rows.append(tuple(row))
    absent = [
        c.label for c in data.codebook.codable() if c.family == family.id and c.id not in stats
    ]
    note = (
        f"Base : {n_founders} fondateur·rice(s) et {n_actors} acteur·rice(s) dont au moins un texte "
        "a été analysé. Un code est « validé » quand un·e analyste l'a accepté ou ajouté ; "
        "« suggéré (non revu) » quand seule la machine l'a proposé (lignes en gris italique)."
    )
    if options.validated_only:
        note += " Seuls les codages validés sont comptés (--validated-only)."
    if absent:
        note += f" Codes sans mention : {', '.join(absent)}."
    return Table(
        key=family.id,
        title=f"{family.label} : mentions par code",
        columns=tuple(columns),
        rows=tuple(rows),
        note=note,
        muted_rows=frozenset(muted),
        percent_columns=frozenset({4, 6}),
        section=SECTION_CODES,
    )


# ---------------------------------------------------------------------------------------------
# Shared issues
# ---------------------------------------------------------------------------------------------

CRITERION_BOTH = "fondateurs et acteurs"
CRITERION_TYPES = "≥ {n} participants de plusieurs types d'acteurs"


def shared_criterion(
    founders: int, actors: int, participants: int, actor_types: int, threshold: int
) -> str | None:
    """The shared-issue rule: mentioned by founders AND actors, or by at least `threshold`
    participants of at least two actor types. Returns the criterion met, or None."""
    met = []
    if founders >= 1 and actors >= 1:
        met.append(CRITERION_BOTH)
    if participants >= threshold and actor_types >= 2:
        met.append(CRITERION_TYPES.format(n=threshold))
    return " ; ".join(met) or None


def shared_issues(
    stats: dict[str, CodeStats], *, threshold: int, family: str = ISSUES_FAMILY
) -> list[SharedIssue]:
    """Shared issues, ranked by participants, then actor types, founders+actors, segments, id."""
    found = []
    for s in stats.values():
        if s.code.family != family:
            continue
        criterion = shared_criterion(
            len(s.founders), len(s.actors), len(s.participants), len(s.by_type), threshold
        )
        if criterion:
            found.append(SharedIssue(s, criterion))
    found.sort(
        key=lambda i: (
            -len(i.stats.participants),
            -len(i.stats.by_type),
            -min(len(i.stats.founders), len(i.stats.actors)),
            -i.stats.segments,
            i.stats.code.id,
        )
    )
    return [SharedIssue(i.stats, i.criterion, rank) for rank, i in enumerate(found, start=1)]


def who_shares(stats: CodeStats) -> str:
    return ", ".join(f"{t} ({len(ids)})" for t, ids in stats.by_type.items())


def shared_issues_table(issues: Sequence[SharedIssue], threshold: int) -> Table:
    rows = tuple(
        (
            i.rank,
            i.stats.code.id,
            i.stats.code.label,
            len(i.stats.participants),
            len(i.stats.founders),
            len(i.stats.actors),
            len(i.stats.by_type),
            who_shares(i.stats),
            i.criterion,
            i.stats.segments,
            i.stats.status,
        )
        for i in issues
    )
    return Table(
        key="Enjeux partagés",
        title="Enjeux territoriaux partagés, classés",
        columns=(
            "Rang",
            "Code",
            "Enjeu",
            "Participants",
            "Fondateurs",
            "Acteurs",
            "Types d'acteurs",
            "Qui le partage (par type d'acteur)",
            "Critère",
            "Segments",
            "Statut",
        ),
        rows=rows,
        note=(
            "Un enjeu est partagé s'il est cité à la fois par des fondateur·rice·s du PTCE et par "
            f"des acteur·rice·s du territoire, ou par au moins {threshold} participants de plusieurs "
            "types d'acteurs (seuil réglable avec --seuil-partage). Classement : nombre de "
            "participants, puis de types d'acteurs, puis de segments."
        ),
        muted_rows=frozenset(
            i for i, issue in enumerate(issues) if issue.stats.status == SUGGESTED
        ),
        section=SECTION_SHARED,
    )


# ---------------------------------------------------------------------------------------------
# Cross-tables
# ---------------------------------------------------------------------------------------------


def founders_actors_table(data: TerritoryData, stats: dict[str, CodeStats]) -> Table:
    n_f, n_a = len(data.analysed(Role.FOUNDER)), len(data.analysed(Role.ACTOR))
    rows = []
    for s in stats.values():
        pf, pa = share(len(s.founders), n_f), share(len(s.actors), n_a)
        gap = round((pf or 0.0) - (pa or 0.0), 4) if pf is not None and pa is not None else None
        rows.append(
            (s.code.family, s.code.id, s.code.label, len(s.founders), pf, len(s.actors), pa, gap)
        )
    return Table(
        key="Fondateurs vs acteurs",
        title="Fondateurs et acteurs : qui mentionne quoi",
        columns=(
            "Famille",
            "Code",
            "Libellé",
            "Fondateurs",
            "% fondateurs",
            "Acteurs",
            "% acteurs",
            "Écart (fondateurs − acteurs)",
        ),
        rows=tuple(rows),
        note=f"Base : {n_f} fondateur·rice(s), {n_a} acteur·rice(s). Écart en points de pourcentage.",
        muted_rows=frozenset(i for i, s in enumerate(stats.values()) if s.status == SUGGESTED),
        percent_columns=frozenset({4, 6, 7}),
        section=SECTION_CROSS,
    )


def actor_types_present(data: TerritoryData) -> list[str]:
    return sorted({p.actor_type for p in data.analysed()}, key=lambda t: (t.casefold(), t))


def by_actor_type_table(data: TerritoryData, stats: dict[str, CodeStats]) -> Table:
    types = actor_types_present(data)
    totals = Counter(p.actor_type for p in data.analysed())
    rows: list[tuple[Cell, ...]] = [
        (s.code.family, s.code.id, s.code.label, *(len(s.by_type.get(t, ())) for t in types))
        for s in stats.values()
    ]
    return Table(
        key="Par type d'acteur",
        title="Mentions par type d'acteur (nombre de participants)",
        columns=("Famille", "Code", "Libellé", *(f"{t} (n={totals[t]})" for t in types)),
        rows=tuple(rows),
        note="Chaque cellule compte les participants de ce type qui mentionnent le code.",
        muted_rows=frozenset(i for i, s in enumerate(stats.values()) if s.status == SUGGESTED),
        section=SECTION_CROSS,
    )


def cooccurrence_table(
    data: TerritoryData,
    stats: dict[str, CodeStats],
    families: Iterable[str] = COOCCURRENCE_FAMILIES,
) -> Table:
    """Pairs of needs / issues mentioned by the same participants, and in the same segments."""
    wanted = [s for s in stats.values() if s.code.family in set(families)]
    segments_of: dict[str, set[int]] = {
        s.code.id: set(s.validated_segments) | set(s.suggested_segments) for s in wanted
    }
    rows = []
    for a, b in combinations(wanted, 2):
        people = a.participants & b.participants
        same_segment = segments_of[a.code.id] & segments_of[b.code.id]
        if people or same_segment:
            rows.append(
                (a.code.id, a.code.label, b.code.id, b.code.label, len(people), len(same_segment))
            )
    rows.sort(key=lambda r: (-r[4], -r[5], r[0], r[2]))
    return Table(
        key="Cooccurrences",
        title="Besoins et enjeux qui vont ensemble",
        columns=(
            "Code A",
            "Libellé A",
            "Code B",
            "Libellé B",
            "Participants citant les deux",
            "Segments portant les deux",
        ),
        rows=tuple(rows),
        note="Paires de codes des familles Besoins et Enjeux, classées par nombre de participants.",
        section=SECTION_CROSS,
    )


# ---------------------------------------------------------------------------------------------
# Actors
# ---------------------------------------------------------------------------------------------


def carried_issues(
    data: TerritoryData, stats: dict[str, CodeStats], issues: Sequence[SharedIssue]
) -> dict[str, list[str]]:
    """participant id -> shared issue codes they raise (in rank order)."""
    carried: dict[str, list[str]] = {p.id: [] for p in data.analysed()}
    for issue in issues:
        for pid in sorted(issue.stats.participants):
            carried[pid].append(issue.stats.code.id)
    return carried


def actor_types_table(
    data: TerritoryData, stats: dict[str, CodeStats], issues: Sequence[SharedIssue]
) -> Table:
    shared_ids = {i.stats.code.id for i in issues}
    rows = []
    for actor_type in actor_types_present(data):
        members = [p for p in data.analysed() if p.actor_type == actor_type]
        carried = [
            (s.code.label, len(s.by_type.get(actor_type, ())), s.code.id in shared_ids)
            for s in stats.values()
            if s.code.family == ISSUES_FAMILY and s.by_type.get(actor_type)
        ]
        carried.sort(key=lambda c: (-c[1], c[0]))
        rows.append(
            (
                actor_type,
                len(members),
                sum(p.role == Role.FOUNDER for p in members),
                sum(p.role == Role.ACTOR for p in members),
                "; ".join(f"{label} ({n})" for label, n, _ in carried),
                sum(1 for _, _, is_shared in carried if is_shared),
            )
        )
    return Table(
        key="Acteurs par type",
        title="Acteurs par type et enjeux qu'ils portent",
        columns=(
            "Type d'acteur",
            "Participants",
            "dont fondateurs",
            "dont acteurs",
            "Enjeux portés (participants)",
            "Enjeux partagés portés",
        ),
        rows=tuple(rows),
        section=SECTION_ACTORS,
    )


MASKED_ORGANISATION = "[organisation masquée]"


def shown_organisation(organisation: str, pseudonymize: Callable[[str], str]) -> str:
    """An organisation named after a person ("Ranoux Bâtiment") would give the name away."""
    return organisation if pseudonymize(organisation) == organisation else MASKED_ORGANISATION


def participants_table(
    data: TerritoryData,
    carried: dict[str, list[str]],
    pseudonymize: Callable[[str], str],
    *,
    keep_names: bool,
) -> Table:
    rows = tuple(
        (
            participant_label(p, keep_names=keep_names),
            p.role.value,
            p.actor_type,
            shown_organisation(p.organisation, pseudonymize),
            len(carried.get(p.id, [])),
            ", ".join(carried.get(p.id, [])),
        )
        for p in sorted(data.analysed(), key=lambda p: (p.role.value != "fondateur", p.pseudonym))
    )
    return Table(
        key="Participants",
        title="Personnes rencontrées (liste pseudonymisée)",
        columns=(
            "Participant",
            "Rôle",
            "Type d'acteur",
            "Organisation",
            "Enjeux partagés portés",
            "Lesquels",
        ),
        rows=rows,
        section=SECTION_ACTORS,
    )
