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
from qualipipe.synthesize.cells import french_number, natural_key
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
from qualipipe.synthesize.wording import authors_phrase

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
    contributors: frozenset[str] = frozenset()  # authors of written contributions and answers

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
            contributors=frozenset(i for i in ids if people[i].role == Role.CONTRIBUTOR),
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
            options.quote_chars,
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
    n_contributors = len(data.analysed(Role.CONTRIBUTOR))
    columns = ["Code", "Libellé", "Statut", "Fondateurs", "% fondateurs", "Acteurs", "% acteurs"]
    columns += ["Contributeurs", "% contributeurs"]
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
            len(s.contributors),
            share(len(s.contributors), n_contributors),
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
        f"Base : {authors_phrase(data)} dont au moins un texte a été analysé. Un code est « validé » quand un·e analyste l'a accepté ou ajouté ; "
        "« suggéré (non revu) » quand seule la machine l'a proposé."
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
        percent_columns=frozenset({4, 6, 8}),
        section=SECTION_CODES,
        id_columns=frozenset({0}),
        status_column=2,
        optional_columns=frozenset(range(3, 9)),
        # Segment counts are evidence for the analyst; the reader has people and the status.
        detail_columns=frozenset(range(9, len(columns) - 1)),
        long_columns=frozenset({len(columns) - 1}),
    )


# ---------------------------------------------------------------------------------------------
# Shared issues
# ---------------------------------------------------------------------------------------------

CRITERION_BOTH = "fondateurs et acteurs"
CRITERION_TYPES = "≥ {n} participants de plusieurs types d'acteurs"
CRITERION_ONE_TYPE = "≥ {n} participants (un seul type d'acteur dans le territoire)"


def shared_criterion(
    founders: int,
    actors: int,
    participants: int,
    actor_types: int,
    threshold: int,
    *,
    territory_types: int = 2,
) -> str | None:
    """The shared-issue rule: mentioned by founders AND actors, or by at least `threshold`
    participants of at least two actor types. When every participant of the territory has the
    same actor type, the second criterion cannot discriminate: `threshold` participants suffice.
    Returns the criterion met, or None."""
    met = []
    if founders >= 1 and actors >= 1:
        met.append(CRITERION_BOTH)
    if participants >= threshold and actor_types >= 2:
        met.append(CRITERION_TYPES.format(n=threshold))
    elif participants >= threshold and territory_types <= 1:
        met.append(CRITERION_ONE_TYPE.format(n=threshold))
    return " ; ".join(met) or None


def shared_issues(
    stats: dict[str, CodeStats],
    *,
    threshold: int,
    family: str = ISSUES_FAMILY,
    territory_types: int = 2,
) -> list[SharedIssue]:
    """Shared issues, ranked by participants, then actor types, founders+actors, segments, id."""
    found = []
    for s in stats.values():
        if s.code.family != family:
            continue
        criterion = shared_criterion(
            len(s.founders),
            len(s.actors),
            len(s.participants),
            len(s.by_type),
            threshold,
            territory_types=territory_types,
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


def territory_shared_issues(
    data: TerritoryData, stats: dict[str, CodeStats], threshold: int
) -> list[SharedIssue]:
    """`shared_issues` with the territory's own number of actor types."""
    return shared_issues(stats, threshold=threshold, territory_types=len(actor_types_present(data)))


def shared_rule_note(data: TerritoryData, threshold: int) -> str:
    """Which rule applied in this territory, in French, for the table's note."""
    founders, actors = len(data.analysed(Role.FOUNDER)), len(data.analysed(Role.ACTOR))
    types = actor_types_present(data)
    rule = (
        "Un enjeu est partagé s'il est cité à la fois par des fondateur·rice·s du PTCE et par des "
        f"acteur·rice·s du territoire, ou par au moins {threshold} participants de plusieurs types "
        "d'acteurs (seuil réglable avec --seuil-partage)."
    )
    if not founders or not actors:
        rule += (
            " Ici, aucun·e "
            + ("fondateur·rice" if not founders else "acteur·rice")
            + " n'a été analysé·e : seul le second critère peut s'appliquer."
        )
    if len(types) <= 1:
        kind = f" (« {types[0]} »)" if types else ""
        rule += (
            f" Tous les participants ont le même type d'acteur{kind} : le critère « plusieurs "
            f"types » est remplacé par « au moins {threshold} participants »."
        )
    return rule + " Classement : nombre de participants, puis de types d'acteurs, puis de segments."


def who_shares(stats: CodeStats) -> str:
    return ", ".join(f"{t} ({len(ids)})" for t, ids in stats.by_type.items())


def shared_issues_table(issues: Sequence[SharedIssue], note: str) -> Table:
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
        note=note if issues else note + " Aucun enjeu ne remplit ces critères.",
        muted_rows=frozenset(
            i for i, issue in enumerate(issues) if issue.stats.status == SUGGESTED
        ),
        section=SECTION_SHARED,
        id_columns=frozenset({1}),
        optional_columns=frozenset({4, 5, 6}),
        status_column=10,
        long_columns=frozenset({7, 8}),
    )


