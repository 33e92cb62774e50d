"""LimeSurvey 6 survey structure files (.lss): write one from an Instrument, read one back.

The layout follows what LimeSurvey 6.4 itself exports (DBVersion 620, see
`../shared/fixtures/limesurvey/survey_424242_structure.lss`): one table per element with
`<fields>` then `<rows>`, texts in separate `*_l10ns` tables, every value in CDATA, subquestions
in their own table carrying their parent's type.

Conditions are written only as the question's relevance equation (ExpressionScript, what the
survey engine evaluates), never as rows of the `conditions` table: on import LimeSurvey 6.4
rebuilds the relevance of every question that has condition rows from those rows, and turns a
multiple-choice condition (`<sid>X<gid>X<qid>CODE == "Y"`, OR-ed in one scenario) into an AND of
variables that do not exist, which the page script then treats as always true. Without condition
rows the equation is kept as written (checked on a real 6.4.2 through the respondent pages, see
tests/test_limesurvey_live.py).

The participant table's attributes get French descriptions (role, identifier, territory), and
the description of the identifier carries qualipipe's deploy marker, which LimeSurvey keeps but
never shows: a deploy cut short can find and remove what it left (surveys/operations.py).

Group and question ids in the file are only internal references: LimeSurvey renumbers them on
import. Question codes (`title`) are the stable keys.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from lxml import etree

from qualipipe.errors import InputError, Problem
from qualipipe.files import write_bytes_atomic
from qualipipe.surveys.instruments import (
    Condition,
    Group,
    Instrument,
    Option,
    Question,
    QuestionType,
    ranking_slots,
)

DB_VERSION = "620"

THEME_NAMES: dict[QuestionType, str] = {
    QuestionType.LONG_TEXT: "longfreetext",
    QuestionType.HUGE_TEXT: "hugefreetext",
    QuestionType.SHORT_TEXT: "shortfreetext",
    QuestionType.MULTIPLE_SHORT_TEXT: "multipleshorttext",
    QuestionType.LIST: "listradio",
    QuestionType.DROPDOWN: "list_dropdown",
    QuestionType.YES_NO: "yesno",
    QuestionType.MULTIPLE_CHOICE: "multiplechoice",
    QuestionType.RANKING: "ranking",
    QuestionType.ARRAY_5: "arrays/5point",
    QuestionType.ARRAY: "arrays/array",
    QuestionType.FIVE_POINT: "5pointchoice",
    QuestionType.NUMERICAL: "numerical",
    QuestionType.MULTIPLE_NUMERICAL: "multiplenumeric",
    QuestionType.TEXT_DISPLAY: "boilerplate",
}

QUESTION_FIELDS = (
    "qid",
    "parent_qid",
    "sid",
    "gid",
    "type",
    "title",
    "preg",
    "other",
    "mandatory",
    "encrypted",
    "question_order",
    "scale_id",
    "same_default",
    "relevance",
    "question_theme_name",
    "modulename",
    "same_script",
)

SURVEY_SETTINGS: dict[str, str] = {
    "gsid": "1",
    "admin": "CRESS",
    "anonymized": "N",
    "format": "G",
    "savetimings": "N",
    "template": "fruity_twentythree",
    "additional_languages": "",
    "datestamp": "Y",
    "usecookie": "N",
    "allowregister": "N",
    "allowsave": "Y",
    "autonumber_start": "0",
    "autoredirect": "N",
    "allowprev": "Y",
    "printanswers": "N",
    "ipaddr": "N",
    "refurl": "N",
    "publicstatistics": "N",
    "publicgraphs": "N",
    "listpublic": "N",
    "htmlemail": "Y",
    "sendconfirmation": "N",
    # Participants may come back to their answers with their access code until they submit.
    "tokenanswerspersistence": "Y",
    "assessments": "N",
    "usecaptcha": "N",
    "usetokens": "N",
    "showxquestions": "Y",
    "showgroupinfo": "B",
    "shownoanswer": "Y",
    "showqnumcode": "X",
    "showwelcome": "Y",
    "showprogress": "Y",
    "questionindex": "1",
    "navigationdelay": "0",
    "nokeyboard": "N",
    "alloweditaftercompletion": "N",
    "tokenlength": "15",
}


# Participant table extra columns: attribute_1 = role, attribute_2 = participant id,
# attribute_3 = territory id. No real name is sent to LimeSurvey.
PARTICIPANT_ATTRIBUTES = [1, 2, 3]
ATTRIBUTE_CAPTIONS = {
    "attribute_1": "Rôle",
    "attribute_2": "Identifiant qualipipe",
    "attribute_3": "Territoire",
}
MARKER_KEY = "qualipipe"


def attribute_descriptions(marker: str = "") -> str:
    """The survey's `attributedescriptions` JSON, with the deploy marker under the identifier."""
    descriptions: dict[str, dict[str, str]] = {}
    for name, caption in ATTRIBUTE_CAPTIONS.items():
        descriptions[name] = {
            "description": caption,
            "mandatory": "N",
            "encrypted": "N",
            "show_register": "N",
            "cpdbmap": "",
        }
    if marker:
        descriptions["attribute_2"][MARKER_KEY] = marker
    return json.dumps(descriptions, ensure_ascii=False)


