"""The territorial portrait: INSEE figures of one territory beside its département(s).

Territory figures are recomputed from counts summed over the territory's communes (a rate is
never averaged over communes: unemployment rate = unemployed / active, both summed). Medians and
poverty rates cannot be summed: they are shown per commune only, « s » where INSEE withholds them.
The results are plain tables (`PortraitTable`) and values per level for the charts; the synthesis
renders them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from qualipipe.records import Territory
from qualipipe.territory import storage
from qualipipe.territory.departements import departement_label
from qualipipe.territory.insee import ADDITIVE, Years

SECRET = "s"  # secret statistique: INSEE withholds the value
SECTION = "Portrait du territoire (données INSEE)"
LICENCE = "INSEE, base du comparateur de territoires, Licence Ouverte / Etalab 2.0"

Value = float | None
Sums = dict[str, Value]


@dataclass(frozen=True)
class Level:
    """One column of the portrait: the territory, a département, or all loaded départements."""

    label: str
    short: str  # for chart legends
    communes: int
    sums: Sums


@dataclass(frozen=True)
class PortraitTable:
    key: str  # sheet name (≤ 31 characters)
    title: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str | int | float | None, ...], ...]
    note: str = ""


@dataclass
class Portrait:
    territory: Territory
    vintage: int
    years: Years
    levels: list[Level]
    perimeter: list[str]
    missing_communes: list[str]
    tables: list[PortraitTable] = field(default_factory=list)
    values: dict[str, list[Value]] = field(default_factory=dict)  # indicator -> one per level

    @property
    def source(self) -> str:
        return f"Source : {LICENCE}, millésime {self.vintage}."


# ---------------------------------------------------------------------------------------------
# Indicators computed from summed counts
# ---------------------------------------------------------------------------------------------


def _ratio(part: Value, whole: Value, scale: float = 100.0) -> Value:
    if part is None or whole is None or whole == 0:
        return None
    return part / whole * scale


def annual_change(end: Value, start: Value, years: int) -> Value:
    """Mean annual change in %, compound: ((end / start) ** (1 / years) − 1) × 100."""
    if end is None or start is None or start <= 0 or years <= 0:
        return None
    return ((end / start) ** (1 / years) - 1) * 100


def natural_change(s: Sums, years: int) -> Value:
    """Annual change due to births minus deaths, in % of the mean population of the period."""
    if None in (s["nais"], s["dece"], s["pop"], s["pop_prev"]) or years <= 0:
        return None
    mean = (s["pop"] + s["pop_prev"]) / 2  # type: ignore[operator]
    return (s["nais"] - s["dece"]) / mean / years * 100 if mean else None  # type: ignore[operator]


def migration_change(s: Sums, years: int) -> Value:
    """Apparent migration balance: total annual change minus the natural part."""
    total, natural = annual_change(s["pop"], s["pop_prev"], years), natural_change(s, years)
    return None if total is None or natural is None else total - natural


Indicator = tuple[str, str, Callable[[Sums, int], Value], int, str]  # key, label, f, digits, src

POPULATION: list[Indicator] = [
    ("pop", "Population {c}", lambda s, n: s["pop"], 0, "rp"),
    ("pop_prev", "Population {p}", lambda s, n: s["pop_prev"], 0, "rp_prev"),
    (
        "pop_change",
        "Variation annuelle moyenne {p}-{c} (%)",
        lambda s, n: annual_change(s["pop"], s["pop_prev"], n),
        2,
        "trend",
    ),
    ("natural", "… due au solde naturel (%)", natural_change, 2, "trend"),
    ("migration", "… due au solde apparent des entrées-sorties (%)", migration_change, 2, "trend"),
    ("superf", "Superficie (km²)", lambda s, n: s["superf"], 1, "area"),
    (
        "density",
        "Densité (habitants par km²)",
        lambda s, n: _ratio(s["pop"], s["superf"], 1),
        1,
        "rp",
    ),
]
HOUSING: list[Indicator] = [
    ("men", "Ménages {c}", lambda s, n: s["men"], 0, "rp"),
    ("log", "Logements {c}", lambda s, n: s["log"], 0, "rp"),
    ("rp_share", "Résidences principales (% des logements)", lambda s, n: _ratio(s["rp"], s["log"]), 1, "rp"),
    ("rsecocc_share", "Résidences secondaires et logements occasionnels (%)", lambda s, n: _ratio(s["rsecocc"], s["log"]), 1, "rp"),
    ("vacancy", "Logements vacants (%)", lambda s, n: _ratio(s["logvac"], s["log"]), 1, "rp"),
    ("owners", "Propriétaires occupants (% des résidences principales)", lambda s, n: _ratio(s["rp_prop"], s["rp"]), 1, "rp"),
]  # fmt: skip
JOBS: list[Indicator] = [
    ("emplt", "Emplois au lieu de travail {c}", lambda s, n: s["emplt"], 0, "rp"),
    ("emplt_prev", "Emplois au lieu de travail {p}", lambda s, n: s["emplt_prev"], 0, "rp_prev"),
    ("emplt_change", "Variation annuelle moyenne de l'emploi {p}-{c} (%)", lambda s, n: annual_change(s["emplt"], s["emplt_prev"], n), 2, "rp_both"),
    ("salaried", "Part des emplois salariés (%)", lambda s, n: _ratio(s["emplt_sal"], s["emplt"]), 1, "rp"),
    ("activity", "Taux d'activité des 15-64 ans (%)", lambda s, n: _ratio(s["act1564"], s["pop1564"]), 1, "rp"),
    ("unemployment", "Taux de chômage des 15-64 ans, au sens du recensement (%)", lambda s, n: _ratio(s["chom1564"], s["act1564"]), 1, "rp"),
]  # fmt: skip
SECTORS: list[tuple[str, str]] = [
    ("etaz", "Agriculture, sylviculture et pêche"),
    ("etbe", "Industrie"),
    ("etfz", "Construction"),
    ("etgu", "Commerce, transports et services divers"),
    ("etgz", "… dont commerce et réparation automobile"),
    ("etoq", "Administration publique, enseignement, santé, action sociale"),
    ("ettef1", "Établissements de 1 à 9 salariés"),
    ("ettefp10", "Établissements de 10 salariés ou plus"),
]


def source_line(kind: str, y: Years) -> str:
    return {
        "rp": f"INSEE, RP {y.census}",
        "rp_prev": f"INSEE, RP {y.previous}",
        "trend": f"INSEE, RP {y.previous} et {y.census}, état civil",
        "rp_both": f"INSEE, RP {y.previous} et {y.census}",
        "area": "INSEE, superficie",
        "et": f"INSEE, Sirene / REE {y.establishments}",
        "fiscal": f"INSEE-DGFiP, Filosofi {y.fiscal}",
    }[kind]


def _shown(value: Value, digits: int) -> int | float | str:
    if value is None:
        return SECRET
    # + 0.0: a tiny negative rate must not show as « -0 ».
    return int(round(value)) if digits == 0 else round(value, digits) + 0.0


# ---------------------------------------------------------------------------------------------
# Levels: territory, its département(s), all loaded départements
# ---------------------------------------------------------------------------------------------


def _sum(frame: pd.DataFrame) -> Sums:
    return {c: None if frame[c].isna().any() else float(frame[c].sum()) for c in ADDITIVE}


def comparison_levels(departements: pd.DataFrame, wanted: Sequence[str]) -> list[Level]:
    """The territory's départements, then every loaded département together when it differs."""
    levels = []
    for dep in wanted:
        if dep in departements.index:
            row = departements.loc[dep]
            sums = {c: None if pd.isna(row[c]) else float(row[c]) for c in ADDITIVE}
            label = f"{departement_label(dep)}, {int(row['communes'])} communes du fichier"
            levels.append(Level(label, departement_label(dep), int(row["communes"]), sums))
    if len(departements) > len(levels):
        codes = list(departements.index)
        shown = ", ".join(codes[:6]) + ("…" if len(codes) > 6 else "")
        communes = int(departements["communes"].sum())
        label = f"Départements chargés ({shown}), {communes} communes"
        levels.append(Level(label, "Départements chargés", communes, _sum(departements)))
    return levels


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def _indicator_table(
    key: str, title: str, indicators: list[Indicator], p: Portrait, note: str
) -> PortraitTable:
    n = p.years.census - p.years.previous
    y = {"c": p.years.census, "p": p.years.previous}
    rows = []
    for ind_key, label, compute, digits, kind in indicators:
        values = [compute(level.sums, n) for level in p.levels]
        p.values[ind_key] = values
        rows.append(
            (label.format(**y), *[_shown(v, digits) for v in values], source_line(kind, p.years))
        )
    columns = ("Indicateur", *[level.label for level in p.levels], "Source")
    return PortraitTable(key, title, columns, tuple(rows), note)


