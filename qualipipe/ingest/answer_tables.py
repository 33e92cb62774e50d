"""A table of written answers (consultation export, typed paper forms) without a LimeSurvey
instrument: one row per respondent, one column per open question, plus metadata columns.

Each non-empty free-text cell becomes a written text of its respondent, attached to its question
(the column header). Respondents become participants (role contributeur, pseudonym
« Contributeur·rice n — territoire ») so that syntheses count who said what per territory, and
their short answers (author type, age group…) become their attributes.

Why not the survey-answers path: it is keyed by LimeSurvey's integer response ids, finds the
respondent through a token, and gives a whole export one territory. A consultation table has
identifiers of any form, respondents known from the row itself and a territory per row. The
mechanisms are shared instead: `read_table` reads the file, `store_source` reconciles each text
(unchanged text: nothing written; corrected text: decisions on unchanged passages kept),
`segment_answer` cuts it, `assign_pseudonyms` numbers newcomers, and attributes go to the same
`participant_attributes` table as closed survey answers.

Everything is checked before anything is written: a file with an unknown territory value or a
duplicated identifier is refused whole.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

from qualipipe.config import StudyConfig
from qualipipe.errors import InputError, Problem
from qualipipe.ingest.encoding import normalize_text
from qualipipe.ingest.manifest import match_actor_type
from qualipipe.ingest.tables import header_key, header_words, read_table
from qualipipe.pseudonymize import is_contact
from qualipipe.records import ActorType, SourceKind
from qualipipe.text import fold_key

TABLE_FORMAT = "tableau"
KEY_PREFIX = "table"

# Header words (folded, split at non-letters) that mark an identifier, a person's name, contact
# details, a territory or the author's type.
ID_HEADERS = {"id", "identifiant", "reference", "ref", "numero", "num", "no", "n"}
ID_PARTS = {"id", "identifiant", "ref", "reference"}
NAME_WORDS = {"nom", "prenom", "name", "firstname", "lastname", "auteur", "author", "signature"}
CONTACT_WORDS = {
    "email",
    "mail",
    "courriel",
    "telephone",
    "tel",
    "phone",
    "portable",
    "mobile",
    "adresse",
    "address",
}
# A name word beside one of these is about something else (« nom de la structure », author_type).
NOT_A_PERSON = {
    "type",
    "organisation",
    "structure",
    "commune",
    "ville",
    "territoire",
    "projet",
    "zipcode",
    "postal",
    "cp",
    "date",
}
# A title or subject sums a contribution up: kept as an attribute, not coded as a text.
TITLE_WORDS = {"titre", "title", "objet", "sujet"}
TERRITORY_HEADERS = {"territoire", "territory"}
# A « long » table has one row per answer and the question in a column of its own (open-data
# exports such as the Grand Débat's): the answers of one respondent share their identifier.
QUESTION_HEADERS = {
    "question", "question_text", "question_label", "intitule", "intitule_question",
    "question_posee", "libelle_question",
}  # fmt: skip
ACTOR_TYPE_HEADERS = {"type_acteur", "type_d_acteur", "author_type", "type_auteur", "type_d_auteur"}

# Free text: varied values that are long on average, or at least one long value. Closed answers
# and metadata (dates, postcodes, categories, titles) are short or repeated.
TEXT_MEAN_CHARS = 30
TEXT_LONGEST_CHARS = 150
TEXT_MIN_VARIETY = 0.5


@dataclass(frozen=True)
class TableOptions:
    """What the analyst said about the table's columns (None: detected)."""

    text_columns: tuple[str, ...] | None = None
    territory_column: str | None = None
    id_column: str | None = None
    skip_other_territories: bool = False  # rows of territories outside the study: left out


@dataclass
class TableColumns:
    """How each column of the table is used."""

    texts: list[str] = field(default_factory=list)
    attributes: list[str] = field(default_factory=list)
    personal: list[str] = field(default_factory=list)  # names and contact details: never shown
    ignored: list[str] = field(default_factory=list)  # empty or without header
    id_column: str | None = None
    territory_column: str | None = None
    actor_type_column: str | None = None
    question_column: str | None = None  # long tables: the question of each row's answer
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Respondent:
    key: str  # the identifier column's value, or « ligne N »
    row: int
    territory_id: str
    texts: dict[str, str]  # header -> answer
    attributes: dict[str, str]
    real_name: str = ""
    actor_type: str = ActorType.AUTRE.value


@dataclass(frozen=True)
class AnswerTable:
    path: Path
    namespace: str  # stable per file name: keys of its participants and texts
    columns: TableColumns
    respondents: list[Respondent]
    kind: SourceKind = SourceKind.WRITTEN  # what its texts are (--type)
    rows_without_text: int = 0
    outside_rows: int = 0  # rows of other territories, left out on request
    outside_values: tuple[str, ...] = ()