# ---------------------------------------------------------------------------------------------
# Cross-tables
# ---------------------------------------------------------------------------------------------


def family_label(data: TerritoryData, family: str) -> str:
    code = data.codebook.by_id().get(family)
    return code.label if code is not None else family


def founders_actors_table(data: TerritoryData, stats: dict[str, CodeStats]) -> Table:
    n_f, n_a = len(data.analysed(Role.FOUNDER)), len(data.analysed(Role.ACTOR))
    rows = []
    for s in stats.values():
        pf, pa = share(len(s.founders), n_f), share(len(s.actors), n_a)
        gap = round((pf or 0.0) - (pa or 0.0), 4) if pf is not None and pa is not None else None
        rows.append(
            (
                family_label(data, s.code.family),
                s.code.id,
                s.code.label,
                len(s.founders),
                pf,
                len(s.actors),
                pa,
                gap,
                s.status,
            )
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
            "Statut",
        ),
        rows=tuple(rows),
        note=f"Base : {n_f} fondateur·rice(s), {n_a} acteur·rice(s). Écart en points de pourcentage.",
        muted_rows=frozenset(i for i, s in enumerate(stats.values()) if s.status == SUGGESTED),
        percent_columns=frozenset({4, 6, 7}),
        section=SECTION_CROSS,
        id_columns=frozenset({1}),
        status_column=8,
        grouped_columns=frozenset({0}),
    )


def actor_types_present(data: TerritoryData) -> list[str]:
    return sorted({p.actor_type for p in data.analysed()}, key=lambda t: (t.casefold(), t))


def by_actor_type_table(data: TerritoryData, stats: dict[str, CodeStats]) -> Table:
    types = actor_types_present(data)
    totals = Counter(p.actor_type for p in data.analysed())
    rows: list[tuple[Cell, ...]] = [
        (
            family_label(data, s.code.family),
            s.code.id,
            s.code.label,
            *(len(s.by_type.get(t, ())) for t in types),
            s.status,
        )
        for s in stats.values()
    ]
    return Table(
        key="Par type d'acteur",
        title="Mentions par type d'acteur (nombre de participants)",
        columns=("Famille", "Code", "Libellé", *(f"{t} (n={totals[t]})" for t in types), "Statut"),
        rows=tuple(rows),
        note="Chaque cellule compte les participants de ce type qui mentionnent le code.",
        muted_rows=frozenset(i for i, s in enumerate(stats.values()) if s.status == SUGGESTED),
        section=SECTION_CROSS,
        id_columns=frozenset({1}),
        status_column=3 + len(types),
        grouped_columns=frozenset({0}),
    )


