"""Cross-territory comparison: the same codes across every territory of the study, with the
territory typology (rural/urbain, filière/généraliste, émergent/existant) as columns."""

from __future__ import annotations

from collections.abc import Sequence

from qualipipe.records import Role
from qualipipe.synthesize import tables as tb
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
        for d in sorted(done, key=lambda d: d.territory.id)
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
        section=SECTION,
    )


def codes_comparison_table(done: Sequence[TerritoryData], options: SynthesisOptions) -> Table:
    ordered = sorted(done, key=lambda d: d.territory.id)
    stats = {d.territory.id: tb.code_stats(d) for d in ordered}
    bases = {d.territory.id: len(d.analysed()) for d in ordered}
    shared = {
        d.territory.id: {
            i.stats.code.id
            for i in tb.shared_issues(stats[d.territory.id], threshold=options.share_threshold)
        }
        for d in ordered
    }
    codebook = ordered[0].codebook if ordered else None
    kinds = [k for k in TYPOLOGY if any(getattr(d.territory, k[0]) == k[1] for d in ordered)]
    rows: list[tuple[Cell, ...]] = []
    codes = codebook.codable() if codebook else []
    for code in codes:
        mentions = {
            tid: len(s[code.id].participants) if code.id in s else 0 for tid, s in stats.items()
        }
        if not any(mentions.values()):
            continue
        row: list[Cell] = [code.family, code.id, code.label]
        row += [tb.share(mentions[d.territory.id], bases[d.territory.id]) for d in ordered]
        for attribute, value in kinds:
            group = [d.territory.id for d in ordered if getattr(d.territory, attribute) == value]
            row.append(tb.share(sum(mentions[t] for t in group), sum(bases[t] for t in group)))
        row.append(", ".join(t for t in shared if code.id in shared[t]))
        rows.append(tuple(row))
    columns = ["Famille", "Code", "Libellé"]
    columns += [f"% {d.territory.name}" for d in ordered]
    columns += [f"% {value}" for _, value in kinds]
    columns.append("Enjeu partagé dans")
    first_percent = 3
    last_percent = len(columns) - 2
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
        percent_columns=frozenset(range(first_percent, last_percent + 1)),
        section=SECTION,
    )


def comparison_tables(done: Sequence[TerritoryData], options: SynthesisOptions) -> list[Table]:
    return [territories_table(done), codes_comparison_table(done, options)]
