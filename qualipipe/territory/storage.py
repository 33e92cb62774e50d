"""Keeping the INSEE rows the study needs in `study.db`, and reading them back.

`load_insee_files` reads every file first (a bad file stops everything before anything is
written), then, in one transaction, stores per file: the rows of the study's communes (listed in
`qualipipe.toml`, or members of a listed EPCI through the file's EPCI column) and the sums over
each département of the file, the comparison levels of the portrait.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qualipipe import store
from qualipipe.errors import StudyError
from qualipipe.records import Territory
from qualipipe.territory.insee import ADDITIVE, VARIABLES, ComparateurFile, Years, read_comparateur

COMMUNE_COLUMNS = ("vintage", "code", "name", "departement", "epci", "file_id", *VARIABLES)
DEPARTEMENT_COLUMNS = ("vintage", "departement", "file_id", "communes", *ADDITIVE)


@dataclass
class TerritoryMatch:
    """What a load found of one territory's communes and EPCIs."""

    territory_id: str
    communes: list[str] = field(default_factory=list)  # found (listed ones and EPCI members)
    missing_communes: list[str] = field(default_factory=list)
    missing_epci: list[str] = field(default_factory=list)
    epci_not_expanded: list[str] = field(default_factory=list)  # files without EPCI column


@dataclass
class LoadReport:
    files: list[tuple[str, int, int]] = field(default_factory=list)  # name, vintage, rows read
    departements: dict[int, list[str]] = field(default_factory=dict)  # vintage -> codes
    territories: list[TerritoryMatch] = field(default_factory=list)
    communes_stored: int = 0


def _values(row: pd.Series, columns: Sequence[str]) -> list[object]:
    return [None if pd.isna(row[c]) else row[c] for c in columns]


def _upsert(conn: sqlite3.Connection, table: str, columns: Sequence[str], rows: list[list]) -> None:
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    conn.executemany(f"INSERT OR REPLACE INTO {table} ({names}) VALUES ({marks})", rows)


def _wanted_codes(files: Sequence[ComparateurFile], territories: Sequence[Territory]) -> set[str]:
    listed = {c for t in territories for c in t.communes}
    epcis = {e for t in territories for e in t.epci_siren}
    wanted = set(listed)
    for f in files:
        if f.has_epci:
            wanted |= set(f.rows.index[f.rows["epci"].isin(epcis)])
    return wanted


def _store_file(conn: sqlite3.Connection, f: ComparateurFile, wanted: set[str]) -> int:
    years = {
        "census": f.years.census,
        "previous": f.years.previous,
        "establishments": f.years.establishments,
        "fiscal": f.years.fiscal,
    }
    row = {
        "file_name": f.path.name,
        "file_hash": f.file_hash,
        "vintage": f.vintage,
        "years": json.dumps(years),
        "layout": f.layout,
        "rows_read": len(f.rows),
        "loaded_at": store.now_iso(),
    }
    # The same file loaded again (same bytes) keeps its first reading; only its name and date
    # follow the latest load.
    store.upsert_row(
        conn, "insee_files", row, key=("file_hash",), update=("file_name", "loaded_at")
    )
    file_id = int(
        conn.execute("SELECT id FROM insee_files WHERE file_hash = ?", (f.file_hash,)).fetchone()[0]
    )
    kept = f.rows[f.rows.index.isin(wanted)]
    _upsert(
        conn,
        "insee_communes",
        COMMUNE_COLUMNS,
        [
            [
                f.vintage,
                code,
                row["name"],
                row["dep"],
                row["epci"],
                file_id,
                *_values(row, list(VARIABLES)),
            ]
            for code, row in kept.iterrows()
        ],
    )
    totals = []
    for dep, group in f.rows.groupby("dep"):
        # A sum with a withheld part would be a wrong figure: none at all instead.
        sums = [None if group[c].isna().any() else float(group[c].sum()) for c in ADDITIVE]
        totals.append([f.vintage, dep, file_id, len(group), *sums])
    _upsert(conn, "insee_departements", DEPARTEMENT_COLUMNS, totals)
    return len(kept)