def read_marker(descriptions: object) -> str:
    """The deploy marker in a survey's `attributedescriptions`, or "" if it has none."""
    try:
        data = json.loads(str(descriptions or ""))
        return str(data["attribute_2"][MARKER_KEY])
    except (ValueError, TypeError, KeyError):
        return ""


def survey_id_for(instrument: Instrument) -> int:
    """A stable 6-digit survey id proposed to LimeSurvey (it picks another one if taken)."""
    digest = hashlib.sha256(instrument.name.encode("utf-8")).hexdigest()
    return 100000 + int(digest[:8], 16) % 800000


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


class _Table:
    """One `<name><fields/><rows/></name>` block being filled row by row."""

    def __init__(self, name: str, fields: tuple[str, ...]) -> None:
        self.name = name
        self.fields = fields
        self.rows: list[dict[str, str]] = []

    def add(self, **values: object) -> None:
        self.rows.append(
            {key: "" if value is None else str(value) for key, value in values.items()}
        )

    def to_element(self, parent: etree._Element) -> None:
        table = etree.SubElement(parent, self.name)
        fields = etree.SubElement(table, "fields")
        for name in self.fields:
            etree.SubElement(fields, "fieldname").text = name
        rows = etree.SubElement(table, "rows")
        for values in self.rows:
            row = etree.SubElement(rows, "row")
            for name in self.fields:
                if name not in values:
                    continue
                cell = etree.SubElement(row, name)
                if values[name] != "":
                    cell.text = etree.CDATA(values[name])


@dataclass
class _Ids:
    """Internal ids of the file (LimeSurvey renumbers them on import)."""

    sid: int
    next_qid: int = 1
    next_aid: int = 1
    next_l10n: int = 1

    def qid(self) -> int:
        self.next_qid += 1
        return self.next_qid - 1

    def aid(self) -> int:
        self.next_aid += 1
        return self.next_aid - 1

    def l10n(self) -> int:
        self.next_l10n += 1
        return self.next_l10n - 1


def relevance_equation(condition: Condition | None, target: Question | None) -> str:
    """ExpressionScript for a condition (LimeSurvey's `relevance` column).

    A subquestion (multiple-choice box, array row) is the variable `CODE_SUB`; `.NAOK` keeps
    the equation usable when the source question was itself hidden.
    """
    if condition is None or target is None:
        return "1"
    code = condition.source
    if target.type is QuestionType.MULTIPLE_CHOICE:
        terms = [f'{code}_{answer}.NAOK == "Y"' for answer in condition.answers]
    elif condition.row:
        terms = [f'{code}_{condition.row}.NAOK == "{answer}"' for answer in condition.answers]
    else:
        terms = [f'{code}.NAOK == "{answer}"' for answer in condition.answers]
    return "((" + (" and " if condition.all else " or ").join(terms) + "))"


