"""Survey instruments as YAML files (`surveys/*.yaml`) → typed `Instrument` records.

The YAML keys are French because analysts edit these files; the schema is documented in
`docs/questionnaires.md`. Every problem is reported at once, in French, with file and line.

An instrument is the single source of truth for three things:
- the LimeSurvey structure written by `qualipipe.surveys.lss` (`survey build`);
- the export columns of its responses (`export_columns()`), and whether each holds free text
  (ingested as a Source and coded) or a closed answer (stored in participant_attributes);
- which codebook families / codes each question feeds (`Question.feeds`), used by the coder.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, NamedTuple

from qualipipe import yamlio
from qualipipe.errors import InputError, Problem


class QuestionType(StrEnum):
    """YAML type name → LimeSurvey question type letter (`.value` is the letter)."""

    LONG_TEXT = "T"
    HUGE_TEXT = "U"
    SHORT_TEXT = "S"
    MULTIPLE_SHORT_TEXT = "Q"
    LIST = "L"
    DROPDOWN = "!"
    YES_NO = "Y"
    MULTIPLE_CHOICE = "M"
    RANKING = "R"
    ARRAY_5 = "A"
    ARRAY = "F"
    FIVE_POINT = "5"
    NUMERICAL = "N"
    MULTIPLE_NUMERICAL = "K"
    TEXT_DISPLAY = "X"


# French names used in the YAML files.
TYPE_NAMES: dict[str, QuestionType] = {
    "texte_long": QuestionType.LONG_TEXT,
    "texte_tres_long": QuestionType.HUGE_TEXT,
    "texte_court": QuestionType.SHORT_TEXT,
    "textes_courts_multiples": QuestionType.MULTIPLE_SHORT_TEXT,
    "liste": QuestionType.LIST,
    "liste_deroulante": QuestionType.DROPDOWN,
    "oui_non": QuestionType.YES_NO,
    "choix_multiples": QuestionType.MULTIPLE_CHOICE,
    "classement": QuestionType.RANKING,
    "tableau_5": QuestionType.ARRAY_5,
    "tableau": QuestionType.ARRAY,
    "echelle_5": QuestionType.FIVE_POINT,
    "numerique": QuestionType.NUMERICAL,
    "numeriques_multiples": QuestionType.MULTIPLE_NUMERICAL,
    "affichage": QuestionType.TEXT_DISPLAY,
}
TYPE_LABELS = {qtype: name for name, qtype in TYPE_NAMES.items()}

FREE_TEXT_TYPES = {
    QuestionType.LONG_TEXT,
    QuestionType.HUGE_TEXT,
    QuestionType.SHORT_TEXT,
    QuestionType.MULTIPLE_SHORT_TEXT,
}
NEEDS_OPTIONS = {QuestionType.LIST, QuestionType.DROPDOWN, QuestionType.RANKING, QuestionType.ARRAY}
NEEDS_SUBQUESTIONS = {
    QuestionType.MULTIPLE_SHORT_TEXT,
    QuestionType.MULTIPLE_CHOICE,
    QuestionType.ARRAY_5,
    QuestionType.ARRAY,
    QuestionType.MULTIPLE_NUMERICAL,
}
ALLOWS_OTHER = {QuestionType.LIST, QuestionType.DROPDOWN, QuestionType.MULTIPLE_CHOICE}
# Questions a condition may point at, and what its `reponses` are for each.
CONDITION_SOURCES = {
    QuestionType.LIST,
    QuestionType.DROPDOWN,
    QuestionType.YES_NO,
    QuestionType.FIVE_POINT,
    QuestionType.MULTIPLE_CHOICE,
}

# LimeSurvey limits: question and subquestion codes are alphanumeric, start with a letter
# (20 chars max); answer option codes are at most 5 alphanumeric chars.
QUESTION_CODE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,19}$")
OPTION_CODE = re.compile(r"^[A-Za-z0-9]{1,5}$")
FEED_ID = re.compile(r"^[A-Z][A-Z0-9_]*$")
INSTRUMENT_PREFIXES = {
    "entretien_fondateurs": "F",
    "entretien_acteurs": "A",
    "priorisation_enjeux": "P",
    "evaluation_diagnostic": "E",
}


class Option(NamedTuple):
    """An answer option (list, ranking, array column) or a subquestion (array row...): a
    (code, text) pair, as the syntheses list them."""

    code: str
    text: str


@dataclass(frozen=True)
class Condition:
    """Show the question only if `question` got one of `answers`.

    For a single-choice question (liste, oui_non, echelle_5) `answers` are answer codes; for a
    multiple-choice question they are subquestion codes, any of which must be ticked (all of
    them when `all`); for one row of an array, `question` is `CODE[ROW]` and `answers` are the
    array's answer codes.
    """

    question: str
    answers: tuple[str, ...]
    all: bool = False

    @property
    def source(self) -> str:
        """The code of the question the condition reads (without the array row)."""
        return self.question.split("[", 1)[0]

    @property
    def row(self) -> str:
        """The array row (`P04[EMPLOI]` → `EMPLOI`), or ""."""
        return self.question.partition("[")[2].rstrip("]")


@dataclass(frozen=True)
class Question:
    """One question of an instrument, as the YAML writes it (validated; `line` for messages)."""

    code: str
    type: QuestionType
    text: str
    help: str = ""
    mandatory: bool = False
    options: tuple[Option, ...] = ()
    subquestions: tuple[Option, ...] = ()
    other: bool = False
    condition: Condition | None = None
    feeds: tuple[str, ...] = ()  # codebook family ids (MOT, BES, ENJ, TRANS) or code ids
    max_answers: int | None = None  # classement / choix_multiples
    total: int | None = None  # numeriques_multiples: the answers must add up to this
    minimum: float | None = None  # numerique
    maximum: float | None = None  # numerique
    line: int = 0  # line in the YAML file, for messages

    @property
    def is_free_text(self) -> bool:
        return self.type in FREE_TEXT_TYPES


@dataclass(frozen=True)
class Group:
    """A page of questions (a LimeSurvey question group)."""

    title: str
    description: str
    questions: tuple[Question, ...]


class ColumnKind(StrEnum):
    FREE_TEXT = "texte libre"
    CLOSED = "fermée"
    DISPLAY = "affichage"


@dataclass(frozen=True)
class ExportColumn:
    """One column of a LimeSurvey export with code headings (`P04[SQ001]`, `F02[other]`)."""

    name: str
    question: Question
    kind: ColumnKind
    subquestion: str = ""  # subquestion code, "other", or the rank number for a ranking

    @property
    def is_free_text(self) -> bool:
        return self.kind is ColumnKind.FREE_TEXT


@dataclass(frozen=True)
class Instrument:
    """A survey written once in `surveys/`: what LimeSurvey shows and its exports are read by."""

    name: str  # file stem, e.g. "priorisation_enjeux"
    title: str
    language: str
    description: str
    welcome: str
    end: str
    groups: tuple[Group, ...]
    path: str = ""

    @property
    def questions(self) -> tuple[Question, ...]:
        return tuple(q for g in self.groups for q in g.questions)

    def question(self, code: str) -> Question:
        for question in self.questions:
            if question.code == code:
                return question
        raise KeyError(code)

    def export_columns(self) -> list[ExportColumn]:
        """The response columns LimeSurvey exports for this instrument (heading = code)."""
        columns: list[ExportColumn] = []
        for question in self.questions:
            columns.extend(question_columns(question))
        return columns

    def column_kinds(self) -> dict[str, ColumnKind]:
        return {column.name: column.kind for column in self.export_columns()}

    def free_text_columns(self) -> list[ExportColumn]:
        return [column for column in self.export_columns() if column.is_free_text]

    def closed_columns(self) -> list[ExportColumn]:
        return [column for column in self.export_columns() if column.kind is ColumnKind.CLOSED]


def ranking_slots(question: Question) -> int:
    if question.max_answers:
        return min(question.max_answers, len(question.options))
    return len(question.options)


def question_columns(question: Question) -> list[ExportColumn]:
    """Export columns of one question, in LimeSurvey's order."""
    code, qtype = question.code, question.type
    if qtype is QuestionType.TEXT_DISPLAY:
        return [ExportColumn(code, question, ColumnKind.DISPLAY)]
    base_kind = ColumnKind.FREE_TEXT if question.is_free_text else ColumnKind.CLOSED
    columns: list[ExportColumn] = []
    if qtype is QuestionType.RANKING:
        for rank in range(1, ranking_slots(question) + 1):
            columns.append(ExportColumn(f"{code}[{rank}]", question, base_kind, str(rank)))
    elif question.subquestions:
        for sub in question.subquestions:
            columns.append(ExportColumn(f"{code}[{sub.code}]", question, base_kind, sub.code))
    else:
        columns.append(ExportColumn(code, question, base_kind))
    if question.other:
        columns.append(ExportColumn(f"{code}[other]", question, ColumnKind.FREE_TEXT, "other"))
    return columns