def _matches(
    conn: sqlite3.Connection, territories: Sequence[Territory], files: Sequence[ComparateurFile]
) -> list[TerritoryMatch]:
    matches = []
    for vintage in sorted({f.vintage for f in files}):
        same = [f for f in files if f.vintage == vintage]
        for t in territories:
            match = TerritoryMatch(t.id)
            match.communes = perimeter(conn, t, vintage)
            present = {c for f in same for c in f.rows.index}
            match.missing_communes = [c for c in t.communes if c not in present]
            for epci in t.epci_siren:
                if not any(f.has_epci for f in same):
                    match.epci_not_expanded.append(epci)
                elif not any((f.rows["epci"] == epci).any() for f in same if f.has_epci):
                    match.missing_epci.append(epci)
            matches.append(match)
    return matches


def load_insee_files(study: store.Study, paths: Sequence[Path]) -> LoadReport:
    """Read every file, then store what the study needs from all of them in one transaction."""
    files = [read_comparateur(Path(p)) for p in paths]
    territories = study.config.territories
    wanted = _wanted_codes(files, territories)
    report = LoadReport()
    with study.transaction() as conn:
        run_id = store.start_run(conn, "territory load", {"fichiers": [str(p) for p in paths]})
        for f in files:
            report.communes_stored += _store_file(conn, f, wanted)
            report.files.append((f.path.name, f.vintage, len(f.rows)))
            report.departements.setdefault(f.vintage, [])
            report.departements[f.vintage] = sorted(
                set(report.departements[f.vintage]) | set(f.departements)
            )
        report.territories = _matches(conn, territories, files)
        store.finish_run(conn, run_id, {"communes": report.communes_stored})
    return report


# ---------------------------------------------------------------------------------------------
# Reading back
# ---------------------------------------------------------------------------------------------


def vintages(conn: sqlite3.Connection) -> list[int]:
    return [int(r[0]) for r in conn.execute("SELECT DISTINCT vintage FROM insee_files ORDER BY 1")]


def choose_vintage(conn: sqlite3.Connection, vintage: int | None) -> int:
    """The requested vintage, or the latest loaded one; a French error when none is loaded."""
    loaded = vintages(conn)
    if not loaded:
        raise StudyError(
            "Aucune donnée INSEE n'est chargée dans l'étude : téléchargez la « base du "
            "comparateur de territoires » sur insee.fr puis « qualipipe territory load FICHIER.csv »."
        )
    if vintage is None:
        return loaded[-1]
    if vintage not in loaded:
        raise StudyError(
            f"Millésime {vintage} non chargé (millésimes chargés : {', '.join(map(str, loaded))})."
        )
    return vintage


def vintage_years(conn: sqlite3.Connection, vintage: int) -> Years:
    row = conn.execute(
        "SELECT years FROM insee_files WHERE vintage = ? ORDER BY id DESC LIMIT 1", (vintage,)
    ).fetchone()
    years = json.loads(row[0])
    return Years(years["census"], years["previous"], years["establishments"], years["fiscal"])


def perimeter(conn: sqlite3.Connection, territory: Territory, vintage: int) -> list[str]:
    """Commune codes of the territory found in the stored rows: listed ones + EPCI members."""
    listed = list(territory.communes)
    epcis = list(territory.epci_siren)
    marks = lambda values: ", ".join("?" for _ in values) or "NULL"  # noqa: E731
    rows = conn.execute(
        f"""SELECT code FROM insee_communes WHERE vintage = ?
            AND (code IN ({marks(listed)}) OR epci IN ({marks(epcis)})) ORDER BY code""",
        (vintage, *listed, *epcis),
    )
    return [r[0] for r in rows]


def commune_rows(conn: sqlite3.Connection, vintage: int, codes: Sequence[str]) -> pd.DataFrame:
    marks = ", ".join("?" for _ in codes) or "NULL"
    return pd.read_sql_query(
        f"SELECT * FROM insee_communes WHERE vintage = ? AND code IN ({marks}) ORDER BY code",
        conn,
        params=(vintage, *codes),
        index_col="code",
    )


def departement_rows(conn: sqlite3.Connection, vintage: int) -> pd.DataFrame:
    return pd.read_sql_query(
        "SELECT * FROM insee_departements WHERE vintage = ? ORDER BY departement",
        conn,
        params=(vintage,),
        index_col="departement",
    )
