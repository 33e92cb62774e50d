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

import itertools
import json
import re
import unicodedata
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from scipy import sparse

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
    from yaml.nodes import Node

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
DEFAULT_K_RANGE = (2, 8)
N_TOP_TERMS = 10
MIN_RELATIVE_WEIGHT = 0.1
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
# Coherence
# ---------------------------------------------------------------------------------------------


def _share_a_word(a: str, b: str) -> bool:
    # "circuit" and "circuit court" co-occur by construction: such pairs would inflate coherence.
    return bool(set(a.split()) & set(b.split()))


def npmi_coherence(
    presence: sparse.spmatrix, topics: Sequence[Sequence[int]], terms: Sequence[str]
) -> np.ndarray:
    """Mean normalised PMI of each topic's top-term pairs, from document co-occurrence.

    `presence` is the binary document × term matrix. NPMI(i, j) = log(p_ij / (p_i p_j)) / -log p_ij,
    in [-1, 1]; -1 when the two terms never share a document. Pairs sharing a word (a bigram and
    one of its words) are skipped.
    """
    presence = sparse.csc_matrix(presence, dtype=np.float64)
    presence.data[:] = 1.0
    n_docs = presence.shape[0]
    used = sorted({index for topic in topics for index in topic})
    position = {index: p for p, index in enumerate(used)}
    sub = presence[:, used]
    together = (sub.T @ sub).toarray() / n_docs
    alone = np.diag(together)
    scores = []
    for topic in topics:
        pair_scores = []
        for i, j in itertools.combinations(topic, 2):
            if _share_a_word(terms[i], terms[j]):
                continue
            p_ij = together[position[i], position[j]]
            if p_ij <= 0:
                pair_scores.append(-1.0)
            elif p_ij >= 1:
                pair_scores.append(1.0)
            else:
                p_i, p_j = alone[position[i]], alone[position[j]]
                pair_scores.append(float(np.log(p_ij / (p_i * p_j)) / -np.log(p_ij)))
        scores.append(float(np.mean(pair_scores)) if pair_scores else 0.0)
    return np.array(scores)


def topic_diversity(topics: Sequence[Sequence[int]], terms: Sequence[str]) -> float:
    """Share of distinct single-word terms among all themes' top terms (1 = no word shared).

    Bigrams are left out: they repeat their own words by construction.
    """
    words = [terms[i] for topic in topics for i in topic if " " not in terms[i]]
    return len(set(words)) / len(words) if words else 0.0


def topic_quality(coherence: float, topics: Sequence[Sequence[int]], terms: Sequence[str]) -> float:
    """Coherence × diversity (Dieng et al. 2020), NPMI rescaled to [0, 1] to keep it monotone.

    Coherence alone rewards splitting a theme in two halves whose words still co-occur; the
    halves share their top words, which diversity penalises.
    """
    return (coherence + 1.0) / 2.0 * topic_diversity(topics, terms)


# ---------------------------------------------------------------------------------------------
# The topic model
# ---------------------------------------------------------------------------------------------


def _identity(tokens: Sequence[str]) -> Sequence[str]:
    return tokens


def _smallest_theme(weights: np.ndarray) -> int:
    """Number of documents of the least frequent dominant theme (0 if one dominates none)."""
    explained = weights.max(axis=1) > 0
    dominant = np.argmax(weights, axis=1)[explained]
    return int(np.bincount(dominant, minlength=weights.shape[1]).min())


