"""Cross-territory comparison: the same codes across every territory of the study, with the
territory typology (rural/urbain, filière/généraliste, émergent/existant).

A handful of territories fit as columns of one table. Beyond that, documents show territories as
rows, grouped by typology, with each territory's most cited codes, plus the codes by type of
territory; the full codes × territories matrix stays in the workbook.
"""

from __future__ import annotations

from collections.abc import Sequence

from qualipipe.records import Role
from qualipipe.synthesize import tables as tb
from qualipipe.synthesize.cells import french_number, natural_key
from qualipipe.synthesize.model import Cell, SynthesisOptions, Table, TerritoryData

SECTION = "Comparaison des territoires"
TYPOLOGY = (
    ("setting", "rural"),
    ("setting", "urbain"),
    ("ptce_type", "filière"),
    ("ptce_type", "généraliste"),
    ("stage", "émergent"),
    ("stage", "existant"),
)
MAX_TERRITORY_COLUMNS = 6  # beyond: territories as rows in documents
TOP_CODES = 3


def typology_order(d: TerritoryData) -> tuple[object, ...]:
    t = d.territory
    return (t.setting, t.ptce_type, t.stage, natural_key(t.name))


def territories_table(done: Sequence[TerritoryData]) -> Table:
    rows = tuple(
        (
            d.territory.id,
            d.territory.name,
            d.territory.ptce_name,
            d.territory.setting,
            d.territory.ptce_type,
            d.territory.stage,
            sum(n for _, n in d.source_counts),
            len(d.analysed(Role.FOUNDER)),
            len(d.analysed(Role.ACTOR)),
        )
        for d in sorted(done, key=typology_order)
    )
    return Table(
        key="Territoires",
        title="Les territoires comparés",
        columns=(
            "Identifiant",
            "Territoire",
            "PTCE",
            "Milieu",
            "Type de PTCE",
            "Stade",
            "Textes analysés",
            "Fondateurs",
            "Acteurs",
        ),
        rows=rows,
        note="Territoires regroupés par milieu, type de PTCE et stade.",
        section=SECTION,
        id_columns=frozenset({0}),
        grouped_columns=frozenset({3}),
        optional_columns=frozenset({6, 7, 8}),
    )


class Mentions:
    """Participants mentioning each code, per territory, and the shared issues of each."""

    def __init__(self, done: Sequence[TerritoryData], options: SynthesisOptions) -> None:
        self.ordered = sorted(done, key=typology_order)
        self.stats = {d.territory.id: tb.code_stats(d) for d in self.ordered}
        self.bases = {d.territory.id: len(d.analysed()) for d in self.ordered}
        self.shared = {
            d.territory.id: {
                i.stats.code.id
                for i in tb.territory_shared_issues(
                    d, self.stats[d.territory.id], options.share_threshold
                )
            }
            for d in self.ordered
        }
        self.codes = self.ordered[0].codebook.codable() if self.ordered else []
        self.kinds = [
            k for k in TYPOLOGY if any(getattr(d.territory, k[0]) == k[1] for d in self.ordered)
        ]

    def count(self, territory_id: str, code_id: str) -> int:
        s = self.stats[territory_id]
        return len(s[code_id].participants) if code_id in s else 0

    def group_share(self, attribute: str, value: str, code_id: str) -> float | None:
        group = [d.territory.id for d in self.ordered if getattr(d.territory, attribute) == value]
        return tb.share(
            sum(self.count(t, code_id) for t in group), sum(self.bases[t] for t in group)
        )


def codes_comparison_table(
    done: Sequence[TerritoryData], options: SynthesisOptions, mentions: Mentions | None = None
) -> Table:
    m = mentions or Mentions(done, options)
    rows: list[tuple[Cell, ...]] = []
    for code in m.codes:
        counts = {d.territory.id: m.count(d.territory.id, code.id) for d in m.ordered}
        if not any(counts.values()):
            continue
        row: list[Cell] = [code.family, code.id, code.label]
        row += [tb.share(counts[d.territory.id], m.bases[d.territory.id]) for d in m.ordered]
        row += [m.group_share(attribute, value, code.id) for attribute, value in m.kinds]
        row.append(", ".join(t for t in m.shared if code.id in m.shared[t]))
        rows.append(tuple(row))
    columns = ["Famille", "Code", "Libellé"]
    columns += [f"% {d.territory.name}" for d in m.ordered]
    columns += [f"% {value}" for _, value in m.kinds]
    columns.append("Enjeu partagé dans")
    return Table(
        key="Comparaison des codes",
        title="Part des participants qui mentionnent chaque code, par territoire et par type",
        columns=tuple(columns),
        rows=tuple(rows),
        note=(
            "Base : participants dont au moins un texte a été analysé. Les colonnes par type "
            "regroupent les participants de tous les territoires de ce type."
            + (" Codages validés uniquement." if options.validated_only else "")
        ),
        percent_columns=frozenset(range(3, len(columns) - 1)),
        section=SECTION,
        id_columns=frozenset({0, 1}),
        long_columns=frozenset({len(columns) - 1}),
        in_documents=len(m.ordered) <= MAX_TERRITORY_COLUMNS,
    )