def _is_id_header(header: str) -> bool:
    words = header_words(header)
    return header_key(header) in ID_HEADERS or bool(words and words[-1] in ID_PARTS)


def _person_kind(header: str, values: list[str]) -> str | None:
    """ "nom" for a person's name, "contact" for contact details, None otherwise."""
    words = set(header_words(header))
    if not words & NOT_A_PERSON:
        if words & CONTACT_WORDS:
            return "contact"
        if words & NAME_WORDS:
            return "nom"
    # Contacts as the pseudonymiser recognises them in texts (a date is no phone number).
    if values and sum(is_contact(v) for v in values) > len(values) / 2:
        return "contact"
    return None


def looks_like_free_text(values: list[str]) -> bool:
    """Long and varied answers, not categories, dates, postcodes or short titles."""
    if not values:
        return False
    variety = len(set(values)) / len(values)
    if len(values) >= 5 and variety < TEXT_MIN_VARIETY:
        return False
    mean = statistics.fmean(len(v) for v in values)
    return mean >= TEXT_MEAN_CHARS or max(len(v) for v in values) >= TEXT_LONGEST_CHARS


def _find_header(headers: list[str], wanted: str, option: str, file: str) -> str:
    found = [h for h in headers if fold_key(h.strip()) == fold_key(wanted.strip())]
    if not found:
        shown = ", ".join(f"« {h} »" for h in headers if h)
        raise InputError(
            f"{Path(file).name} : la colonne « {wanted} » ({option}) n'existe pas ; rien n'a été "
            "importé.",
            [Problem(file, f"colonnes du fichier : {shown} ; corrigez {option}.", 1)],
        )
    return found[0]


def _column_values(rows: list[tuple[int, list[str]]], index: int) -> list[str]:
    return [row[index].strip() for _, row in rows if index < len(row) and row[index].strip()]


def classify_columns(
    headers: list[str],
    rows: list[tuple[int, list[str]]],
    options: TableOptions,
    file: str,
    *,
    one_territory: bool = False,
) -> TableColumns:
    """Which columns are texts, attributes, personal data, identifier, territory.

    With `one_territory` (-t for the whole file), a « territoire » column is only an attribute
    unless --colonne-territoire names it: what the analyst typed wins over what is guessed."""
    _check_headers(headers, file)
    columns = TableColumns()
    values = {h: _column_values(rows, i) for i, h in enumerate(headers) if h}
    if options.territory_column:
        columns.territory_column = _find_header(
            headers, options.territory_column, "--colonne-territoire", file
        )
    elif not one_territory:
        columns.territory_column = next(
            (h for h in headers if header_key(h) in TERRITORY_HEADERS), None
        )
    columns.question_column = next((h for h in headers if header_key(h) in QUESTION_HEADERS), None)
    columns.id_column = _id_column(
        headers, values, options, file, columns.notes, grouped=columns.question_column is not None
    )
    forced = _named_columns(headers, options.text_columns, file)
    for header in headers:
        if not header:
            continue
        if header in (columns.id_column, columns.territory_column, columns.question_column):
            continue
        person = _person_kind(header, values[header])
        if person is not None:
            if forced and header in forced:
                raise InputError(
                    f"{Path(file).name} : la colonne « {header} » contient des données "
                    "personnelles (nom, courriel, téléphone) ; rien n'a été importé.",
                    [Problem(file, "retirez-la de --colonnes-texte.", 1, header)],
                )
            columns.personal.append(header)
        elif not values[header]:
            columns.ignored.append(header)
        elif forced is not None:
            (columns.texts if header in forced else columns.attributes).append(header)
        elif not set(header_words(header)) & TITLE_WORDS and looks_like_free_text(values[header]):
            columns.texts.append(header)
        else:
            columns.attributes.append(header)
    columns.ignored += [f"colonne {i + 1} (sans en-tête)" for i, h in enumerate(headers) if not h]
    columns.actor_type_column = next(
        (h for h in columns.attributes if header_key(h) in ACTOR_TYPE_HEADERS), None
    )
    if not columns.texts:
        raise InputError(
            f"{Path(file).name} : aucune colonne de texte libre reconnue ; rien n'a été importé.",
            [
                Problem(
                    file,
                    "indiquez les colonnes des réponses ouvertes avec --colonnes-texte "
                    "« Question 1,Question 2 » (en-têtes séparés par des virgules).",
                    1,
                )
            ],
        )
    return columns


def _named_columns(
    headers: list[str], wanted: tuple[str, ...] | None, file: str
) -> set[str] | None:
    """The headers named by --colonnes-texte: each value is a header, or headers separated by
    commas (a question with a comma in its wording is matched whole first)."""
    if not wanted:
        return None
    folded = {fold_key(h.strip()) for h in headers if h}
    named: set[str] = set()
    for value in wanted:
        parts = [value] if fold_key(value.strip()) in folded else value.split(",")
        named |= {_find_header(headers, p, "--colonnes-texte", file) for p in parts if p.strip()}
    return named