class ThemeFinder:
    """NMF on lemma TF-IDF (1-2 grams); K chosen by the coherence (NPMI) × diversity of top terms.

    scikit-learn-like: `fit(term_lists)` sets `n_themes_`, `coherence_by_k_` (mean NPMI),
    `quality_by_k_` (what chooses K), `terms_`,
    `components_` (themes × terms), `document_weights_` (documents × themes) and
    `topic_coherence_`. Deterministic for a given `random_state`.
    """

    def __init__(
        self,
        *,
        n_themes: int | None = None,
        k_range: tuple[int, int] = DEFAULT_K_RANGE,
        n_top_terms: int = N_TOP_TERMS,
        min_df: int = 2,
        max_df: float = 0.85,
        min_theme_size: int = 3,
        random_state: int = 0,
    ) -> None:
        self.n_themes = n_themes
        self.k_range = k_range
        self.n_top_terms = n_top_terms
        self.min_df = min_df
        self.max_df = max_df
        self.min_theme_size = min_theme_size
        self.random_state = random_state

    def fit(self, documents: Sequence[Sequence[str]]) -> ThemeFinder:
        from sklearn.feature_extraction.text import TfidfVectorizer

        vectorizer = TfidfVectorizer(
            tokenizer=_identity,
            preprocessor=_identity,
            lowercase=False,
            token_pattern=None,
            ngram_range=(1, 2),
            min_df=self.min_df,
            max_df=self.max_df,
            sublinear_tf=True,
        )
        try:
            matrix = vectorizer.fit_transform([list(d) for d in documents])
        except ValueError:
            raise QualipipeError(
                "Les segments peu couverts n'ont pas assez de mots en commun pour dégager des "
                "thèmes (il faut des mots présents dans au moins deux segments)."
            ) from None
        self.terms_ = [str(t) for t in vectorizer.get_feature_names_out()]
        self.coherence_by_k_: dict[int, float] = {}
        self.quality_by_k_: dict[int, float] = {}
        best: tuple[float, int, object, np.ndarray] | None = None
        fallback: tuple[float, int, object, np.ndarray] | None = None  # the smallest K
        for k in self._candidate_ks(matrix.shape[0], matrix.shape[1]):
            model, weights = self._factorise(matrix, k)
            tops = self._top_indices(model.components_)  # type: ignore[attr-defined]
            coherence = float(npmi_coherence(matrix, tops, self.terms_).mean())
            quality = topic_quality(coherence, tops, self.terms_)
            self.coherence_by_k_[k] = round(coherence, 4)
            self.quality_by_k_[k] = round(quality, 4)
            if self.n_themes is None and _smallest_theme(weights) < self.min_theme_size:
                # A theme carried by one or two segments is an anecdote, not a pattern.
                fallback = fallback or (quality, k, model, weights)
                continue
            # Strictly better only: on a tie the smaller number of themes wins.
            if best is None or quality > best[0] + 1e-9:
                best = (quality, k, model, weights)
        best = best or fallback
        assert best is not None
        _, self.n_themes_, model, self.document_weights_ = best
        self.components_ = model.components_  # type: ignore[attr-defined]
        self.topic_coherence_ = npmi_coherence(
            matrix, self._top_indices(self.components_), self.terms_
        )
        return self

    def _candidate_ks(self, n_docs: int, n_terms: int) -> list[int]:
        if self.n_themes is not None:
            return [max(1, min(self.n_themes, n_docs, n_terms))]
        low, high = self.k_range
        # At least three segments per theme on average, or a theme is an anecdote.
        high = max(low, min(high, n_docs // 3, n_terms))
        return list(range(low, high + 1))

    def _factorise(self, matrix: sparse.spmatrix, k: int) -> tuple[object, np.ndarray]:
        from sklearn.decomposition import NMF
        from sklearn.exceptions import ConvergenceWarning

        model = NMF(n_components=k, init="nndsvda", random_state=self.random_state, max_iter=800)
        with warnings.catch_warnings():
            # A factorisation still short of full convergence ranks terms just as well; the
            # warning would only worry analysts.
            warnings.simplefilter("ignore", ConvergenceWarning)
            weights = model.fit_transform(matrix)
        return model, weights

    def _top_indices(self, components: np.ndarray, *, min_relative: float = 0.0) -> list[list[int]]:
        tops = []
        for row in components:
            order = np.argsort(-row, kind="stable")[: self.n_top_terms]
            floor = max(min_relative * row.max(), 0.0)
            tops.append([int(i) for i in order if row[i] > floor])
        return tops

    def top_terms(self, theme: int) -> list[str]:
        """The theme's leading terms. Coherence is measured on the full top-N (the standard
        measure); the terms shown drop those weighing under a tenth of the first (noise)."""
        rows = self.components_[theme : theme + 1]
        return [
            self.terms_[i] for i in self._top_indices(rows, min_relative=MIN_RELATIVE_WEIGHT)[0]
        ]

    def dominant_theme(self) -> np.ndarray:
        """Index of each document's main theme, -1 for documents no theme explains."""
        dominant = np.argmax(self.document_weights_, axis=1)
        dominant[self.document_weights_.max(axis=1) <= 0] = -1
        return dominant


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
        if not any(_share_a_word(term, c) for c in chosen):
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


def resolve_territory(study: Study, territory: str | None) -> str | None:
    if not territory:
        return None
    return study.config.territory(territory).id


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
    territory_id = resolve_territory(study, territory)
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
    """Append theme `theme_id` as a draft code at the end of `family` in the codebook file.

    The file is edited as text (its comments and layout are kept), checked with the codebook
    loader, and only then replaced: a failure leaves it as it was.
    """
    from qualipipe.codebook.model import codebook_from_text, load_codebook, read_codebook_text

    path = Path(codebook_path)
    codebook = load_codebook(path)  # refuses to edit a file that is already invalid
    families = [c.id for c in codebook.codes if c.parent is None]
    if family not in families:
        raise QualipipeError(
            f"Famille « {family} » absente de {path} (familles : {', '.join(families)}) ; "
            f"choisissez-en une avec --famille."
        )
    theme = load_theme(study, theme_id)
    code_id = _unique_id(slug_code_id(theme.label, family), {c.id for c in codebook.codes})
    text = read_codebook_text(path)
    new_text, line = _insert_into_family(text, family, draft_code_entry(theme, code_id), theme_id)
    codebook_from_text(new_text, str(path))  # the loader must accept the result
    temporary = path.with_name(f".{path.name}.brouillon")
    temporary.write_text(new_text, encoding="utf-8")
    temporary.replace(path)
    return DraftCode(
        code_id=code_id,
        family=family,
        label=DRAFT_PREFIX + theme.label,
        codebook_path=path,
        theme_id=theme_id,
        line=line,
    )


def _quoted(text: object) -> str:
    # A JSON string is a valid YAML double-quoted scalar: every character is escaped safely.
    return json.dumps(str(text), ensure_ascii=False)


def draft_entry_yaml(entry: dict[str, object]) -> str:
    """The entry in the codebook's own style: "- id: ...", flow list of expressions, examples."""
    lines: list[str] = []
    for key, value in entry.items():
        prefix = "- " if not lines else "  "
        if key == "id" or key == "codable":
            lines.append(f"{prefix}{key}: {value}")
        elif isinstance(value, list) and key == "expressions":
            lines.append(f"{prefix}{key}: [{', '.join(_quoted(v) for v in value)}]")
        elif isinstance(value, list):
            lines.append(f"{prefix}{key}:")
            lines.extend(f"    - {_quoted(v)}" for v in value)
        else:
            lines.append(f"{prefix}{key}: {_quoted(value)}")
    return "\n".join(lines) + "\n"


def _last_scalar(node: Node) -> Node:
    """The last scalar of a node, in document order (mapping and sequence ends overshoot)."""
    from yaml.nodes import MappingNode, SequenceNode

    while isinstance(node, MappingNode | SequenceNode) and node.value:
        last = node.value[-1]
        node = last[1] if isinstance(node, MappingNode) else last
    return node


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _unique_id(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}_{n}", n + 1
    return candidate


def _insert_into_family(
    text: str, family: str, entry: dict[str, object], theme_id: int
) -> tuple[str, int]:
    """Insert `entry` after the last code of `family`; return the new text and the entry's line."""
    import yaml
    from yaml.nodes import MappingNode, ScalarNode, SequenceNode

    root = yaml.compose(text, Loader=yaml.SafeLoader)
    codes_node = None
    assert isinstance(root, MappingNode)
    for key, value in root.value:
        if key.value != "familles" or not isinstance(value, SequenceNode):
            continue
        for family_node in value.value:
            fields = {k.value: v for k, v in family_node.value}
            id_node = fields.get("id")
            if isinstance(id_node, ScalarNode) and id_node.value == family:
                codes_node = fields.get("codes")
    assert isinstance(codes_node, SequenceNode) and codes_node.value
    lines = text.splitlines(keepends=True)
    first_item_line = lines[codes_node.value[0].start_mark.line]
    indent = len(first_item_line) - len(first_item_line.lstrip(" "))
    end = _last_scalar(codes_node.value[-1]).end_mark
    # A scalar ends on its own line (column > 0) or at the start of a later one (block scalars);
    # blank lines and comments right before the insertion point belong to what follows.
    insert_at = end.line if end.column == 0 else end.line + 1
    while insert_at > 0 and (not lines[insert_at - 1].strip() or _is_comment(lines[insert_at - 1])):
        insert_at -= 1
    block = draft_entry_yaml(entry)
    comment = (
        f"# BROUILLON issu du thème émergent n°{theme_id} (qualipipe themes, {now_iso()[:10]}) :\n"
        f"{' ' * indent}# relire, réécrire la définition, puis mettre « codable: oui ».\n"
    )
    pad = " " * indent
    addition = ["\n", pad + comment] + [
        pad + ln if ln.strip() else ln for ln in block.splitlines(True)
    ]
    if insert_at > 0 and not lines[insert_at - 1].endswith("\n"):
        lines[insert_at - 1] += "\n"
    new_lines = lines[:insert_at] + addition + lines[insert_at:]
    return "".join(new_lines), insert_at + 4


# ---------------------------------------------------------------------------------------------
# Display
# ---------------------------------------------------------------------------------------------


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counts.items(), key=lambda kv: -kv[1]))


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
            _counts(theme.territories),
            _counts(theme.actor_types),
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


def default_codebook_path(study: Study) -> Path:
    """The codebook file to extend: the study's setting, else the file last loaded in it."""
    candidates: list[Path] = []
    if study.config.codebook:
        candidates.append(study.root / study.config.codebook)
    row = study.conn.execute(
        "SELECT source_path FROM codebook_versions ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is not None and row["source_path"]:
        loaded = Path(row["source_path"])
        candidates.append(loaded if loaded.is_absolute() else study.root / loaded)
        candidates.append(loaded)
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise QualipipeError(
        "Aucun fichier de codebook connu pour cette étude : indiquez-le avec "
        "--codebook codebooks/ptce.yaml."
    )