def question_attributes(question: Question) -> list[tuple[str, str]]:
    attributes: list[tuple[str, str]] = []
    if question.type is QuestionType.RANKING and question.max_answers:
        attributes.append(("max_subquestions", str(ranking_slots(question))))
    if question.type is QuestionType.MULTIPLE_CHOICE and question.max_answers:
        attributes.append(("max_answers", str(question.max_answers)))
    if question.type is QuestionType.MULTIPLE_NUMERICAL and question.total is not None:
        attributes.append(("equals_num_value", str(question.total)))
    if question.minimum is not None:
        attributes.append(("min_num_value_n", _number(question.minimum)))
    if question.maximum is not None:
        attributes.append(("max_num_value_n", _number(question.maximum)))
    return attributes


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def build_lss(
    instrument: Instrument,
    *,
    survey_id: int | None = None,
    title: str | None = None,
    marker: str = "",
) -> bytes:
    """The .lss document (UTF-8 bytes) for `instrument`; `marker`: see `attribute_descriptions`."""
    ids = _Ids(sid=survey_id or survey_id_for(instrument))
    lang = instrument.language
    answers = _Table("answers", ("aid", "qid", "code", "sortorder", "assessment_value", "scale_id"))
    answer_l10ns = _Table("answer_l10ns", ("id", "aid", "answer", "language"))
    groups = _Table("groups", ("gid", "sid", "group_order", "randomization_group", "grelevance"))
    group_l10ns = _Table("group_l10ns", ("id", "gid", "group_name", "description", "language"))
    questions = _Table("questions", QUESTION_FIELDS)
    subquestions = _Table("subquestions", QUESTION_FIELDS)
    question_l10ns = _Table("question_l10ns", ("id", "qid", "question", "help", "language"))
    attributes = _Table("question_attributes", ("qid", "attribute", "value", "language"))

    placed: dict[str, tuple[int, int, Question]] = {}  # code -> (gid, qid, question)
    for group_order, group in enumerate(instrument.groups):
        gid = group_order + 1
        groups.add(
            gid=gid, sid=ids.sid, group_order=group_order, randomization_group="", grelevance="1"
        )
        group_l10ns.add(
            id=gid, gid=gid, group_name=group.title, description=group.description, language=lang
        )
        for order, question in enumerate(group.questions, start=1):
            qid = ids.qid()
            target = placed.get(question.condition.source) if question.condition else None
            questions.add(
                **_question_row(question, qid, 0, ids.sid, gid, order),
                relevance=relevance_equation(question.condition, target[2] if target else None),
                question_theme_name=THEME_NAMES[question.type],
            )
            question_l10ns.add(
                id=ids.l10n(), qid=qid, question=question.text, help=question.help, language=lang
            )
            for sub_order, sub in enumerate(question.subquestions, start=1):
                sub_qid = ids.qid()
                subquestions.add(
                    **_question_row(question, sub_qid, qid, ids.sid, gid, sub_order, code=sub.code),
                    relevance="1",
                )
                question_l10ns.add(
                    id=ids.l10n(), qid=sub_qid, question=sub.text, help="", language=lang
                )
            for sort_order, option in enumerate(question.options, start=1):
                aid = ids.aid()
                answers.add(
                    aid=aid,
                    qid=qid,
                    code=option.code,
                    sortorder=sort_order,
                    assessment_value=0,
                    scale_id=0,
                )
                answer_l10ns.add(id=aid, aid=aid, answer=option.text, language=lang)
            for name, value in question_attributes(question):
                attributes.add(qid=qid, attribute=name, value=value, language="")
            placed[question.code] = (gid, qid, question)

    surveys = _Table("surveys", ("sid", *SURVEY_SETTINGS, "language", "attributedescriptions"))
    surveys.add(
        sid=ids.sid,
        language=lang,
        attributedescriptions=attribute_descriptions(marker),
        **SURVEY_SETTINGS,
    )
    settings = _Table(
        "surveys_languagesettings",
        (
            "surveyls_survey_id",
            "surveyls_language",
            "surveyls_title",
            "surveyls_description",
            "surveyls_welcometext",
            "surveyls_endtext",
            "surveyls_url",
            "surveyls_urldescription",
            "surveyls_dateformat",
            "surveyls_numberformat",
            "surveyls_attributecaptions",
        ),
    )
    settings.add(
        surveyls_survey_id=ids.sid,
        surveyls_language=lang,
        surveyls_title=title or instrument.title,
        surveyls_description=instrument.description,
        surveyls_welcometext=instrument.welcome,
        surveyls_endtext=instrument.end,
        surveyls_url="",
        surveyls_urldescription="",
        surveyls_dateformat="5",  # dd/mm/yyyy
        surveyls_numberformat="1",  # decimal comma
        surveyls_attributecaptions=json.dumps(ATTRIBUTE_CAPTIONS, ensure_ascii=False),
    )

    document = etree.Element("document")
    etree.SubElement(document, "LimeSurveyDocType").text = "Survey"
    etree.SubElement(document, "DBVersion").text = DB_VERSION
    languages = etree.SubElement(document, "languages")
    etree.SubElement(languages, "language").text = lang
    for table in (
        answers,
        answer_l10ns,
        groups,
        group_l10ns,
        questions,
        subquestions,
        question_l10ns,
        attributes,
        surveys,
        settings,
    ):
        if table.rows or table.name not in ("answers", "answer_l10ns"):
            table.to_element(document)
    etree.indent(document, space=" ")
    # The declaration exactly as LimeSurvey writes it (lxml would use single quotes).
    body = etree.tostring(document, encoding="UTF-8", pretty_print=True)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def _question_row(
    question: Question, qid: int, parent_qid: int, sid: int, gid: int, order: int, *, code: str = ""
) -> dict[str, object]:
    is_sub = parent_qid != 0
    return {
        "qid": qid,
        "parent_qid": parent_qid,
        "sid": sid,
        "gid": gid,
        "type": question.type.value,  # subquestions carry their parent's type
        "title": code or question.code,
        "preg": "",
        "other": "Y" if question.other and not is_sub else "N",
        "mandatory": "Y" if question.mandatory and not is_sub else "N",
        "encrypted": "N",
        "question_order": order,
        "scale_id": 0,
        "same_default": 0,
        "modulename": "",
        "same_script": 0,
    }