def _check_headers(headers: list[str], file: str) -> None:
    seen: dict[str, int] = {}
    problems = []
    for index, header in enumerate(headers):
        if not header:
            continue
        key = fold_key(header)
        if key in seen:
            problems.append(
                Problem(
                    file,
                    f"en-tête « {header} » en double (colonnes {seen[key] + 1} et {index + 1}) ; "
                    "renommez l'une des deux.",
                    1,
                )
            )
        seen.setdefault(key, index)
    if problems:
        raise InputError(
            f"{Path(file).name} : en-têtes en double ; rien n'a été importé.", problems
        )


def _id_column(
    headers: list[str],
    values: dict[str, list[str]],
    options: TableOptions,
    file: str,
    notes: list[str],
    *,
    grouped: bool = False,
) -> str | None:
    """The identifier column: given, or the first id-like header whose values are unique. In a
    long table (`grouped`), an id-like column filled on every row whose values repeat comes
    first: it is the respondent's, the unique one is each answer's."""
    if options.id_column:
        return _find_header(headers, options.id_column, "--colonne-identifiant", file)
    id_like = [h for h in headers if h and _is_id_header(h)]
    if grouped:
        rows = _row_count(values)
        repeated = [h for h in id_like if len(values[h]) == rows > len(set(values[h]))]
        if repeated:
            return repeated[0]
    for header in id_like:
        if len(set(values[header])) == len(values[header]) == _row_count(values):
            return header
        notes.append(
            f"la colonne « {header} » n'identifie pas les lignes (valeurs vides ou en double) : "
            "chaque réponse est identifiée par son numéro de ligne (indiquez "
            "--colonne-identifiant pour une autre colonne)."
        )
    return None


def _row_count(values: dict[str, list[str]]) -> int:
    return max((len(v) for v in values.values()), default=0)


def _table_kind(path: Path, kind: SourceKind | None) -> SourceKind:
    """A table's texts are written contributions unless `--type` says reports or workshop notes."""
    if kind is not None and kind.is_interview:
        raise InputError(
            f"{path.name} : un tableau de réponses n'est pas un entretien.",
            [Problem(str(path), "importez-le avec --type contribution (ou sans --type).")],
        )
    return kind or SourceKind.WRITTEN


def read_answer_table(
    path: Path,
    config: StudyConfig,
    options: TableOptions | None,
    territory_id: str | None,
    kind: SourceKind | None = None,
) -> AnswerTable:
    """Read and check the whole table; every problem is reported at once, nothing is written."""
    path = Path(path)
    options = options or TableOptions()
    table_kind = _table_kind(path, kind)
    if not path.is_file():
        raise InputError(f"{path} introuvable.", [Problem(str(path), "le fichier n'existe pas.")])
    table = read_table(path, advice="réexportez-le")
    file = str(path)
    headers = [h.strip() for h in table.headers]
    rows = [(n, row + [""] * (len(headers) - len(row))) for n, row in table.rows]
    columns = classify_columns(headers, rows, options, file, one_territory=territory_id is not None)
    if territory_id is None and columns.territory_column is None:
        raise InputError(
            f"{path.name} : territoire des réponses inconnu ; rien n'a été importé.",
            [
                Problem(
                    file,
                    "indiquez le territoire de tout le fichier avec -t TERRITOIRE, ou la colonne "
                    "qui le donne avec --colonne-territoire COLONNE.",
                )
            ],
        )
    index = {h: i for i, h in enumerate(headers) if h}
    respondents: list[Respondent] = []
    unknown: dict[str, list[int]] = defaultdict(list)
    without_text = 0
    for number, row in rows:
        cells = {h: row[i].strip() for h, i in index.items()}
        texts = {
            _question(h, cells, columns): normalize_text(cells[h]).strip()
            for h in columns.texts
            if cells[h]
        }
        if not texts:
            without_text += 1
            continue
        where = territory_id
        if columns.territory_column is not None:
            value = cells[columns.territory_column]
            found = config.find_territory(value) if value else None
            if found is None:
                unknown[value].append(number)
                continue
            where = found.id
        key = cells[columns.id_column] if columns.id_column else f"ligne {number}"
        respondents.append(
            Respondent(
                key=key,
                row=number,
                territory_id=where or "",
                texts=texts,
                attributes={h: cells[h] for h in columns.attributes if cells[h]},
                real_name=" ".join(
                    cells[h] for h in columns.personal if _person_kind(h, []) == "nom" and cells[h]
                ),
                actor_type=actor_type_of(cells.get(columns.actor_type_column or "", "")),
            )
        )
    if unknown and not options.skip_other_territories:
        raise _unknown_territories(path, unknown, columns.territory_column or "", config)
    skipped = sorted(unknown, key=lambda v: unknown[v][0])
    if columns.question_column is not None:
        respondents, problems = _grouped(respondents, file, columns.question_column)
    else:
        problems = _duplicate_keys(respondents, file, columns.id_column)
    if problems:
        raise InputError(f"{path.name} : identifiants en double ; rien n'a été importé.", problems)
    return AnswerTable(
        path,
        _namespace(path),
        columns,
        respondents,
        table_kind,
        without_text,
        outside_rows=sum(len(rows) for rows in unknown.values()),
        outside_values=tuple(skipped),
    )


