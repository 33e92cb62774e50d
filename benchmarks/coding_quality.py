"""Quality of `qualipipe code` suggestions against human multi-label annotations.

Usage:
    python benchmarks/coding_quality.py --data ../shared/data/granddebat_annotation_fiscalite/responses.jsonl \
        [--k 0,20,50,100] [--seed 0]

For each question with at least 40 answers: a codebook is built from the question's categories
(names only), gold = categories with >= 2 votes (minus "no thematic code" categories), the answers
are ingested into a real study (one survey source and one segment per answer), the gold codes of k
answers are recorded as analyst decisions, `suggest_codes` runs (the same code path as
`qualipipe code`), and the stored suggestions are scored on a held-out third of the answers
(fixed split by seed). A plain TF-IDF + logistic regression trained on the same k answers is the
baseline. Last lines, one per k:
    OVERALL k=K micro_f1=X macro_f1=Y top3_recall=Z baseline_micro_f1=B
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
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from threadpoolctl import threadpool_limits

from qualipipe.coding.suggest import suggest_codes
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
    codes = [Code(id="Q", label=question.text[:80] or "Question", family="Q", codable=False)]
    ids = {}
    for n, category in enumerate(question.categories, start=1):
        code_id = f"Q_{n:02d}"
        ids[code_id] = category
        codes.append(Code(id=code_id, label=code_label(category), family="Q", parent="Q"))
    return Codebook(name=f"question {question.id}", version="1", codes=tuple(codes)), ids


def run_question(question: Question, ks: list[int], seed: int, workdir: Path) -> dict[int, Scores]:
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
        baseline = (
            baseline_predictions(train, [question.answers[int(i)] for i in test]) if k else None
        )
        results[k] = Scores(
            gold=[question.answers[int(i)].gold for i in test],
            predicted=predicted,
            ranked=ranked,
            baseline=baseline,
            categories=question.categories,
        )
    study.close()
    return results


def record_gold(conn, segment_id: int, answer: Answer, category_to_id: dict[str, str]) -> None:  # noqa: ANN001
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
    id_to_category: dict[str, str],  # noqa: ANN001
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


def binarise(sets: list[set[str]], categories: list[str]) -> np.ndarray:
    column = {c: j for j, c in enumerate(categories)}
    matrix = np.zeros((len(sets), len(categories)), dtype=int)
    for i, labels in enumerate(sets):
        for label in labels:
            if label in column:
                matrix[i, column[label]] = 1
    return matrix


def metrics(scores: list[Scores]) -> tuple[float, float, float, float | None]:
    """micro-F1, macro-F1 (over codes present in the gold), top-3 recall, baseline micro-F1."""
    gold_blocks, pred_blocks, base_blocks, macro = [], [], [], []
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
        if s.baseline is not None:
            base_blocks.append(binarise(s.baseline, s.categories).ravel())
        for labels, ranked in zip(s.gold, s.ranked, strict=False):
            hits += len(labels & set(ranked[:3]))
            total += len(labels)
    gold_all, pred_all = np.concatenate(gold_blocks), np.concatenate(pred_blocks)
    micro = f1_score(gold_all, pred_all, zero_division=0)
    baseline = (
        f1_score(gold_all, np.concatenate(base_blocks), zero_division=0)
        if len(base_blocks) == len(scores)
        else None
    )
    return float(micro), float(np.mean(macro)) if macro else 0.0, hits / max(total, 1), baseline


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
    per_k: dict[int, list[Scores]] = defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="qualipipe-qualite-") as tmp:
        for question in questions:
            results = run_question(question, ks, args.seed, Path(tmp))
            for k in ks:
                micro, macro, top3, base = metrics([results[k]])
                per_k[k].append(results[k])
                print(
                    f"question={question.id} answers={len(question.answers)} "
                    f"codes={len(question.categories)} k={k} micro_f1={micro:.3f} "
                    f"macro_f1={macro:.3f} top3_recall={top3:.3f} "
                    f"baseline_micro_f1={'' if base is None else f'{base:.3f}'}",
                    flush=True,
                )
    for k in ks:
        micro, macro, top3, base = metrics(per_k[k])
        baseline = "" if k == 0 or base is None else f"{base:.3f}"
        print(
            f"OVERALL k={k} micro_f1={micro:.3f} macro_f1={macro:.3f} "
            f"top3_recall={top3:.3f} baseline_micro_f1={baseline}"
        )


if __name__ == "__main__":
    main()