# ---------------------------------------------------------------------------------------------
# YAML reading with line numbers
# ---------------------------------------------------------------------------------------------


Node = dict[Any, Any]  # a YAML mapping (a yamlio.LineMap when it comes from the file)


class _Reader:
    """Collects problems while turning the YAML tree into records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[Problem] = []

    def problem(self, message: str, line: int | None) -> None:
        self.problems.append(Problem(file=str(self.path), message=message, line=line))

    def text(self, node: Node, key: str, *, required: bool, where: str) -> str:
        value = node.get(key)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.problem(f"{where} : le champ « {key} » est obligatoire.", yamlio.line_of(node))
            return ""
        if isinstance(value, (dict, list)):
            self.problem(
                f"{where} : « {key} » doit être un texte, pas une liste ni un bloc.",
                yamlio.line_of(node, key),
            )
            return ""
        return str(value).strip()

    def integer(self, node: Node, key: str, *, where: str) -> int | None:
        value = node.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.problem(
                f"{where} : « {key} » doit être un nombre entier positif (lu : {value!r}).",
                yamlio.line_of(node, key),
            )
            return None
        return value

    def number(self, node: Node, key: str, *, where: str) -> float | None:
        value = node.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.problem(
                f"{where} : « {key} » doit être un nombre (lu : {value!r}).",
                yamlio.line_of(node, key),
            )
            return None
        return float(value)

    def options(
        self, node: Node, key: str, *, where: str, pattern: re.Pattern[str], rule: str
    ) -> tuple[Option, ...]:
        raw = node.get(key)
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.problem(f"{where} : « {key} » doit être une liste.", yamlio.line_of(node, key))
            return ()
        lines = yamlio.item_lines(raw)
        result: list[Option] = []
        seen: set[str] = set()
        for item, line in zip(raw, lines, strict=False):
            if not isinstance(item, dict) or "code" not in item or "texte" not in item:
                self.problem(
                    f"{where} : chaque élément de « {key} » s'écrit {{code: …, texte: …}}.", line
                )
                continue
            code = str(item["code"]).strip()
            if not pattern.match(code):
                self.problem(f"{where} : code « {code} » invalide dans « {key} » ({rule}).", line)
                continue
            if code in seen:
                self.problem(f"{where} : code « {code} » en double dans « {key} ».", line)
                continue
            seen.add(code)
            result.append(Option(code=code, text=str(item["texte"]).strip()))
        return tuple(result)


ALLOWED_QUESTION_KEYS = {
    "code",
    "type",
    "texte",
    "aide",
    "obligatoire",
    "options",
    "sous_questions",
    "autre",
    "condition",
    "alimente",
    "max_reponses",
    "total",
    "min",
    "max",
}
ALLOWED_TOP_KEYS = {"titre", "langue", "description", "accueil", "fin", "groupes"}


def _read_question(reader: _Reader, node: Any, line: int | None) -> Question | None:
    if not isinstance(node, dict):
        reader.problem("une question doit être un bloc avec code, type, texte.", line)
        return None
    code = reader.text(node, "code", required=True, where="question")
    where = f"question {code or '?'}"
    for key in node:
        if key not in ALLOWED_QUESTION_KEYS:
            reader.problem(
                f"{where} : champ « {key} » inconnu (champs permis : {', '.join(sorted(ALLOWED_QUESTION_KEYS))}).",
                yamlio.line_of(node, str(key)),
            )
    if code and not QUESTION_CODE.match(code):
        reader.problem(
            f"{where} : le code doit commencer par une lettre et ne contenir que des lettres et "
            "chiffres sans accent (20 au plus), par exemple F01.",
            yamlio.line_of(node, "code"),
        )
    type_name = reader.text(node, "type", required=True, where=where)
    qtype = TYPE_NAMES.get(type_name)
    if type_name and qtype is None:
        reader.problem(
            f"{where} : type « {type_name} » inconnu. Types permis : {', '.join(TYPE_NAMES)}.",
            yamlio.line_of(node, "type"),
        )
    text = reader.text(node, "texte", required=True, where=where)
    options = reader.options(
        node, "options", where=where, pattern=OPTION_CODE, rule="1 à 5 lettres ou chiffres"
    )
    subquestions = reader.options(
        node,
        "sous_questions",
        where=where,
        pattern=QUESTION_CODE,
        rule="une lettre puis lettres ou chiffres, 20 au plus",
    )
    mandatory = node.get("obligatoire", False)
    other = node.get("autre", False)
    for key, value in (("obligatoire", mandatory), ("autre", other)):
        if not isinstance(value, bool):
            reader.problem(
                f"{where} : « {key} » vaut oui ou non (lu : {value!r}).", yamlio.line_of(node, key)
            )
    feeds = _read_feeds(reader, node, where)
    condition = _read_condition(reader, node, where)
    if qtype is None:
        return None
    _check_type_needs(reader, node, where, qtype, options, subquestions, bool(other))
    return Question(
        code=code,
        type=qtype,
        text=text,
        help=reader.text(node, "aide", required=False, where=where),
        mandatory=mandatory is True,
        options=options,
        subquestions=subquestions,
        other=other is True,
        condition=condition,
        feeds=feeds,
        max_answers=reader.integer(node, "max_reponses", where=where),
        total=reader.integer(node, "total", where=where),
        minimum=reader.number(node, "min", where=where),
        maximum=reader.number(node, "max", where=where),
        line=yamlio.line_of(node) or 0,
    )


def _read_feeds(reader: _Reader, node: Node, where: str) -> tuple[str, ...]:
    raw = node.get("alimente", [])
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        reader.problem(
            f"{where} : « alimente » est une liste de familles ou de codes.",
            yamlio.line_of(node, "alimente"),
        )
        return ()
    feeds = []
    for item in raw:
        if not isinstance(item, str) or not FEED_ID.match(item):
            reader.problem(
                f"{where} : « {item} » n'est pas un identifiant de famille ou de code du livre de "
                "codes (majuscules, chiffres, _ ; ex. MOT, BES_FINANCEMENT).",
                yamlio.line_of(node, "alimente"),
            )
            continue
        feeds.append(item)
    return tuple(feeds)


def _read_condition(reader: _Reader, node: Node, where: str) -> Condition | None:
    raw = node.get("condition")
    if raw is None:
        return None
    line = yamlio.line_of(node, "condition")
    if (
        not isinstance(raw, dict)
        or "question" not in raw
        or "reponses" not in raw
        or set(raw) - {"question", "reponses", "toutes"}
    ):
        reader.problem(
            f"{where} : une condition s'écrit {{question: F02, reponses: [A1, A2]}} (plus "
            "« toutes: true » pour exiger toutes les cases d'un choix multiple).",
            line,
        )
        return None
    every = raw.get("toutes", False)
    if not isinstance(every, bool):
        reader.problem(f"{where} : « toutes » de la condition vaut oui ou non.", line)
        return None
    answers = raw["reponses"]
    if isinstance(answers, (str, int)):
        answers = [answers]
    if not isinstance(answers, list) or not answers:
        reader.problem(f"{where} : « reponses » de la condition est une liste non vide.", line)
        return None
    return Condition(str(raw["question"]).strip(), tuple(str(a) for a in answers), every)


def _check_type_needs(
    reader: _Reader,
    node: Node,
    where: str,
    qtype: QuestionType,
    options: tuple[Option, ...],
    subquestions: tuple[Option, ...],
    other: bool,
) -> None:
    line = yamlio.line_of(node)
    label = TYPE_LABELS[qtype]
    if qtype in NEEDS_OPTIONS and not options:
        reader.problem(f"{where} : le type {label} demande une liste « options ».", line)
    if qtype not in NEEDS_OPTIONS and options:
        reader.problem(
            f"{where} : le type {label} n'a pas d'« options ».", yamlio.line_of(node, "options")
        )
    if qtype in NEEDS_SUBQUESTIONS and not subquestions:
        reader.problem(f"{where} : le type {label} demande une liste « sous_questions ».", line)
    if qtype not in NEEDS_SUBQUESTIONS and subquestions:
        reader.problem(
            f"{where} : le type {label} n'a pas de « sous_questions ».",
            yamlio.line_of(node, "sous_questions"),
        )
    if other and qtype not in ALLOWS_OTHER:
        reader.problem(
            f"{where} : « autre » n'existe que pour liste, liste_deroulante et choix_multiples.",
            yamlio.line_of(node, "autre"),
        )
    if "total" in node and qtype is not QuestionType.MULTIPLE_NUMERICAL:
        reader.problem(
            f"{where} : « total » n'existe que pour numeriques_multiples.",
            yamlio.line_of(node, "total"),
        )
    if "max_reponses" in node and qtype not in (QuestionType.RANKING, QuestionType.MULTIPLE_CHOICE):
        reader.problem(
            f"{where} : « max_reponses » n'existe que pour classement et choix_multiples.",
            yamlio.line_of(node, "max_reponses"),
        )
    if ("min" in node or "max" in node) and qtype is not QuestionType.NUMERICAL:
        reader.problem(f"{where} : « min » et « max » n'existent que pour numerique.", line)


def _check_cross_references(reader: _Reader, name: str, questions: list[Question]) -> None:
    seen: dict[str, Question] = {}
    prefix = INSTRUMENT_PREFIXES.get(name)
    for question in questions:
        if question.code in seen:
            reader.problem(
                f"question {question.code} : code déjà utilisé ligne {seen[question.code].line}.",
                question.line,
            )
        if prefix and question.code and not question.code.startswith(prefix):
            reader.problem(
                f"question {question.code} : dans {name}, les codes commencent par « {prefix} ».",
                question.line,
            )
        condition = question.condition
        if condition:
            _check_condition(reader, question, condition, seen)
        seen.setdefault(question.code, question)


def _condition_answers(target: Question, row: str) -> set[str]:
    """What a condition on `target` (on its array row `row`, if any) may list."""
    if target.type in (QuestionType.FIVE_POINT, QuestionType.ARRAY_5):
        return {"1", "2", "3", "4", "5"}
    if target.type is QuestionType.YES_NO:
        return {"Y", "N"}
    if target.type is QuestionType.MULTIPLE_CHOICE:
        return {s.code for s in target.subquestions}
    return {o.code for o in target.options} | ({"-oth-"} if target.other and not row else set())


def _check_condition(
    reader: _Reader, question: Question, condition: Condition, earlier: dict[str, Question]
) -> None:
    where, line = f"question {question.code}", question.line
    target = earlier.get(condition.source)
    if target is None:
        reader.problem(
            f"{where} : la condition porte sur « {condition.question} », qui n'est pas une "
            "question posée avant celle-ci.",
            line,
        )
        return
    arrays = (QuestionType.ARRAY_5, QuestionType.ARRAY)
    if condition.row and (target.type not in arrays or condition.all):
        reader.problem(
            f"{where} : « {condition.question} » désigne une ligne de tableau : la question "
            f"{condition.source} doit être un tableau, et « toutes » ne s'y emploie pas.",
            line,
        )
        return
    rows = {s.code for s in target.subquestions}
    if condition.row and condition.row not in rows:
        reader.problem(
            f"{where} : {condition.source} n'a pas de ligne « {condition.row} » (lignes : "
            f"{', '.join(sorted(rows))}).",
            line,
        )
    if not condition.row and target.type not in CONDITION_SOURCES:
        reader.problem(
            f"{where} : une condition ne peut porter que sur une question liste, oui_non, "
            f"echelle_5, choix_multiples ou une ligne de tableau ({condition.question} est "
            f"{TYPE_LABELS[target.type]}).",
            line,
        )
        return
    if condition.all and target.type is not QuestionType.MULTIPLE_CHOICE:
        reader.problem(
            f"{where} : « toutes » ne s'emploie qu'avec un choix_multiples "
            f"({condition.question} est {TYPE_LABELS[target.type]}).",
            line,
        )
    valid = _condition_answers(target, condition.row)
    for answer in condition.answers:
        if answer not in valid:
            reader.problem(
                f"{where} : la condition attend « {answer} » en réponse à {condition.question}, "
                f"qui n'a pas cette réponse (réponses possibles : {', '.join(sorted(valid))}).",
                line,
            )


def load_instrument(path: Path | str) -> Instrument:
    """Read and validate one instrument; raise InputError listing every problem found."""
    path = Path(path)
    try:
        raw_text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"Questionnaire introuvable : {path}. Vérifiez le chemin (les questionnaires sont dans surveys/)."
        ) from None
    except UnicodeDecodeError:
        raise InputError(
            "Questionnaire illisible.",
            [Problem(str(path), "le fichier n'est pas en UTF-8 ; enregistrez-le en UTF-8.")],
        ) from None
    document = yamlio.load(raw_text, str(path))
    reader = _Reader(path)
    instrument = _read_instrument(reader, path, document)
    if reader.problems or instrument is None:
        raise InputError(
            f"Le questionnaire {path.name} contient {len(reader.problems)} erreur(s) ; corrigez-les puis relancez.",
            reader.problems,
        )
    return instrument


def _read_instrument(reader: _Reader, path: Path, document: Any) -> Instrument | None:
    if not isinstance(document, dict):
        reader.problem("le fichier doit commencer par « titre: » puis « groupes: ».", 1)
        return None
    for key in document:
        if key not in ALLOWED_TOP_KEYS:
            reader.problem(
                f"champ « {key} » inconnu en tête de fichier (permis : {', '.join(sorted(ALLOWED_TOP_KEYS))}).",
                yamlio.line_of(document, str(key)),
            )
    title = reader.text(document, "titre", required=True, where="questionnaire")
    language = reader.text(document, "langue", required=False, where="questionnaire") or "fr"
    groups_raw = document.get("groupes")
    if not isinstance(groups_raw, list) or not groups_raw:
        reader.problem(
            "« groupes » doit être une liste non vide de groupes de questions.",
            yamlio.line_of(document, "groupes"),
        )
        return None
    groups: list[Group] = []
    all_questions: list[Question] = []
    for group_node, group_line in zip(groups_raw, yamlio.item_lines(groups_raw), strict=False):
        if not isinstance(group_node, dict):
            reader.problem("un groupe doit être un bloc avec titre et questions.", group_line)
            continue
        group_title = reader.text(group_node, "titre", required=True, where="groupe")
        questions_raw = group_node.get("questions")
        if not isinstance(questions_raw, list) or not questions_raw:
            reader.problem(
                f"groupe « {group_title} » : « questions » doit être une liste non vide.",
                group_line,
            )
            continue
        questions = []
        for q_node, q_line in zip(questions_raw, yamlio.item_lines(questions_raw), strict=False):
            question = _read_question(reader, q_node, q_line)
            if question is not None:
                questions.append(question)
        all_questions.extend(questions)
        groups.append(
            Group(
                title=group_title,
                description=reader.text(group_node, "description", required=False, where="groupe"),
                questions=tuple(questions),
            )
        )
    _check_cross_references(reader, path.stem, all_questions)
    return Instrument(
        name=path.stem,
        title=title,
        language=language,
        description=reader.text(document, "description", required=False, where="questionnaire"),
        welcome=reader.text(document, "accueil", required=False, where="questionnaire"),
        end=reader.text(document, "fin", required=False, where="questionnaire"),
        groups=tuple(groups),
        path=str(path),
    )


__all__ = [
    "ColumnKind",
    "Condition",
    "ExportColumn",
    "Group",
    "Instrument",
    "Option",
    "Question",
    "QuestionType",
    "load_instrument",
]