def establishments_table(p: Portrait, note: str) -> PortraitTable:
    columns = ["Secteur d'activité"]
    for level in p.levels:
        columns += [f"{level.label} : nombre", f"{level.label} : part (%)"]
    source = source_line("et", p.years)
    totals = [level.sums["ettot"] for level in p.levels]
    p.values["ettot"] = totals
    rows: list[tuple[str | int | float | None, ...]] = [
        ("Établissements actifs (total)", *[c for t in totals for c in (_shown(t, 0), 100.0 if t else SECRET)], source)
    ]  # fmt: skip
    for key, label in SECTORS:
        counts = [level.sums[key] for level in p.levels]
        shares = [_ratio(c, t) for c, t in zip(counts, totals, strict=True)]
        p.values[key] = counts
        p.values[f"{key}_share"] = shares
        cells = [
            x for c, s in zip(counts, shares, strict=True) for x in (_shown(c, 0), _shown(s, 1))
        ]
        rows.append((label, *cells, source))
    return PortraitTable(
        "Portrait établissements",
        f"Établissements actifs par secteur, {p.years.establishments}",
        (*columns, "Source"),
        tuple(rows),
        note,
    )


def income_table(p: Portrait, communes: pd.DataFrame) -> PortraitTable:
    source = source_line("fiscal", p.years)
    rows = []
    for code, row in communes.iterrows():
        name = f"{row['name']} ({code})" if row["name"] else str(code)
        rows.append(
            (
                name,
                _shown(None if pd.isna(row["pop"]) else row["pop"], 0),
                *[
                    _shown(None if pd.isna(row[c]) else float(row[c]), d)
                    for c, d in (("nbmenfisc", 0), ("med", 0), ("tp60", 1), ("pimp", 1))
                ],
                source,
            )
        )
    return PortraitTable(
        "Portrait revenus",
        f"Revenus et pauvreté par commune, {p.years.fiscal}",
        (
            "Commune",
            f"Population {p.years.census}",
            "Ménages fiscaux",
            "Médiane du revenu disponible par unité de consommation (€)",
            "Taux de pauvreté à 60 % (%)",
            "Part des ménages fiscaux imposés (%)",
            "Source",
        ),
        tuple(rows),
        "s : secret statistique (valeur que l'INSEE ne publie pas pour les petites communes). "
        "Médianes et taux ne s'additionnent pas : ils sont donnés par commune, sans chiffre "
        "pour le territoire entier. " + p.source,
    )


