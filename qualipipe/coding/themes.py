"""Emergent themes: what the codebook misses.

On the segments the codebook covers poorly (no accepted code, no confident suggestion; interviewer
turns left out), a non-negative matrix factorisation of lemma TF-IDF (unigrams and bigrams) finds
recurring topics. The number of themes is the one whose top terms are the most coherent (mean NPMI
over document co-occurrence, Bouma 2009 / Lau et al. 2014, computed on the corpus itself) while
staying distinct from one theme to the next (topic quality = coherence × diversity, Dieng et al.
2020). Each theme gets its top lemmas, a proposed French label, its most representative segments
(pseudonymised) and its spread over territories and actor types; it is saved in `emergent_themes`
and can be turned into a draft code appended to the codebook YAML for an analyst to review.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from qualipipe.codebook import drafts
from qualipipe.coding.topics import (
    ThemeFinder,
    share_a_word,
)
from qualipipe.errors import QualipipeError
from qualipipe.pseudonymize import pseudonymizer_for
from qualipipe.records import Segment
from qualipipe.store import (
    Study,
    current_coding,
    finish_run,
    now_iso,
    start_run,
)

if TYPE_CHECKING:
    import sqlite3

    from rich.table import Table

# Nouns, adjectives and verbs carry topics. Proper nouns are left out on purpose: in interviews they
# are mostly people's names, which must never surface as a theme's top terms.
THEME_POS = frozenset({"NOUN", "ADJ", "VERB"})
# spaCy's French stop words list inflected forms ("fait", "peut") but not always the lemmas, and no
# interview fillers. These words top every theme of a PTCE interview corpus without naming any:
# generic verbs, time words, vague nouns and adjectives, and the words of the exercise itself.
_EXTRA_STOP_TEXT = """
    faire pouvoir aller venir devoir devenir arriver passer penser trouver partir mettre prendre
    donner dire croire parler rester laisser sembler demander falloir voir savoir vouloir
    connaître essayer commencer continuer permettre
    chose truc gens temps fois moment jour mois semaine année heure sujet question exemple
    niveau côté façon manière type genre part cas
    dernier petit vrai grand gros bon propre nouveau premier seul certain vraiment
    pôle ptce projet structure
    entretien transcription enquêteur relire durée minute min
    janvier février mars avril mai juin juillet août septembre octobre novembre décembre
