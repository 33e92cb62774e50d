"""Workshop 1 (« une vision commune du territoire »): its material as workshop notes.

Two ways in, one kind of source (`SourceKind.WORKSHOP`, « notes d'atelier »):
- post-its typed into the workbook written by `write_postit_template` (one row per post-it:
  group, AFOM category, optional theme, text): one source per workbook and territory, one segment
  per post-it, its AFOM category in `segment.section` and its group in `segment.speaker`;
- answers to the `atelier_vision` LimeSurvey instrument: ingested like any survey export, but
  stored as workshop notes with the AFOM category of their question in the source metadata.

Both are coded with the shared codebook like every other text.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook

from qualipipe import forms
from qualipipe.errors import InputError, Problem
from qualipipe.ingest.encoding import normalize_text
from qualipipe.ingest.reconcile import SourceChange, store_source
from qualipipe.records import Segment, Source, SourceKind, Territory
from qualipipe.store import Study, finish_run, start_run
from qualipipe.text import fold_key

WORKSHOP_INSTRUMENT = "atelier_vision"
WORKSHOP_INSTRUMENTS = frozenset({WORKSHOP_INSTRUMENT})
POSTIT_FORMAT = "postits"
POSTIT_SHEET = "Post-its"
TEMPLATE_COMMAND = "qualipipe report atelier-modele"

# AFOM quadrants, in the matrix's reading order; "vision" holds « le territoire dans 10 ans ».
STRENGTHS, WEAKNESSES, OPPORTUNITIES, THREATS, VISION = (
    "atouts",
    "faiblesses",
    "opportunités",
    "menaces",
    "vision à 10 ans",
)
QUADRANTS = (STRENGTHS, WEAKNESSES, OPPORTUNITIES, THREATS)
CATEGORIES = (*QUADRANTS, VISION)
# Folded prefixes analysts type for each category (« Atout », « F », « opportunite »…).
_CATEGORY_WORDS = {
    STRENGTHS: ("atout", "a", "force"),
    WEAKNESSES: ("faiblesse", "f"),
    OPPORTUNITIES: ("opportunite", "o"),
    THREATS: ("menace", "m"),
    VISION: ("vision", "v", "dans 10 ans", "le territoire dans 10 ans"),
}

COL_GROUP = "Groupe"
COL_CATEGORY = "Catégorie AFOM"
COL_THEME = "Thème (facultatif)"
COL_TEXT = "Texte du post-it"
COLUMNS = (
    forms.Column(COL_GROUP, 14, to_fill=True),
    forms.Column(COL_CATEGORY, 20, to_fill=True, choices="Categories"),
    forms.Column(COL_THEME, 26, to_fill=True, choices="Themes"),
    forms.Column(COL_TEXT, 80, to_fill=True),
)
TEMPLATE_ROWS = 300
DEFAULT_THEMES = (
    "Emploi et insertion",
    "Mobilité",
    "Alimentation",
    "Transition écologique",
    "Tissu économique",
    "Accès aux services",
    "Logement",
    "Coopération entre acteurs",
)


def category_of(text: str) -> str | None:
    """The AFOM category an analyst typed, or a question's wording names; None when unclear."""
    folded = fold_key(text).strip().rstrip("s").strip()
    for category, words in _CATEGORY_WORDS.items():
        if folded in words or folded == fold_key(category).rstrip("s"):
            return category
    for category, words in _CATEGORY_WORDS.items():
        if any(len(w) > 2 and folded.startswith(w) for w in words):
            return category
    if "10 ans" in folded or "dix ans" in folded:
        return VISION
    return None


def question_category(question_text: str) -> str | None:
    """AFOM category of an `atelier_vision` question, from the word its wording starts with."""
    head = question_text.split(":", 1)[0] if ":" in question_text else question_text
    return category_of(head)


def answer_source_kind(instrument: str) -> SourceKind:
    """Answers to a workshop instrument are workshop notes; any other answer is a survey answer."""
    return SourceKind.WORKSHOP if instrument in WORKSHOP_INSTRUMENTS else SourceKind.SURVEY


def answer_metadata(instrument: str, question_text: str, theme: str) -> dict[str, object]:
    """Extra metadata of a workshop answer: its AFOM category and theme (nothing otherwise)."""
    if instrument not in WORKSHOP_INSTRUMENTS:
        return {}
    category = question_category(question_text)
    return {"afom": category or "", "theme": theme}


# ---------------------------------------------------------------------------------------------
# The post-it workbook
# ---------------------------------------------------------------------------------------------


