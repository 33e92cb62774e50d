"""Read what a territory's synthesis needs from the study store, as typed records."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable

from qualipipe import store
from qualipipe.errors import StudyError
from qualipipe.pseudonymize import Policy, pseudonymizer_for
from qualipipe.records import Codebook, SourceKind, Territory
from qualipipe.synthesize.model import AnswerSheet, Coding, SegmentText, TerritoryData

SEGMENTS_SQL = """
SELECT s.id, s.source_id, s.text, src.participant_id, src.kind, src.instrument, src.question_code
FROM segments s
JOIN sources src ON src.id = s.source_id
LEFT JOIN participants p ON p.id = src.participant_id
WHERE s.retired = 0 AND s.is_interviewer = 0
  AND COALESCE(src.territory_id, p.territory_id) = ?
ORDER BY s.source_id, s.ordinal
"""


def require_codebook(conn: sqlite3.Connection) -> Codebook:
    codebook = store.current_codebook(conn)
    if codebook is None:
        raise StudyError(
            "Aucune grille de codage n'est chargée dans l'étude : chargez-la avec "
            "« qualipipe codebook load codebooks/ptce.yaml » avant de lancer la synthèse."
        )
    return codebook


def load_segments(conn: sqlite3.Connection, territory_id: str) -> dict[int, SegmentText]:
    return {
        r["id"]: SegmentText(
            id=r["id"],
            source_id=r["source_id"],
            participant_id=r["participant_id"],
            text=r["text"],
            kind=r["kind"],
            instrument=r["instrument"],
            question_code=r["question_code"],
        )
        for r in conn.execute(SEGMENTS_SQL, (territory_id,))
    }


def load_codings(
    conn: sqlite3.Connection,
    segments: dict[int, SegmentText],
    codable_ids: set[str],
    *,
    validated_only: bool,
) -> list[Coding]:
    """Validated codings (latest decision per segment and code, all coders, redirects followed),
    then, unless `validated_only`, suggestions on which no analyst decided anything."""
    decided = store.current_coding(conn)
    codings = [
        Coding(segment_id, code_id, segments[segment_id].participant_id, validated=True)
        for (segment_id, code_id), applied in sorted(decided.items())
        if applied and segment_id in segments and code_id in codable_ids
    ]
    if validated_only:
        return codings
    redirects = store.code_redirect_map(conn)
    best: dict[tuple[int, str], float] = {}
    for r in conn.execute("SELECT segment_id, code_id, score FROM suggestions"):
        key = (r["segment_id"], redirects.get(r["code_id"], r["code_id"]))
        if key in decided or key[0] not in segments or key[1] not in codable_ids:
            continue
        best[key] = max(best.get(key, float("-inf")), float(r["score"]))
    codings.extend(
        Coding(segment_id, code_id, segments[segment_id].participant_id, False, score)
        for (segment_id, code_id), score in sorted(best.items())
    )
    return codings


def load_answers(conn: sqlite3.Connection, territory_id: str) -> list[AnswerSheet]:
    """Closed survey answers of the territory: per participant from participant_attributes, plus
    submitted LimeSurvey responses not already represented there (e.g. anonymous ones)."""
    by_key: dict[tuple[str, str], dict[str, str]] = defaultdict(dict)
    for r in conn.execute(
        """SELECT a.participant_id, a.instrument, a.question_code, a.value
           FROM participant_attributes a JOIN participants p ON p.id = a.participant_id
           WHERE p.territory_id = ? ORDER BY a.participant_id, a.instrument, a.question_code""",
        (territory_id,),
    ):
        by_key[(r["participant_id"], r["instrument"])][r["question_code"]] = r["value"]
    sheets = [
        AnswerSheet(participant_id, instrument, values, participant_id, territory_id)
        for (participant_id, instrument), values in sorted(by_key.items())
    ]
    for r in conn.execute(
        """SELECT r.* FROM survey_responses r LEFT JOIN participants p ON p.id = r.participant_id
           WHERE r.submitted = 1 AND COALESCE(r.territory_id, p.territory_id) = ?
           ORDER BY r.instrument, r.survey_id, r.response_id""",
        (territory_id,),
    ):
        if r["participant_id"] and (r["participant_id"], r["instrument"]) in by_key:
            continue
        values = {str(k): "" if v is None else str(v) for k, v in json.loads(r["data"]).items()}
        respondent = r["participant_id"] or f"réponse {r['survey_id']}/{r['response_id']}"
        sheets.append(
            AnswerSheet(respondent, r["instrument"], values, r["participant_id"], territory_id)
        )
    return sheets


def load_territory(
    study: store.Study, territory: Territory, *, validated_only: bool
) -> TerritoryData:
    conn = study.conn
    codebook = require_codebook(conn)
    codable = {c.id for c in codebook.codable()}
    participants = tuple(
        p
        for p in store.list_participants(conn, with_real_names=True)
        if p.territory_id == territory.id
    )
    segments = load_segments(conn, territory.id)
    codings = load_codings(conn, segments, codable, validated_only=validated_only)
    interviews = conn.execute(
        """SELECT count(*) FROM sources src LEFT JOIN participants p ON p.id = src.participant_id
           WHERE src.kind = ? AND COALESCE(src.territory_id, p.territory_id) = ?""",
        (SourceKind.TRANSCRIPT.value, territory.id),
    ).fetchone()[0]
    source_counts = conn.execute(
        """SELECT src.kind, count(*) FROM sources src
           LEFT JOIN participants p ON p.id = src.participant_id
           WHERE src.kind != ? AND COALESCE(src.territory_id, p.territory_id) = ?
           GROUP BY src.kind ORDER BY src.kind""",
        (SourceKind.SURVEY.value, territory.id),
    ).fetchall()
    return TerritoryData(
        study_name=study.config.name,
        territory=territory,
        participants=participants,
        analysed_ids=frozenset(s.participant_id for s in segments.values() if s.participant_id),
        codebook=codebook,
        codings=tuple(codings),
        segments=segments,
        interviews=int(interviews),
        answers=tuple(load_answers(conn, territory.id)),
        source_counts=tuple((SourceKind(kind), int(n)) for kind, n in source_counts),
    )


class BatchedPseudonymizer:
    """Remembers each text's pseudonymised form; `prefetch` runs the entity recogniser on many
    texts in one batch (one call per verbatim would run spaCy once per verbatim)."""

    def __init__(self, inner: Callable[[str], str]) -> None:
        self.inner = inner
        self.done: dict[str, str] = {}

    def prefetch(self, texts: Iterable[str]) -> None:
        todo = [t for t in dict.fromkeys(texts) if t not in self.done]
        apply_many = getattr(self.inner, "apply_many", None)
        results = apply_many(todo) if apply_many else [self.inner(t) for t in todo]
        self.done.update(zip(todo, results, strict=True))

    def __call__(self, text: str) -> str:
        if text not in self.done:
            self.done[text] = self.inner(text)
        return self.done[text]


def make_pseudonymizer(study: store.Study, *, keep_names: bool) -> BatchedPseudonymizer:
    """The study's pseudonymiser for verbatims (real names kept if asked, contacts never)."""
    return BatchedPseudonymizer(
        pseudonymizer_for(study, Policy.KEEP_NAMES if keep_names else Policy.VERBATIM)
    )


def names_to_hide(study: store.Study) -> list[str]:
    """Participants' real names and interviewers' names (kept out of the word clouds)."""
    people = store.list_participants(study.conn, with_real_names=True)
    names = {p.real_name for p in people if p.real_name}
    names |= {n.strip() for p in people for n in re.split(r"[|;,/]", p.interviewer) if n.strip()}
    return sorted(names)