MAX_LISTED_VALUES = 15


def _unknown_territories(
    path: Path, unknown: dict[str, list[int]], column: str, config: StudyConfig
) -> InputError:
    """One error for the whole file: each unknown value once, with its rows."""
    known = ", ".join(t.id if t.name == t.id else f"{t.id} ({t.name})" for t in config.territories)
    rows = sum(len(r) for r in unknown.values())
    ordered = sorted(unknown.items(), key=lambda kv: kv[1][0])
    problems = []
    for value, numbers in ordered[:MAX_LISTED_VALUES]:
        shown = ", ".join(map(str, numbers[:8])) + ("…" if len(numbers) > 8 else "")
        what = f"« {value} »" if value else "vide"
        problems.append(
            Problem(
                str(path),
                f"territoire {what} inconnu ({len(numbers)} ligne(s) : {shown}).",
                numbers[0],
                column,
            )
        )
    if len(ordered) > MAX_LISTED_VALUES:
        rest = ordered[MAX_LISTED_VALUES:]
        problems.append(
            Problem(
                str(path),
                f"et {len(rest)} autre(s) valeur(s) inconnue(s) "
                f"({', '.join(v or 'vide' for v, _ in rest[:20])}{'…' if len(rest) > 20 else ''}).",
            )
        )
    return InputError(
        f"{path.name} : {rows} ligne(s) dont le territoire (colonne « {column} ») n'est pas un "
        f"territoire de l'étude ; rien n'a été importé. Territoires de l'étude : "
        f"{known or 'aucun'}. Ajoutez les territoires manquants dans qualipipe.toml (id ou nom), "
        "corrigez les valeurs, ou relancez avec --ignorer-hors-territoire pour laisser ces "
        "lignes de côté :",
        problems,
    )


def _duplicate_keys(respondents: list[Respondent], file: str, column: str | None) -> list[Problem]:
    rows: dict[str, list[int]] = defaultdict(list)
    for respondent in respondents:
        rows[fold_key(respondent.key)].append(respondent.row)
    return [
        Problem(
            file,
            f"identifiant en double (lignes {', '.join(map(str, numbers))}) ; chaque ligne doit "
            "avoir son propre identifiant.",
            numbers[1],
            column,
        )
        for numbers in rows.values()
        if len(numbers) > 1
    ]


def _question(header: str, cells: dict[str, str], columns: TableColumns) -> str:
    """The question a text cell answers: its header, or in a long table the row's question."""
    if columns.question_column is None or not cells[columns.question_column]:
        return header
    question = cells[columns.question_column]
    return question if len(columns.texts) == 1 else f"{question} — {header}"


def _grouped(
    respondents: list[Respondent], file: str, question_column: str
) -> tuple[list[Respondent], list[Problem]]:
    """A long table's rows gathered per respondent (their identifier), in file order; the same
    question answered twice by one respondent is a problem."""
    merged: dict[str, Respondent] = {}
    problems = []
    for respondent in respondents:
        key = fold_key(respondent.key)
        first = merged.get(key)
        if first is None:
            merged[key] = respondent
            continue
        twice = sorted(set(first.texts) & set(respondent.texts))
        problems += [
            Problem(
                file,
                f"« {respondent.key} » répond deux fois à « {q} » (lignes {first.row} et "
                f"{respondent.row}) ; gardez une seule de ces réponses.",
                respondent.row,
                question_column,
            )
            for q in twice
        ]
        texts = {**first.texts, **respondent.texts}
        attributes = {**respondent.attributes, **first.attributes}
        merged[key] = replace(first, texts=texts, attributes=attributes)
    return list(merged.values()), problems


def actor_type_of(value: str) -> str:
    """The actor type an author-type cell tells (see `match_actor_type`), else « autre »."""
    return match_actor_type(value) or ActorType.AUTRE.value


def _namespace(path: Path) -> str:
    """The file's stable name inside the study (its stem, folded): a corrected file keeps it."""
    return "-".join(header_words(path.stem))[:40] or "tableau"