def write_postit_template(path: Path, territory: Territory, *, groups: int = 6) -> Path:
    """The workbook analysts type the post-its into, one row per post-it."""
    workbook = Workbook()
    ws = workbook.active
    ws.title = POSTIT_SHEET
    forms.write_header(ws, COLUMNS)
    forms.write_lists(
        workbook,
        {
            "Categories": [c.capitalize() for c in CATEGORIES],
            "Themes": list(DEFAULT_THEMES),
            "Groupes": [f"Table {n}" for n in range(1, groups + 1)],
        },
    )
    forms.add_drop_downs(
        ws, COLUMNS, TEMPLATE_ROWS, "Choisissez une catégorie (ou un thème) de la liste."
    )
    forms.write_help(
        workbook,
        "Mode d'emploi",
        [
            f"Atelier 1 — post-its du territoire {territory.name} (PTCE {territory.ptce_name})",
            "Une ligne par post-it. Groupe : la table ou le groupe qui l'a écrit (ex. « Table 2 »).",
            "Catégorie AFOM : Atouts, Faiblesses, Opportunités, Menaces, ou « Vision à 10 ans » "
            "pour les post-its « le territoire dans 10 ans ».",
            "Thème : facultatif (le thème du tableau où le post-it était collé).",
            "Texte : recopiez le post-it tel quel. Pas de nom de personne : écrivez la fonction "
            "(« l'élu à l'économie ») plutôt que le nom.",
            "Import : qualipipe report atelier-import CE_FICHIER.xlsx -t " + territory.id,
        ],
    )
    forms.write_meta(workbook, {"format": POSTIT_FORMAT, "territoire": territory.id})
    return forms.save(workbook, path)


@dataclass(frozen=True)
class PostIt:
    line: int
    group: str
    category: str
    theme: str
    text: str


def read_postits(path: Path, territory_id: str) -> list[PostIt]:
    """Every post-it of the workbook; all problems reported at once, nothing kept on error."""
    form = forms.read_form(
        path, POSTIT_SHEET, what="classeur de post-its", command=TEMPLATE_COMMAND
    )
    forms.require_headers(form, (COL_GROUP, COL_CATEGORY, COL_TEXT), TEMPLATE_COMMAND)
    name = path.name
    problems: list[Problem] = []
    written_for = form.meta.get("territoire", "")
    if written_for and written_for != territory_id:
        problems.append(
            Problem(
                name,
                f"ce classeur a été préparé pour le territoire « {written_for} », pas pour "
                f"« {territory_id} » ; vérifiez le fichier ou l'option --territory.",
            )
        )
    postits: list[PostIt] = []
    for row in form.sheet.rows:
        text = normalize_text(row.text(COL_TEXT)).strip()
        raw_category = row.text(COL_CATEGORY)
        category = category_of(raw_category) if raw_category else None
        if not text:
            problems.append(
                Problem(
                    name,
                    "texte du post-it vide ; recopiez-le ou videz la ligne.",
                    row.line,
                    row.where(COL_TEXT),
                    form.sheet.name,
                )
            )
        if category is None:
            problems.append(
                Problem(
                    name,
                    f"catégorie « {raw_category} » inconnue ; choisissez Atouts, Faiblesses, "
                    "Opportunités, Menaces ou Vision à 10 ans.",
                    row.line,
                    row.where(COL_CATEGORY),
                    form.sheet.name,
                )
            )
        if text and category:
            postits.append(
                PostIt(row.line, row.text(COL_GROUP), category, row.text(COL_THEME), text)
            )
    if not problems and not postits:
        problems.append(Problem(name, "aucun post-it : le classeur est vide.", sheet=POSTIT_SHEET))
    if problems:
        raise InputError(f"{name} : post-its refusés, rien n'a été importé :", problems)
    return postits


def postit_source(path: Path, territory_id: str, postits: list[PostIt]) -> Source:
    return Source(
        key=f"workshop:{territory_id}:{path.name}",
        kind=SourceKind.WORKSHOP,
        text="\n".join(p.text for p in postits),
        territory_id=territory_id,
        path=path.name,
        format=POSTIT_FORMAT,
        instrument=WORKSHOP_INSTRUMENT,
        metadata={"file": path.name, "postits": len(postits)},
    )


def postit_segments(postits: list[PostIt]) -> list[Segment]:
    segments, start = [], 0
    for p in postits:
        label = p.category if not p.theme else f"{p.category} · {p.theme}"
        segments.append(Segment(start, start + len(p.text), p.text, speaker=p.group, section=label))
        start += len(p.text) + 1
    return segments


def ingest_postits(study: Study, path: Path, territory: str) -> SourceChange:
    """Store the post-its of `path` as the territory's workshop notes (re-import keeps the
    decisions of unchanged post-its)."""
    territory_id = study.config.territory(territory).id
    postits = read_postits(Path(path), territory_id)
    source = postit_source(Path(path), territory_id, postits)
    with study.transaction() as conn:
        run_id = start_run(conn, "atelier", {"fichier": path.name, "territoire": territory_id})
        change = store_source(conn, source, postit_segments(postits), signature=POSTIT_FORMAT)
        finish_run(conn, run_id, {"post-its": len(postits), "état": change.status})
    return change


def postit_category(section: str) -> str:
    """The AFOM category stored in a post-it segment's section (« atouts · Mobilité »)."""
    return section.split(" · ", 1)[0]