def typology_table(m: Mentions, options: SynthesisOptions) -> Table:
    """Codes as rows, types of territory as columns: as wide for 60 territories as for 2."""
    rows: list[tuple[Cell, ...]] = []
    for code in m.codes:
        total = sum(m.count(d.territory.id, code.id) for d in m.ordered)
        if not total:
            continue
        rows.append(
            (
                code.id,
                tb.family_label(m.ordered[0], code.family),
                code.label,
                *(m.group_share(attribute, value, code.id) for attribute, value in m.kinds),
                sum(1 for t in m.shared if code.id in m.shared[t]),
            )
        )
    groups = {
        value: sum(1 for d in m.ordered if getattr(d.territory, attribute) == value)
        for attribute, value in m.kinds
    }
    columns = (
        "Code",
        "Famille",
        "Libellé",
        *(f"% {value} ({groups[value]})" for _, value in m.kinds),
        "Territoires où l'enjeu est partagé",
    )
    return Table(
        key="Codes par type",
        title="Part des participants qui mentionnent chaque code, par type de territoire",
        columns=columns,
        rows=tuple(rows),
        note=(
            "Entre parenthèses : nombre de territoires du type. Chaque part regroupe les "
            "participants (dont au moins un texte a été analysé) de tous les territoires du type."
            + (" Codages validés uniquement." if options.validated_only else "")
        ),
        percent_columns=frozenset(range(3, 3 + len(m.kinds))),
        section=SECTION,
        id_columns=frozenset({0}),
        grouped_columns=frozenset({1}),
    )


def top_codes(m: Mentions, d: TerritoryData, family: str) -> str:
    tid = d.territory.id
    cited = [
        (m.count(tid, c.id), c.label) for c in m.codes if c.family == family and m.count(tid, c.id)
    ]
    cited.sort(key=lambda c: (-c[0], c[1]))
    return "\n".join(
        f"{label} ({french_number(tb.share(n, m.bases[tid]), percent=True)})"
        for n, label in cited[:TOP_CODES]
    )


def territory_profiles_table(m: Mentions) -> Table:
    """Territories as rows (grouped by typology), each with its most cited codes per family."""
    families = tb.families(m.ordered[0].codebook) if m.ordered else []
    families = [f for f in families if f.id in tb.MAIN_FAMILIES]
    rows: tuple[tuple[Cell, ...], ...] = tuple(
        (
            d.territory.id,
            d.territory.name,
            f"{d.territory.setting}, {d.territory.ptce_type}, {d.territory.stage}",
            m.bases[d.territory.id],
            *(top_codes(m, d, f.id) for f in families),
            len(m.shared[d.territory.id]),
        )
        for d in m.ordered
    )
    return Table(
        key="Profils des territoires",
        title=f"Les {TOP_CODES} codes les plus cités de chaque territoire, par famille",
        columns=(
            "Identifiant",
            "Territoire",
            "Milieu, type, stade",
            "Participants",
            *(f.label for f in families),
            "Enjeux partagés",
        ),
        rows=rows,
        note=(
            "Entre parenthèses : part des participants du territoire qui mentionnent le code. "
            "Territoires regroupés par milieu, type de PTCE et stade ; le détail par code et par "
            "territoire est dans le classeur (feuille « Comparaison des codes »)."
        ),
        section=SECTION,
        id_columns=frozenset({0}),
        long_columns=frozenset(range(4, 4 + len(families))),
        grouped_columns=frozenset({2}),
    )


def comparison_tables(done: Sequence[TerritoryData], options: SynthesisOptions) -> list[Table]:
    m = Mentions(done, options)
    tables = [territories_table(done), codes_comparison_table(done, options, m)]
    if len(m.ordered) > MAX_TERRITORY_COLUMNS:
        tables += [typology_table(m, options), territory_profiles_table(m)]
    return tables