COOCCURRENCE_MIN_PARTICIPANTS = 2
COOCCURRENCE_MIN_LIFT = 1.2
COOCCURRENCE_DOCUMENT_ROWS = 15


def cooccurrence_table(
    data: TerritoryData,
    stats: dict[str, CodeStats],
    families: Iterable[str] = COOCCURRENCE_FAMILIES,
) -> Table:
    """Pairs of needs / issues that go together more often than chance would have them: cited by
    at least COOCCURRENCE_MIN_PARTICIPANTS same participants, with a lift (participants citing
    both, over what independent mentions would give) of at least COOCCURRENCE_MIN_LIFT."""
    wanted = [s for s in stats.values() if s.code.family in set(families)]
    base = len(data.analysed())
    segments_of: dict[str, set[int]] = {
        s.code.id: set(s.validated_segments) | set(s.suggested_segments) for s in wanted
    }
    rows = []
    for a, b in combinations(wanted, 2):
        people = len(a.participants & b.participants)
        if people < COOCCURRENCE_MIN_PARTICIPANTS:
            continue
        lift = base * people / (len(a.participants) * len(b.participants))
        if lift < COOCCURRENCE_MIN_LIFT:
            continue
        same_segment = len(segments_of[a.code.id] & segments_of[b.code.id])
        rows.append(
            (a.code.id, a.code.label, b.code.id, b.code.label, people, round(lift, 2), same_segment)
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
            "Indice d'association",
            "Segments portant les deux",
        ),
        rows=tuple(rows),
        note=(
            "Paires de codes des familles Besoins et Enjeux citées par au moins "
            f"{COOCCURRENCE_MIN_PARTICIPANTS} mêmes participants, et plus souvent ensemble que le "
            "hasard ne le voudrait : l'indice d'association (lift) rapporte le nombre de "
            "participants qui citent les deux à celui qu'on attendrait si les deux mentions étaient "
            f"indépendantes (1 = hasard ; seuil {french_number(COOCCURRENCE_MIN_LIFT)}). Classement : "
            "participants, puis indice."
        ),
        section=SECTION_CROSS,
        id_columns=frozenset({0, 2}),
        document_rows=COOCCURRENCE_DOCUMENT_ROWS,
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
        optional_columns=frozenset({2, 3}),
        long_columns=frozenset({4}),
    )


MASKED_ORGANISATION = "[organisation masquée]"


def shown_organisation(organisation: str, pseudonymize: Callable[[str], str]) -> str:
    """An organisation named after a person ("Ranoux Bâtiment") would give the name away."""
    return organisation if pseudonymize(organisation) == organisation else MASKED_ORGANISATION


PARTICIPANTS_DOCUMENT_ROWS = 30


def participants_table(
    data: TerritoryData,
    carried: dict[str, list[str]],
    pseudonymize: Callable[[str], str],
    *,
    keep_names: bool,
) -> Table:
    """Founders first, then those who carry the most shared issues (the first rows are the ones
    a document keeps for a large territory), then by pseudonym in natural order."""
    labels = {c.id: c.label for c in data.codebook.codes}
    people = sorted(
        data.analysed(),
        key=lambda p: (
            p.role != Role.FOUNDER,
            -len(carried.get(p.id, [])),
            natural_key(participant_label(p, keep_names=keep_names)),
        ),
    )
    rows = tuple(
        (
            participant_label(p, keep_names=keep_names),
            p.role.value,
            p.actor_type,
            shown_organisation(p.organisation, pseudonymize),
            len(carried.get(p.id, [])),
            ", ".join(labels.get(code, code) for code in carried.get(p.id, [])),
        )
        for p in people
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
        optional_columns=frozenset({3, 4, 5}),
        long_columns=frozenset({5}),
        document_rows=PARTICIPANTS_DOCUMENT_ROWS,
        note=(
            "Fondateur·rice·s d'abord, puis les participants qui portent le plus d'enjeux partagés."
        ),
    )