def write_lss(instrument: Instrument, destination: Path, **options: object) -> Path:
    data = build_lss(instrument, **options)  # type: ignore[arg-type]
    return write_bytes_atomic(destination, data)  # never leave a half-written .lss behind


# ---------------------------------------------------------------------------------------------
# Reading (round trip, and checking what a server exported)
# ---------------------------------------------------------------------------------------------


def _rows(document: etree._Element, table: str) -> list[dict[str, str]]:
    return [
        {cell.tag: cell.text or "" for cell in row if isinstance(cell.tag, str)}
        for row in document.findall(f"./{table}/rows/row")
    ]


RELEVANCE_TERM = re.compile(r'([A-Za-z][A-Za-z0-9]*)(?:_([A-Za-z0-9]+))?\.NAOK\s*==\s*"([^"]*)"')


def parse_lss(data: bytes, *, name: str = "", source: str = "") -> Instrument:
    """Read a LimeSurvey 6 .lss back into an Instrument (feeds are not stored in LimeSurvey)."""
    try:
        document = etree.fromstring(data, parser=etree.XMLParser(resolve_entities=False))
    except etree.XMLSyntaxError as error:
        raise InputError(
            "Fichier .lss illisible.", [Problem(source or name, f"XML invalide : {error}")]
        ) from None
    if document.tag != "document" or document.findtext("LimeSurveyDocType") != "Survey":
        raise InputError(
            "Ce fichier n'est pas une structure de questionnaire LimeSurvey.",
            [
                Problem(
                    source or name, "élément <LimeSurveyDocType>Survey</LimeSurveyDocType> absent"
                )
            ],
        )
    texts = {r["qid"]: r for r in _rows(document, "question_l10ns")}
    answer_texts = {r["aid"]: r.get("answer", "") for r in _rows(document, "answer_l10ns")}
    options: dict[str, list[tuple[int, Option]]] = defaultdict(list)
    for r in _rows(document, "answers"):
        options[r["qid"]].append(
            (int(r.get("sortorder") or 0), Option(r["code"], answer_texts.get(r["aid"], "")))
        )
    subs: dict[str, list[tuple[int, Option]]] = defaultdict(list)
    for r in _rows(document, "subquestions"):
        text = texts.get(r["qid"], {}).get("question", "")
        subs[r["parent_qid"]].append((int(r.get("question_order") or 0), Option(r["title"], text)))
    attributes: dict[str, dict[str, str]] = defaultdict(dict)
    for r in _rows(document, "question_attributes"):
        attributes[r["qid"]][r["attribute"]] = r.get("value", "")
    question_rows = _rows(document, "questions")
    code_by_qid = {r["qid"]: r["title"] for r in question_rows}
    conditions = _read_conditions(document, code_by_qid, question_rows)

    group_rows = sorted(_rows(document, "groups"), key=lambda r: int(r.get("group_order") or 0))
    group_texts = {r["gid"]: r for r in _rows(document, "group_l10ns")}
    groups = []
    for group_row in group_rows:
        members = sorted(
            (r for r in question_rows if r["gid"] == group_row["gid"]),
            key=lambda r: int(r.get("question_order") or 0),
        )
        questions = tuple(
            _question_from_row(r, texts, options, subs, attributes, conditions) for r in members
        )
        group_text = group_texts.get(group_row["gid"], {})
        groups.append(
            Group(
                title=group_text.get("group_name", ""),
                description=group_text.get("description", ""),
                questions=questions,
            )
        )
    settings = (_rows(document, "surveys_languagesettings") or [{}])[0]
    survey = (_rows(document, "surveys") or [{}])[0]
    return Instrument(
        name=name,
        title=settings.get("surveyls_title", ""),
        language=survey.get("language", "fr"),
        description=settings.get("surveyls_description", ""),
        welcome=settings.get("surveyls_welcometext", ""),
        end=settings.get("surveyls_endtext", ""),
        groups=tuple(groups),
        path=source,
    )