"""
EXTRA_STOP_LEMMAS = frozenset(_EXTRA_STOP_TEXT.split())

DEFAULT_SCORE_MAX = 0.5
N_REPRESENTATIVES = 3
MIN_SEGMENTS = 6
UNKNOWN = "non renseigné"


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThemeDocument:
    """One poorly covered segment, ready for topic extraction."""

    segment_id: int
    text: str
    terms: tuple[str, ...]  # content lemmas, in text order
    territory_id: str = UNKNOWN
    actor_type: str = UNKNOWN


@dataclass(frozen=True)
class RepresentativeSegment:
    segment_id: int
    text: str  # pseudonymised
    weight: float
    territory_id: str = UNKNOWN
    actor_type: str = UNKNOWN


@dataclass(frozen=True)
class EmergentTheme:
    label: str
    top_terms: tuple[str, ...]
    coherence: float
    segment_ids: tuple[int, ...]  # segments whose dominant theme this is, most typical first
    representatives: tuple[RepresentativeSegment, ...]
    territories: dict[str, int] = field(default_factory=dict)
    actor_types: dict[str, int] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class ThemesResult:
    themes: tuple[EmergentTheme, ...]
    n_segments: int  # poorly covered segments considered
    coherence_by_k: dict[int, float]
    quality_by_k: dict[int, float] = field(default_factory=dict)
    run_id: int | None = None


# ---------------------------------------------------------------------------------------------
# Terms
# ---------------------------------------------------------------------------------------------


@cache
def stop_lemmas() -> frozenset[str]:
    from spacy.lang.fr.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS) | EXTRA_STOP_LEMMAS


def content_terms(lemmas: Sequence[str], pos: Sequence[str]) -> tuple[str, ...]:
    """The lemmas that can name a theme: nouns, adjectives, verbs; no stop word, no short token."""
    stops = stop_lemmas()
    terms = []
    for lemma, tag in zip(lemmas, pos, strict=True):
        lemma = lemma.lower().strip()
        if tag in THEME_POS and len(lemma) >= 3 and lemma.isalpha() and lemma not in stops:
            terms.append(lemma)
    return tuple(terms)


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------


def propose_label(top_terms: Sequence[str]) -> str:
    """A short French label from the top terms: the first two that do not repeat a word.

    Bigrams of content lemmas lose their prepositions ("attaque loup"), so one only leads the
    label when it is the theme's very first term ("circuit court").
    """
    chosen: list[str] = []
    for term in top_terms:
        if not any(share_a_word(term, c) for c in chosen):
            chosen.append(term)
        if len(chosen) == 2:
            break
    if not chosen:
        return "Thème sans libellé"
    label = " et ".join(chosen)
    return label[0].upper() + label[1:]


def slug_code_id(label: str, prefix: str) -> str:
    ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
    words = [w for w in re.split(r"[^A-Za-z0-9]+", ascii_label.upper()) if w and w != "ET"]
    return f"{prefix}_{'_'.join(words[:3]) or 'THEME'}"


# ---------------------------------------------------------------------------------------------
# Building themes from documents
# ---------------------------------------------------------------------------------------------


def build_themes(
    finder: ThemeFinder,
    documents: Sequence[ThemeDocument],
    *,
    pseudonymize: Callable[[str], str],
    n_representatives: int = N_REPRESENTATIVES,
) -> list[EmergentTheme]:
    """Turn a fitted finder into themes, most widespread first."""
    dominant = finder.dominant_theme()
    themes = []
    for k in range(finder.n_themes_):
        members = [int(i) for i in np.flatnonzero(dominant == k)]
        members.sort(key=lambda i: (-finder.document_weights_[i, k], documents[i].segment_id))
        top_terms = finder.top_terms(k)
        representatives = tuple(
            RepresentativeSegment(
                segment_id=documents[i].segment_id,
                text=pseudonymize(documents[i].text),
                weight=round(float(finder.document_weights_[i, k]), 4),
                territory_id=documents[i].territory_id,
                actor_type=documents[i].actor_type,
            )
            for i in members[:n_representatives]
        )
        themes.append(
            EmergentTheme(
                label=propose_label(top_terms),
                top_terms=tuple(top_terms),
                coherence=round(float(finder.topic_coherence_[k]), 4),
                segment_ids=tuple(documents[i].segment_id for i in members),
                representatives=representatives,
                territories=dict(Counter(documents[i].territory_id for i in members)),
                actor_types=dict(Counter(documents[i].actor_type for i in members)),
            )
        )
    themes = [t for t in themes if t.segment_ids]
    themes.sort(key=lambda t: (-len(t.segment_ids), t.label))
    return themes


# ---------------------------------------------------------------------------------------------
# The study side: which segments, saved where
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CandidateSegment:
    segment: Segment
    territory_id: str
    actor_type: str


def poorly_covered_segments(
    study: Study, *, territory_id: str | None = None, score_max: float = DEFAULT_SCORE_MAX
) -> list[CandidateSegment]:
    """Active, non-interviewer segments with no code applied and no suggestion scoring ≥ score_max.

    "Applied" follows the decision history (latest accept/add wins, through codebook redirects).
    """
    from qualipipe.store import row_to_segment

    coded = {
        segment_id for (segment_id, _), applied in current_coding(study.conn).items() if applied
    }
    sql = """SELECT s.*, COALESCE(src.territory_id, '') AS territory,
                    COALESCE(p.actor_type, '') AS participant_actor_type,
                    COALESCE((SELECT MAX(score) FROM suggestions g WHERE g.segment_id = s.id), 0)
                        AS best_score
             FROM segments s
             JOIN sources src ON src.id = s.source_id
             LEFT JOIN participants p ON p.id = src.participant_id
             WHERE s.retired = 0 AND s.is_interviewer = 0"""
    params: list[object] = []
    if territory_id:
        sql += " AND src.territory_id = ?"
        params.append(territory_id)
    sql += " ORDER BY s.source_id, s.ordinal"
    return [
        CandidateSegment(
            segment=row_to_segment(row),
            territory_id=row["territory"] or UNKNOWN,
            actor_type=row["participant_actor_type"] or UNKNOWN,
        )
        for row in study.conn.execute(sql, params)
        if row["id"] not in coded and row["best_score"] < score_max
    ]


def theme_documents(
    study: Study, candidates: Sequence[CandidateSegment], *, progress: bool = True
) -> list[ThemeDocument]:
    """Content lemmas of each candidate, from the cached per-segment spaCy features."""
    from qualipipe.coding.features import compute_features

    features = compute_features(study, [c.segment for c in candidates], progress=progress)
    return [
        ThemeDocument(
            segment_id=int(c.segment.id or 0),
            text=c.segment.text,
            terms=content_terms(f.lemmas, f.pos),
            territory_id=c.territory_id,
            actor_type=c.actor_type,
        )
        for c, f in zip(candidates, features, strict=True)
    ]


def find_themes(
    study: Study,
    *,
    territory: str | None = None,
    n_themes: int | None = None,
    score_max: float = DEFAULT_SCORE_MAX,
    random_state: int = 0,
    progress: bool = True,
) -> ThemesResult:
    """Extract emergent themes from the poorly covered segments and save them (one run)."""
    territory_id = study.config.territory(territory).id if territory else None
    candidates = poorly_covered_segments(study, territory_id=territory_id, score_max=score_max)
    documents = [d for d in theme_documents(study, candidates, progress=progress) if d.terms]
    if len(documents) < MIN_SEGMENTS:
        where = f" du territoire {territory_id}" if territory_id else ""
        raise QualipipeError(
            f"Seulement {len(documents)} segment(s){where} sont peu couverts par le codebook "
            f"(aucun code accepté, meilleure suggestion < {score_max:.2f}) : il en faut au moins "
            f"{MIN_SEGMENTS} pour dégager des thèmes. Ingérez plus de sources, ou relevez "
            f"--score-max."
        )
    finder = ThemeFinder(n_themes=n_themes, random_state=random_state).fit(
        [d.terms for d in documents]
    )
    themes = build_themes(finder, documents, pseudonymize=pseudonymizer_for(study))
    parameters: dict[str, object] = {
        "territoire": territory_id,
        "nombre": n_themes,
        "score_max": score_max,
        "random_state": random_state,
    }
    with study.transaction() as conn:
        run_id = start_run(conn, "themes", parameters)
        saved = tuple(_save_theme(conn, run_id, theme) for theme in themes)
        finish_run(
            conn,
            run_id,
            {
                "segments_peu_couverts": len(documents),
                "themes": len(saved),
                "coherence_par_nombre": finder.coherence_by_k_,
                "qualite_par_nombre": finder.quality_by_k_,
                "coherence_par_theme": {str(t.id): t.coherence for t in saved},
            },
        )
    return ThemesResult(
        themes=saved,
        n_segments=len(documents),
        coherence_by_k=dict(finder.coherence_by_k_),
        quality_by_k=dict(finder.quality_by_k_),
        run_id=run_id,
    )


def _save_theme(conn: sqlite3.Connection, run_id: int, theme: EmergentTheme) -> EmergentTheme:
    import dataclasses

    cursor = conn.execute(
        """INSERT INTO emergent_themes (run_id, label, top_terms, segment_ids, spread, created_at)
           VALUES (?, ?, ?, ?, ?, ?)""",
        (
            run_id,
            theme.label,
            json.dumps(list(theme.top_terms), ensure_ascii=False),
            json.dumps(list(theme.segment_ids)),
            json.dumps(
                {
                    "territoires": theme.territories,
                    "types_acteurs": theme.actor_types,
                    "coherence": theme.coherence,
                },
                ensure_ascii=False,
            ),
            now_iso(),
        ),
    )
    return dataclasses.replace(theme, id=int(cursor.lastrowid or 0))


def load_theme(study: Study, theme_id: int) -> EmergentTheme:
    """A saved theme, with its representative segments read back (pseudonymised)."""
    row = study.conn.execute("SELECT * FROM emergent_themes WHERE id = ?", (theme_id,)).fetchone()
    if row is None:
        known = [
            str(r[0])
            for r in study.conn.execute(
                "SELECT id FROM emergent_themes WHERE run_id = "
                "(SELECT MAX(run_id) FROM emergent_themes) ORDER BY id"
            )
        ]
        hint = (
            f"thèmes de la dernière extraction : {', '.join(known)}"
            if known
            else "lancez d'abord « qualipipe themes »"
        )
        raise QualipipeError(f"Thème n°{theme_id} introuvable dans l'étude ({hint}).")
    segment_ids = tuple(int(i) for i in json.loads(row["segment_ids"]))
    spread = json.loads(row["spread"])
    pseudonymize = pseudonymizer_for(study)
    texts = {
        int(r["id"]): r["text"]
        for r in study.conn.execute(
            f"SELECT id, text FROM segments WHERE id IN ({','.join('?' * len(segment_ids))})",
            segment_ids,
        )
    }
    representatives = tuple(
        RepresentativeSegment(segment_id=i, text=pseudonymize(texts[i]), weight=0.0)
        for i in segment_ids[:N_REPRESENTATIVES]
        if i in texts
    )
    return EmergentTheme(
        label=row["label"],
        top_terms=tuple(json.loads(row["top_terms"])),
        coherence=float(spread.get("coherence", 0.0)),
        segment_ids=segment_ids,
        representatives=representatives,
        territories=dict(spread.get("territoires", {})),
        actor_types=dict(spread.get("types_acteurs", {})),
        id=int(row["id"]),
    )


# ---------------------------------------------------------------------------------------------
# Theme → draft code in the codebook YAML
# ---------------------------------------------------------------------------------------------

DRAFT_PREFIX = "Brouillon : "
DEFAULT_DRAFT_FAMILY = "TRANS"
N_DRAFT_EXPRESSIONS = 8
N_DRAFT_EXAMPLES = 2
EXAMPLE_MAX_CHARS = 240


@dataclass(frozen=True)
class DraftCode:
    code_id: str
    family: str
    label: str
    codebook_path: Path
    theme_id: int
    line: int  # first line of the appended entry in the file (1-based)


def draft_code_entry(theme: EmergentTheme, code_id: str) -> dict[str, object]:
    """The draft code, in the codebook's YAML schema (French keys)."""
    examples = [_shorten(r.text) for r in theme.representatives[:N_DRAFT_EXAMPLES]]
    terms = ", ".join(theme.top_terms[:6])
    return {
        "id": code_id,
        "libelle": DRAFT_PREFIX + theme.label,
        "definition": (
            f"Thème émergent n°{theme.id} proposé par « qualipipe themes » à partir de "
            f"{len(theme.segment_ids)} segment(s) que la grille couvrait mal (mots "
            f"caractéristiques : {terms}). Définition à réécrire par l'analyste."
        ),
        "quand_utiliser": "À préciser à la relecture.",
        "quand_ne_pas_utiliser": "À préciser à la relecture.",
        "expressions": list(theme.top_terms[:N_DRAFT_EXPRESSIONS]),
        "exemples": examples,
        # Not applied to text until an analyst has reviewed it and switched this to « oui ».
        "codable": "non",
    }


