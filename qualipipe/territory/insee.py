"""Reading INSEE « base du comparateur de territoires » files (one row per commune).

Analysts download either the national file (`CODGEO;LIBGEO;…`) or per-département extracts
(first column `INSEE_COM` or `CODGEO`, administrative columns such as `DEP`, `EPCI`), separated
by `;` or `,`. Variable names carry their year (`P19_POP` and `P13_POP`, `ETTOT19`, `MED19`), so
the reader finds the census year, the trend year, the establishments year and the fiscal year
from the header, and renames every variable to a year-free key (`pop`, `pop_prev`, `ettot`…).

Withheld values (secret statistique) are empty cells: they are read as None, never as 0.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qualipipe.errors import InputError, Problem
from qualipipe.ingest.encoding import decode_bytes

CODE_COLUMNS = ("CODGEO", "INSEE_COM")
NAME_COLUMN = "LIBGEO"
WITHHELD_MARKS = {"", "s", "nd", "na", "nan", "secret"}

# Year-free key -> header pattern; {c} census year, {p} previous census year (trend), {e}
# establishments year, {f} fiscal year (two digits each).
VARIABLES: dict[str, str] = {
    "pop": "P{c}_POP",
    "pop_prev": "P{p}_POP",
    "superf": "SUPERF",
    "nais": "NAIS{p}{c}",
    "dece": "DECE{p}{c}",
    "men": "P{c}_MEN",
    "log": "P{c}_LOG",
    "rp": "P{c}_RP",
    "rsecocc": "P{c}_RSECOCC",
    "logvac": "P{c}_LOGVAC",
    "rp_prop": "P{c}_RP_PROP",
    "nbmenfisc": "NBMENFISC{f}",
    "pimp": "PIMP{f}",
    "med": "MED{f}",
    "tp60": "TP60{f}",
    "emplt": "P{c}_EMPLT",
    "emplt_sal": "P{c}_EMPLT_SAL",
    "emplt_prev": "P{p}_EMPLT",
    "pop1564": "P{c}_POP1564",
    "act1564": "P{c}_ACT1564",
    "chom1564": "P{c}_CHOM(?:EUR)?1564",  # CHOM1564 up to RP2017, CHOMEUR1564 from RP2019
    "ettot": "ETTOT{e}",
    "etaz": "ETAZ{e}",
    "etbe": "ETBE{e}",
    "etfz": "ETFZ{e}",
    "etgu": "ETGU{e}",
    "etgz": "ETGZ{e}",
    "etoq": "ETOQ{e}",
    "ettef1": "ETTEF1{e}",
    "ettefp10": "ETTEFP10{e}",
}
# Rates and medians: shown per commune, never summed.
NOT_ADDITIVE = frozenset({"pimp", "med", "tp60"})
ADDITIVE = tuple(k for k in VARIABLES if k not in NOT_ADDITIVE)

_POP = re.compile(r"^P(\d\d)_POP$")


@dataclass(frozen=True)
class Years:
    """The years a file describes (four digits)."""

    census: int
    previous: int
    establishments: int | None = None
    fiscal: int | None = None


@dataclass
class ComparateurFile:
    """One file, read and checked: one row per commune, year-free variable keys."""

    path: Path
    file_hash: str
    years: Years
    layout: str  # "national" (CODGEO;LIBGEO first) or "extrait"
    separator: str
    rows: pd.DataFrame  # index: commune code (text); columns: code, name, dep, epci + VARIABLES
    has_epci: bool
    missing_variables: list[str] = field(default_factory=list)

    @property
    def vintage(self) -> int:
        return self.years.census

    @property
    def departements(self) -> list[str]:
        return sorted(self.rows["dep"].unique())


def _year(two_digits: str) -> int:
    return 2000 + int(two_digits)


def _error(path: Path, message: str, *, line: int | None = None, column: str | None = None):
    return InputError(
        f"{path} n'a pas été chargé (rien n'est enregistré) :",
        [Problem(str(path), message, line=line, column=column)],
    )


def _separator(path: Path, header: str) -> str:
    counts = {sep: header.count(sep) for sep in (";", ",")}
    separator = max(counts, key=lambda s: counts[s])
    if counts[separator] == 0:
        raise _error(
            path,
            "séparateur non reconnu : la première ligne ne contient ni « ; » ni « , ». "
            "Téléchargez le fichier CSV du comparateur de territoires sur insee.fr "
            "(séparateur point-virgule) sans le modifier.",
        )
    return separator


def _find_years(path: Path, header: list[str]) -> Years:
    census_years = sorted({_year(m[1]) for c in header if (m := _POP.match(c))})
    if len(census_years) < 2 or not any(c in header for c in CODE_COLUMNS):
        raise _error(
            path,
            "ce n'est pas un fichier de la base du comparateur de territoires de l'INSEE : "
            "colonnes CODGEO (ou INSEE_COM) et Pxx_POP de deux recensements introuvables "
            f"(colonnes lues : {', '.join(header[:6])}…). Vérifiez le fichier, son séparateur "
            "et son encodage.",
        )
    establishments = [_year(m[1]) for c in header if (m := re.match(r"^ETTOT(\d\d)$", c))]
    fiscal = [_year(m[1]) for c in header if (m := re.match(r"^MED(\d\d)$", c))]
    return Years(
        census=census_years[-1],
        previous=census_years[-2],
        establishments=establishments[0] if establishments else None,
        fiscal=fiscal[0] if fiscal else None,
    )


def column_names(header: list[str], years: Years) -> dict[str, str]:
    """Header column -> year-free key, for the variables present in this file."""
    two = {
        "c": f"{years.census % 100:02d}",
        "p": f"{years.previous % 100:02d}",
        "e": f"{(years.establishments or 0) % 100:02d}",
        "f": f"{(years.fiscal or 0) % 100:02d}",
    }
    found: dict[str, str] = {}
    for key, pattern in VARIABLES.items():
        regex = re.compile("^" + pattern.format(**two) + "$")
        match = next((c for c in header if regex.match(c)), None)
        if match is not None:
            found[match] = key
    return found


def _commune_code(value: str) -> str:
    code = value.strip().upper()
    # A spreadsheet may have turned "01004" into the number 1004 (or "1004.0").
    if code.endswith(".0"):
        code = code[:-2]
    return code.zfill(5) if code.isdigit() else code


def departement_of(code: str) -> str:
    """Département of a commune code: "23008" -> "23", "2A004" -> "2A", "97411" -> "974"."""
    return code[:3] if code.startswith("97") else code[:2]


def _number(raw: str, decimal_comma: bool) -> float | None:
    text = raw.strip()
    if text.lower() in WITHHELD_MARKS:
        return None
    if decimal_comma:
        text = text.replace("\u202f", "").replace(" ", "").replace(",", ".")
    return float(text)


def _numbers(path: Path, frame: pd.DataFrame, columns: dict[str, str], separator: str) -> dict:
    decimal_comma = separator == ";"
    out: dict[str, list[float | None]] = {}
    for header, key in columns.items():
        values = []
        for line, raw in enumerate(frame[header].fillna(""), start=2):
            try:
                values.append(_number(str(raw), decimal_comma))
            except ValueError:
                raise _error(
                    path,
                    f"« {raw} » n'est pas un nombre ; corrigez la cellule ou retéléchargez le "
                    "fichier depuis insee.fr.",
                    line=line,
                    column=header,
                ) from None
        out[key] = values
    return out


def read_comparateur(path: Path) -> ComparateurFile:
    """Read one comparateur file; a French `InputError` naming the file when it is not one."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise _error(path, "fichier introuvable : vérifiez le chemin.") from None
    except PermissionError:
        raise _error(path, "lecture refusée : vérifiez les droits sur le fichier.") from None
    except OSError as error:
        raise _error(path, f"fichier illisible (erreur système {error.errno}).") from None
    text = decode_bytes(data, str(path)).text
    header_line = text.split("\n", 1)[0]
    separator = _separator(path, header_line)
    try:
        frame = pd.read_csv(
            io.StringIO(text), sep=separator, dtype=str, keep_default_na=False, na_filter=False
        )
    except (pd.errors.ParserError, ValueError) as error:
        raise _error(path, f"CSV mal formé ({str(error).strip()}).") from None
    frame.columns = [str(c).strip().strip('"') for c in frame.columns]
    header = list(frame.columns)
    years = _find_years(path, header)
    columns = column_names(header, years)
    code_column = next(c for c in CODE_COLUMNS if c in header)
    codes = [_commune_code(str(v)) for v in frame[code_column]]
    duplicates = (
        sorted({c for c in codes if codes.count(c) > 1}) if len(set(codes)) < len(codes) else []
    )
    if duplicates:
        raise _error(path, f"commune(s) en double : {', '.join(duplicates[:5])}.")
    if not codes:
        raise _error(path, "aucune commune dans le fichier.")
    numbers = _numbers(path, frame, columns, separator)
    rows = pd.DataFrame(numbers, index=pd.Index(codes, name="code"))
    rows.insert(0, "name", frame[NAME_COLUMN].str.strip().tolist() if NAME_COLUMN in header else "")
    if "DEP" in header:
        rows.insert(1, "dep", [str(d).strip().zfill(2) for d in frame["DEP"]])
    else:
        rows.insert(1, "dep", [departement_of(c) for c in codes])
    has_epci = "EPCI" in header
    rows.insert(2, "epci", [str(e).strip() for e in frame["EPCI"]] if has_epci else "")
    missing = [key for key in VARIABLES if key not in rows.columns]
    for key in missing:
        rows[key] = None
    return ComparateurFile(
        path=path,
        file_hash=hashlib.sha256(data).hexdigest(),
        years=years,
        layout="national" if header[:2] == ["CODGEO", NAME_COLUMN] else "extrait",
        separator=separator,
        rows=rows,
        has_epci=has_epci,
        missing_variables=missing,
    )
