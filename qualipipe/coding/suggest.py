"""`qualipipe code`: suggestions for every segment, with reasons, learnt from the decisions.

Flow: read the current codebook and the decision history → cached spaCy features for the
segments to score and the reviewed ones (spaCy runs on new text only) → fit the lexicon, semantic
and supervised suggesters on the reviewed segments → combine their signals into one calibrated
probability per (segment, code) → tune per-code thresholds (raised by the analysts' runs of
rejections, see policy.py) → leave out codes outside their codebook scope → store, in one transaction, the
suggestions at or above threshold (with a French reason, the model version and the codebook
version), the thresholds (study_meta "thresholds") and each segment's uncertainty (active learning).
Decisions are only read, never written.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from qualipipe.coding.base import CodeIndex, LabelledSet, SegmentBatch, SuggesterOutput
from qualipipe.coding.combine import SIGNALS, Combiner, signal_tensor, tune_thresholds
from qualipipe.coding.features import compute_features, feature_signature
from qualipipe.coding.lexicon import LexiconSuggester
from qualipipe.coding.policy import (
    Placement,
    after_rejections,
    rejection_streaks,
    scope_mask,
    stored_scopes,
)
from qualipipe.coding.semantic import SemanticSuggester
from qualipipe.coding.snapshot import (
    build_static_inputs,
    load_snapshot,
    save_snapshot,
    snapshot_key,
)
from qualipipe.coding.supervised import SupervisedSuggester
from qualipipe.coding.uncertainty import uncertainty
from qualipipe.errors import QualipipeError
from qualipipe.pseudonymize import (
    Policy,
    Pseudonymizer,
    pseudonymizer_for,
    remember_person_spans,
)
from qualipipe.records import Codebook, Suggestion
from qualipipe.store import (
    Study,
    current_codebook,
    current_codebook_version_id,
    current_coding,
    finish_run,
    now_iso,
    replace_suggestions,
    set_meta,
    start_run,
    upsert_rows,
)

MODEL_NAME = "codage-v1"
N_FOLDS = 3


@dataclass(frozen=True)
class CodingReport:
    """What a `code` run did (printed by the CLI, recorded in the runs table)."""

    segments_processed: int
    words: int
    texts_analysed: int  # texts that went through spaCy (not found in the cache)
    reviewed_segments: int  # segments with decisions the models learnt from
    suggestions: int
    suggestions_per_family: dict[str, int]
    thresholds: dict[str, float]
    combination: str  # "a priori" or "calibré sur les décisions"
    model_version: str
    codebook_version_id: int
    seconds: float
    skipped_interviewer: int = 0
    run_id: int = 0
    territory: str | None = None
    stage_seconds: dict[str, float] = field(default_factory=dict)  # time per step of the run
    muted_codes: tuple[str, ...] = ()  # rejected too many times in a row: not suggested
    out_of_scope: int = 0  # suggestions left out because the codebook scope excludes the segment


class _StageClock:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = round(now - self._last, 3)
        self._last = now


@dataclass(frozen=True)
class SegmentRow:
    id: int
    text: str
    text_hash: str
    is_interviewer: bool
    retired: bool
    territory_id: str | None
    feeds: tuple[str, ...]
    placement: Placement = Placement(None, "transcript")


@dataclass
class FittedModels:
    codes: CodeIndex
    lexicon: LexiconSuggester
    semantic: SemanticSuggester
    supervised: SupervisedSuggester
    combiner: Combiner = field(default_factory=Combiner)
    thresholds: dict[str, float] = field(default_factory=dict)


def suggest_codes(
    study: Study,
    *,
    territory: str | None = None,
    only_new: bool = False,
    n_process: int = 1,
    progress: bool = True,
) -> CodingReport:
    """Compute (or refresh) the suggestions of the study; see the module docstring."""
    with _fewer_garbage_collections():
        return _suggest_codes(study, territory, only_new, n_process, progress)


@contextmanager
def _fewer_garbage_collections() -> Iterator[None]:
    """A run allocates millions of small objects that all live until its end; Python's cyclic
    collector would rescan them again and again (measured: +50 % on a re-run). Raise its
    first threshold for the run, restore it after."""
    previous = gc.get_threshold()
    gc.set_threshold(max(previous[0], 50_000), *previous[1:])
    try:
        yield
    finally:
        gc.set_threshold(*previous)


def _suggest_codes(
    study: Study, territory: str | None, only_new: bool, n_process: int, progress: bool
) -> CodingReport:
    started = time.perf_counter()
    clock = _StageClock()
    conn = study.conn
    codebook = _require_codebook(conn)
    codebook_version_id = current_codebook_version_id(conn) or 0
    territory_id = study.config.territory(territory).id if territory else None
    rows = segment_rows(conn)
    reviewed_ids = _reviewed_segment_ids(conn)
    already_coded = _coded_segment_ids(conn) if only_new else set()
    targets = [
        r
        for r in rows
        if not r.retired
        and not r.is_interviewer
        and (territory_id is None or r.territory_id == territory_id)
        and r.id not in already_coded
    ]
    skipped = sum(
        1
        for r in rows
        if r.is_interviewer and not r.retired and territory_id in (None, r.territory_id)
    )
    training = [r for r in rows if r.id in reviewed_ids and not r.is_interviewer]
    clock.lap("lecture")

    # Decision-independent matrices of the targets from the previous run, when nothing changed.
    key = snapshot_key([r.text_hash for r in targets], _codebook_hash(conn, codebook_version_id))
    static = load_snapshot(conn, key)
    # One spaCy pass over everything that is not cached yet.
    needed = {r.id: r for r in [*training, *([] if static else targets)]}
    cached_before = _cache_size(conn)
    features = compute_features(
        study, [r.text for r in needed.values()], n_process=n_process, progress=progress
    )
    texts_analysed = _cache_size(conn) - cached_before
    by_id = dict(zip(needed, features, strict=False))
    if static is None:  # texts changed: find their people now, not at each review export
        remember_person_spans(study, progress=progress)
    clock.lap("analyse")

    codes = CodeIndex.from_codebook(codebook)
    labelled = labelled_set(conn, codes, training, by_id)
    show = reason_pseudonymizer(conn)
    analyse = analyser(study)
    models = fit_models(codes, labelled, feeds_matrix(codes, training), analyse, show)
    models.thresholds, muted = after_rejections(models.thresholds, rejection_streaks(conn))
    clock.lap("apprentissage")

    new_snapshot = static is None
    if static is None:
        target_features = [by_id[r.id] for r in targets]
        plain = SegmentBatch([r.id for r in targets], [r.text for r in targets], target_features)
        static = build_static_inputs(target_features, models.lexicon.suggest(plain))
    target_batch = SegmentBatch(
        [r.id for r in targets], [r.text for r in targets], [], static=static
    )
    feeds = feeds_matrix(codes, targets)
    outputs, probabilities = score_batch(models, target_batch, feeds)
    allowed = scope_mask(
        stored_scopes(conn, codebook_version_id, codes), [r.placement for r in targets]
    )
    probabilities, out_of_scope = within_scope(probabilities, allowed, thresholds_row(models))
    # Muted codes: no suggestion, and no pull on the review order either.
    probabilities[:, [codes.column()[c] for c in muted]] = 0.0
    clock.lap("scores")
    decided = _decided_pairs(conn)
    model_version = f"{MODEL_NAME}/{feature_signature()}/décisions:{_last_decision_id(conn)}"
    suggestions = _build_suggestions(
        models, target_batch, outputs, probabilities, decided, model_version, codebook_version_id
    )
    uncertainty = _uncertainty(probabilities, models)
    clock.lap("justifications")

    with study.transaction() as tx:
        run_id = start_run(
            tx,
            "code",
            {"territoire": territory_id, "nouveaux_seulement": only_new, "processus": n_process},
        )
        written = replace_suggestions(tx, target_batch.segment_ids, suggestions, run_id)
        if new_snapshot:
            save_snapshot(tx, key, static)
        coded_at = now_iso()
        upsert_rows(
            tx,
            "coding_segments",
            (
                {"segment_id": sid, "run_id": run_id, "uncertainty": float(u), "coded_at": coded_at}
                for sid, u in zip(target_batch.segment_ids, uncertainty, strict=False)
            ),
            key=["segment_id"],
        )
        set_meta(tx, "thresholds", models.thresholds)
        per_family = Counter(codes.all_codes[s.code_id].family for s in suggestions)
        report = CodingReport(
            segments_processed=len(targets),
            words=sum(len(r.text.split()) for r in targets),
            texts_analysed=texts_analysed,
            reviewed_segments=len(labelled),
            suggestions=written,
            suggestions_per_family=dict(sorted(per_family.items())),
            thresholds=models.thresholds,
            combination=models.combiner.kind,
            model_version=model_version,
            codebook_version_id=codebook_version_id,
            seconds=round(time.perf_counter() - started, 2),
            skipped_interviewer=skipped,
            run_id=run_id,
            territory=territory_id,
            stage_seconds=clock.laps,
            muted_codes=tuple(muted),
            out_of_scope=out_of_scope,
        )
        clock.lap("écriture")
        finish_run(
            tx,
            run_id,
            {
                "segments": report.segments_processed,
                "suggestions": report.suggestions,
                "par_famille": report.suggestions_per_family,
                "segments_revus": report.reviewed_segments,
                "analyses_spacy": report.texts_analysed,
                "secondes": report.seconds,
            },
        )
    return report


def uncertainty_by_segment(study: Study) -> dict[int, float]:
    """Teaching value of a decision on each coded segment, in [0, 1] (1 = most uncertain).

    For each segment, the code whose calibrated score is closest to its threshold decides:
    1 - |score - threshold| / (distance from the threshold to the nearest bound 0 or 1).
    Segments never scored by `qualipipe code` are absent. Sort by decreasing value to review
    first the segments the model is least sure about.
    """
    return {
        int(r[0]): float(r[1])
        for r in study.conn.execute("SELECT segment_id, uncertainty FROM coding_segments")
    }


def labelled_segments(
    study: Study, codes: CodeIndex, segment_ids: Sequence[int] | None = None
) -> LabelledSet:
    """Reviewed (non-interviewer) segments with their current coding, features from the cache.

    `segment_ids` restricts the set (e.g. a cross-validation fold); default: every reviewed one.
    """
    reviewed = _reviewed_segment_ids(study.conn)
    wanted = reviewed if segment_ids is None else reviewed & set(segment_ids)
    rows = [r for r in segment_rows(study.conn) if r.id in wanted and not r.is_interviewer]
    features = compute_features(study, [r.text for r in rows], progress=False)
    return labelled_set(
        study.conn, codes, rows, {r.id: f for r, f in zip(rows, features, strict=False)}
    )


# --------------------------------------------------------------------------------------------
# Reading the study
# --------------------------------------------------------------------------------------------


def _require_codebook(conn: sqlite3.Connection) -> Codebook:
    codebook = current_codebook(conn)
    if codebook is None or not codebook.codable():
        raise QualipipeError(
            "Aucun codebook avec des codes utilisables n'est chargé dans l'étude : chargez d'abord "
            "le codebook (ex. : qualipipe codebook load codebooks/ptce.yaml), puis relancez "
            "« qualipipe code »."
        )
    return codebook


def segment_rows(conn: sqlite3.Connection) -> list[SegmentRow]:
    rows = []
    for r in conn.execute(
        """SELECT s.id, s.text, s.text_hash, s.is_interviewer, s.retired, src.territory_id, src.kind,
                  src.metadata, p.role
           FROM segments s JOIN sources src ON src.id = s.source_id
           LEFT JOIN participants p ON p.id = src.participant_id
           ORDER BY s.source_id, s.ordinal"""
    ):
        feeds: tuple[str, ...] = ()
        if r["kind"] in ("survey", "workshop"):  # answers (workshop 1 too) feed their families
            feeds = _parse_feeds(json.loads(r["metadata"] or "{}").get("feeds"))
        rows.append(
            SegmentRow(
                id=int(r["id"]),
                text=r["text"],
                text_hash=r["text_hash"],
                is_interviewer=bool(r["is_interviewer"]),
                retired=bool(r["retired"]),
                territory_id=r["territory_id"],
                feeds=feeds,
                placement=Placement(r["role"], r["kind"]),
            )
        )
    return rows


def _parse_feeds(value: object) -> tuple[str, ...]:
    """`feeds` may be a list, a JSON list in a string, or "MOT, BES"."""
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text.replace(";", ",").split(",")
    if isinstance(value, list):
        return tuple(str(v).strip() for v in value if str(v).strip())
    return ()


def _codebook_hash(conn: sqlite3.Connection, version_id: int) -> str:
    row = conn.execute(
        "SELECT content_hash FROM codebook_versions WHERE id = ?", (version_id,)
    ).fetchone()
    return f"{version_id}:{row[0] if row else ''}"


def _reviewed_segment_ids(conn: sqlite3.Connection) -> set[int]:
    return {int(r[0]) for r in conn.execute("SELECT DISTINCT segment_id FROM decisions")}


def _coded_segment_ids(conn: sqlite3.Connection) -> set[int]:
    return {int(r[0]) for r in conn.execute("SELECT segment_id FROM coding_segments")}


def _cache_size(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COUNT(*) FROM nlp_cache").fetchone()[0])


def _last_decision_id(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM decisions").fetchone()[0])


def _decided_pairs(conn: sqlite3.Connection) -> set[tuple[int, str]]:
    return set(current_coding(conn))


def labelled_set(
    conn: sqlite3.Connection, codes: CodeIndex, training: list[SegmentRow], by_id: dict
) -> LabelledSet:
    column = codes.column()
    index = {r.id: i for i, r in enumerate(training)}
    labels = np.zeros((len(training), len(codes.codes)), dtype=np.uint8)
    for (segment_id, code_id), applied in current_coding(conn).items():
        if not applied or segment_id not in index:
            continue
        for code in [code_id, *codes.ancestors(code_id)]:
            if code in column:
                labels[index[segment_id], column[code]] = 1
    batch = SegmentBatch(
        [r.id for r in training], [r.text for r in training], [by_id[r.id] for r in training]
    )
    return LabelledSet(batch=batch, labels=labels)


def reason_pseudonymizer(conn: sqlite3.Connection) -> Callable[[str], str]:
    """The factory's REASON pseudonymiser, built on first use and memoised per text.

    A run quotes the same few validated segments in thousands of reasons: each is pseudonymised
    once (measured before the memo: one pass per suggestion dominated a re-run on 800 names).
    """

    @cache
    def built() -> Pseudonymizer:
        return pseudonymizer_for(conn, Policy.REASON)

    @cache
    def show(text: str) -> str:
        return built().apply(text)

    return show


def analyser(study: Study) -> Callable[[Sequence[str]], list]:
    def analyse(texts: Sequence[str]) -> list:
        return compute_features(study, list(texts), progress=False)

    return analyse


def feeds_matrix(codes: CodeIndex, rows: Sequence[SegmentRow]) -> np.ndarray:
    """+1 where a survey question feeds the code (or its family), -1 where it feeds others."""
    feeds = np.zeros((len(rows), len(codes.codes)), dtype=np.int8)
    scopes = [codes.scope(c) for c in codes.codes]
    for i, row in enumerate(rows):
        if row.feeds:
            fed = set(row.feeds)
            feeds[i] = [1 if scope & fed else -1 for scope in scopes]
    return feeds


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


def fit_models(
    codes: CodeIndex,
    labelled: LabelledSet,
    labelled_feeds: np.ndarray,
    analyse: Callable,
    show: Callable[[str], str],
) -> FittedModels:
    lexicon = LexiconSuggester(analyse).fit(codes, labelled)
    models = FittedModels(
        codes=codes,
        lexicon=lexicon,
        semantic=SemanticSuggester(analyse, show=show),
        supervised=SupervisedSuggester(),
    )
    if len(labelled):
        oof_signals = _out_of_fold_signals(models, labelled, labelled_feeds, analyse)
        models.combiner.fit(oof_signals, labelled.labels)
        oof_probabilities = models.combiner.probability(oof_signals)
        models.thresholds = tune_thresholds(oof_probabilities, labelled.labels, codes.ids)
    else:
        models.thresholds = tune_thresholds(np.zeros((0, 0)), labelled.labels, codes.ids)
    models.semantic.fit(codes, labelled)
    models.supervised.fit(codes, labelled)
    return models


def _out_of_fold_signals(
    models: FittedModels, labelled: LabelledSet, feeds: np.ndarray, analyse: Callable
) -> np.ndarray:
    """Signals of each reviewed segment from models that did not see it (honest calibration)."""
    n = len(labelled)
    folds = min(N_FOLDS, n)
    order = np.random.default_rng(0).permutation(n)
    signals = np.zeros((n, len(models.codes.codes), len(SIGNALS)))
    for k in range(folds):
        held = np.sort(order[k::folds])
        kept = np.setdiff1d(np.arange(n), held)
        train = labelled.subset(kept.tolist())
        batch = labelled.batch.subset(held.tolist())
        semantic = SemanticSuggester(analyse).fit(models.codes, train)
        supervised = SupervisedSuggester().fit(models.codes, train)
        signals[held] = signal_tensor(
            models.lexicon.suggest(batch),
            semantic.suggest(batch),
            supervised.suggest(batch),
            feeds[held],
        )
    return signals


def score_batch(
    models: FittedModels, batch: SegmentBatch, feeds: np.ndarray
) -> tuple[dict[str, SuggesterOutput], np.ndarray]:
    outputs = {
        "lexique": models.lexicon.suggest(batch),
        "sémantique": models.semantic.suggest(batch),
        "supervisé": models.supervised.suggest(batch),
    }
    signals = signal_tensor(outputs["lexique"], outputs["sémantique"], outputs["supervisé"], feeds)
    probabilities = (
        models.combiner.probability(signals)
        if len(batch)
        else np.zeros((0, len(models.codes.codes)))
    )
    return outputs, probabilities


def thresholds_row(models: FittedModels) -> np.ndarray:
    return np.array([models.thresholds[c] for c in models.codes.ids])


def within_scope(
    probabilities: np.ndarray, allowed: np.ndarray, thresholds: np.ndarray
) -> tuple[np.ndarray, int]:
    """Probabilities with out-of-scope cells set to 0 (neither suggested nor uncertain), and how
    many suggestions that removed."""
    if probabilities.size == 0:
        return probabilities, 0
    removed = int(((probabilities >= thresholds) & ~allowed).sum())
    return np.where(allowed, probabilities, 0.0), removed


def _uncertainty(probabilities: np.ndarray, models: FittedModels) -> np.ndarray:
    if probabilities.size == 0:
        return np.zeros(len(probabilities))
    return uncertainty(probabilities, thresholds_row(models)).max(axis=1)


def _build_suggestions(
    models: FittedModels,
    batch: SegmentBatch,
    outputs: dict[str, SuggesterOutput],
    probabilities: np.ndarray,
    decided: set[tuple[int, str]],
    model_version: str,
    codebook_version_id: int,
) -> list[Suggestion]:
    if probabilities.size == 0:
        return []
    t = thresholds_row(models)
    suggestions = []
    for row, column in zip(*np.nonzero(probabilities >= t), strict=False):
        segment_id = batch.segment_ids[row]
        code_id = models.codes.codes[column].id
        if (segment_id, code_id) in decided:  # analysts already said yes or no
            continue
        method, reason = _explain(outputs, int(row), int(column), float(probabilities[row, column]))
        suggestions.append(
            Suggestion(
                segment_id=segment_id,
                code_id=code_id,
                score=round(float(probabilities[row, column]), 4),
                method=method,
                explanation=reason,
                model_version=model_version,
                codebook_version_id=codebook_version_id,
            )
        )
    return suggestions


def _explain(
    outputs: dict[str, SuggesterOutput], row: int, column: int, probability: float
) -> tuple[str, str]:
    """Main method and a French reason naming what made the score."""
    parts = []
    lexical = outputs["lexique"].explain(row, column)
    if lexical:
        parts.append(f"Lexique : {lexical}")
    supervised = outputs["supervisé"].explain(row, column)
    if supervised:
        parts.append(f"Apprentissage : {supervised}")
    parts.append(f"Sens : {outputs['sémantique'].explain(row, column)}")
    if outputs["lexique"].scores[row, column] > 0:
        method = "lexique"
    elif supervised and outputs["supervisé"].scores[row, column] >= 0.5:
        method = "supervisé"
    else:
        method = "sémantique"
    return method, f"Score {probability:.2f}. " + " ; ".join(parts) + "."