def _shorten(text: str) -> str:
    flat = " ".join(text.split())
    if len(flat) <= EXAMPLE_MAX_CHARS:
        return flat
    return flat[: EXAMPLE_MAX_CHARS - 1].rsplit(" ", 1)[0] + "…"


def append_draft_code(
    study: Study,
    theme_id: int,
    codebook_path: Path | str,
    *,
    family: str = DEFAULT_DRAFT_FAMILY,
) -> DraftCode:
    """Append theme `theme_id` as a draft code at the end of `family` in the codebook file."""
    theme = load_theme(study, theme_id)
    path = Path(codebook_path)
    comment = (
        f"# BROUILLON issu du thème émergent n°{theme_id} (qualipipe themes, {now_iso()[:10]}) :\n"
        "# relire, réécrire la définition, puis mettre « codable: oui »."
    )
    code_id, line = drafts.add_draft_code(
        path,
        family,
        id_base=slug_code_id(theme.label, family),
        entry=lambda code_id: draft_code_entry(theme, code_id),
        comment=comment,
    )
    return DraftCode(
        code_id=code_id,
        family=family,
        label=DRAFT_PREFIX + theme.label,
        codebook_path=path,
        theme_id=theme_id,
        line=line,
    )


# ---------------------------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------------------------


CONSOLE_TOP = 3  # territories / actor types named per theme in the console table