def _read_conditions(
    document: etree._Element, code_by_qid: dict[str, str], question_rows: list[dict[str, str]]
) -> dict[str, Condition]:
    """qid -> Condition, from the conditions table, else from simple relevance equations."""
    type_by_qid = {r["qid"]: r["type"] for r in question_rows}
    found: dict[str, tuple[str, list[str]]] = {}
    for r in _rows(document, "conditions"):
        cqid = r["cqid"]
        if type_by_qid.get(cqid) == QuestionType.MULTIPLE_CHOICE.value:
            # cfieldname = <sid>X<gid>X<cqid><SUBQUESTION>
            answer = re.sub(r"^\d+X\d+X" + re.escape(cqid), "", r["cfieldname"])
        else:
            answer = r.get("value", "")
        entry = found.setdefault(r["qid"], (code_by_qid.get(cqid, cqid), []))
        entry[1].append(answer)
    conditions = {qid: Condition(code, tuple(answers)) for qid, (code, answers) in found.items()}
    type_by_code = {r["title"]: r["type"] for r in question_rows}
    for r in question_rows:
        if r["qid"] in conditions or r.get("relevance", "1").strip() in ("", "1"):
            continue
        condition = _condition_from_relevance(r["relevance"], type_by_code)
        if condition:
            conditions[r["qid"]] = condition
    return conditions


def _condition_from_relevance(relevance: str, type_by_code: dict[str, str]) -> Condition | None:
    """The Condition of an equation qualipipe writes (`relevance_equation`), else None."""
    terms = RELEVANCE_TERM.findall(relevance)
    if not terms:
        return None
    code, sub, _ = terms[0]
    every = " and " in relevance
    if type_by_code.get(code) == QuestionType.MULTIPLE_CHOICE.value:
        return Condition(code, tuple(s for _, s, _ in terms), all=every)
    if sub:  # an array row: CODE_ROW == "answer"
        return Condition(f"{code}[{sub}]", tuple(v for _, _, v in terms), all=every)
    return Condition(code, tuple(v for _, _, v in terms), all=every)


def _question_from_row(
    r: dict[str, str],
    texts: dict[str, dict[str, str]],
    options: dict[str, list[tuple[int, Option]]],
    subs: dict[str, list[tuple[int, Option]]],
    attributes: dict[str, dict[str, str]],
    conditions: dict[str, Condition],
) -> Question:
    qid = r["qid"]
    qtype = QuestionType(r["type"])
    attrs = attributes.get(qid, {})

    def integer(key: str) -> int | None:
        return int(float(attrs[key])) if attrs.get(key) else None

    def number(key: str) -> float | None:
        return float(attrs[key]) if attrs.get(key) else None

    max_answers = (
        integer("max_subquestions") if qtype is QuestionType.RANKING else integer("max_answers")
    )
    return Question(
        code=r["title"],
        type=qtype,
        text=texts.get(qid, {}).get("question", ""),
        help=texts.get(qid, {}).get("help", ""),
        mandatory=r.get("mandatory") == "Y",
        options=tuple(option for _, option in sorted(options.get(qid, []), key=lambda x: x[0])),
        subquestions=tuple(sub for _, sub in sorted(subs.get(qid, []), key=lambda x: x[0])),
        other=r.get("other") == "Y",
        condition=conditions.get(qid),
        max_answers=max_answers,
        total=integer("equals_num_value"),
        minimum=number("min_num_value_n"),
        maximum=number("max_num_value_n"),
    )


def read_lss(path: Path) -> Instrument:
    return parse_lss(path.read_bytes(), name=path.stem, source=str(path))