def territory_portrait(
    conn: sqlite3.Connection, territory: Territory, vintage: int | None = None
) -> Portrait:
    """Compute the portrait of `territory` from the stored INSEE rows (latest vintage by default)."""
    vintage = storage.choose_vintage(conn, vintage)
    years = storage.vintage_years(conn, vintage)
    codes = storage.perimeter(conn, territory, vintage)
    communes = storage.commune_rows(conn, vintage, codes)
    missing = [c for c in territory.communes if c not in communes.index]
    deps = sorted(set(communes["departement"]))
    levels = [
        Level(f"{territory.name}, {len(codes)} commune{'s' if len(codes) > 1 else ''}", territory.name, len(codes), _sum(communes))
    ] if codes else []  # fmt: skip
    levels += comparison_levels(storage.departement_rows(conn, vintage), deps)
    p = Portrait(territory, vintage, years, levels, codes, missing)
    if not codes:
        return p
    note = perimeter_note(p, communes) + " " + p.source
    p.tables = [
        _indicator_table("Portrait population", f"Population, {years.previous}-{years.census}", POPULATION, p, note),
        _indicator_table("Portrait logement", f"Ménages et logements, {years.census}", HOUSING, p, note),
        _indicator_table("Portrait emploi", f"Emploi et activité, {years.previous}-{years.census}", JOBS, p, note),
        establishments_table(p, note),
        income_table(p, communes),
    ]  # fmt: skip
    return p


def perimeter_note(p: Portrait, communes: pd.DataFrame) -> str:
    t = p.territory
    names = [
        f"{row['name']} ({code})" if row["name"] else str(code) for code, row in communes.iterrows()
    ]
    parts = [f"Périmètre de « {t.name} » : {len(names)} commune{'s' if len(names) > 1 else ''}"]
    if any(code not in t.communes for code in p.perimeter):
        parts.append(f"(communes listées et membres de l'EPCI {', '.join(t.epci_siren)})")
    elif t.epci_siren:
        parts.append(
            f"(communes listées seulement : l'EPCI {', '.join(t.epci_siren)} n'a pas été "
            "développé, ses communes n'étant pas repérables dans les données chargées)"
        )
    text = " ".join(parts) + " : " + ", ".join(names[:30]) + ("…" if len(names) > 30 else "") + "."
    if p.missing_communes:
        text += f" Introuvables dans les données chargées : {', '.join(p.missing_communes)}."
    return text