def spread_summary(counts: dict[str, int], limit: int = CONSOLE_TOP) -> str:
    """The `limit` largest counts, then how many others: a theme spread over 50 territories
    stays one short cell instead of 50 lines."""
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    shown = ", ".join(f"{name} {n}" for name, n in ranked[:limit])
    rest = ranked[limit:]
    if rest:
        shown += f" + {len(rest)} autre(s) ({sum(n for _, n in rest)} seg.)"
    return shown


def render_themes(result: ThemesResult) -> Table:
    """The themes of one extraction as a rich table (French headers)."""
    from rich.table import Table

    table = Table(
        title=f"Thèmes émergents ({result.n_segments} segments peu couverts par le codebook)",
        show_lines=True,
    )
    table.add_column("N°", style="bold", justify="right")
    table.add_column("Libellé proposé", style="bold", ratio=2)
    table.add_column("Mots caractéristiques", ratio=3)
    table.add_column("Segments", justify="right")
    table.add_column("Territoires", ratio=2)
    table.add_column("Types d'acteurs", ratio=2)
    for theme in result.themes:
        table.add_row(
            str(theme.id),
            theme.label,
            ", ".join(theme.top_terms[:8]),
            str(len(theme.segment_ids)),
            spread_summary(theme.territories),
            spread_summary(theme.actor_types),
        )
    return table


def excerpt_lines(result: ThemesResult, *, limit: int = 160) -> list[str]:
    """The representative excerpts of each theme (pseudonymised), one line each."""
    lines = []
    for theme in result.themes:
        lines.append(f"[bold]Thème {theme.id} — {theme.label}[/]")
        for r in theme.representatives:
            flat = " ".join(r.text.split())
            shown = flat if len(flat) <= limit else flat[: limit - 1].rsplit(" ", 1)[0] + "…"
            lines.append(f"  « {shown} » ({r.territory_id}, {r.actor_type})")
    return lines


def summary_line(result: ThemesResult) -> str:
    by_k = ", ".join(
        f"{k} : {result.quality_by_k.get(k, 0):.2f} (NPMI {v:+.2f})"
        for k, v in sorted(result.coherence_by_k.items())
    )
    first = result.themes[0].id if result.themes else "N"
    return (
        f"{len(result.themes)} thème(s) retenu(s) sur {result.n_segments} segments peu couverts "
        f"(qualité cohérence × diversité par nombre de thèmes : {by_k}). Enregistrés dans la base de l'étude "
        f"(extraction n°{result.run_id}). Pour faire d'un thème un code à relire : "
        f"qualipipe themes --vers-code {first}"
    )
