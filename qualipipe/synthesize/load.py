"""Read what a territory's synthesis needs from the study store, as typed records."""

from __future__ import annotations

import json
import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from qualipipe import store
from qualipipe.errors import StudyError
from qualipipe.ingest.answer_tables import TABLE_FORMAT
from qualipipe.pseudonymize import Policy, Pseudonymizer, pseudonymizer_for
from qualipipe.records import Codebook, Participant, SourceKind, Territory
from qualipipe.synthesize.model import AnswerSheet, Coding, SegmentText, TerritoryData

SEGMENTS_SQL = """
SELECT s.id, s.source_id, s.text, src.participant_id, src.kind, src.instrument, src.question_code,
       COALESCE(src.territory_id, p.territory_id) AS territory_id
FROM segments s
JOIN sources src ON src.id = s.source_id
LEFT JOIN participants p ON p.id = src.participant_id
WHERE s.retired = 0 AND s.is_interviewer = 0
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


def load_segments(conn: sqlite3.Connection) -> dict[str, dict[int, SegmentText]]:
    """Every interviewee segment of the study, by territory id, in source order."""
    by_territory: dict[str, dict[int, SegmentText]] = defaultdict(dict)
    for r in conn.execute(SEGMENTS_SQL):
        by_territory[r["territory_id"] or ""][r["id"]] = store.record_from_row(SegmentText, r)
    return by_territory


@dataclass(frozen=True)
class StudyCodings:
    """The study's current coding, read once and indexed by segment: analysts' decisions (latest
    per segment and code, redirects followed) and the best suggestion score per (segment, code)
    nobody decided on (none when read with `validated_only`)."""

    validated: dict[int, list[str]]  # segment -> applied codes
    suggested: dict[int, dict[str, float]]  # segment -> code -> best score

    @classmethod
    def read(cls, conn: sqlite3.Connection, *, validated_only: bool) -> StudyCodings:
        decided = store.current_coding(conn)
        validated: dict[int, list[str]] = defaultdict(list)
        for (segment_id, code_id), applied in sorted(decided.items()):
            if applied:
                validated[segment_id].append(code_id)
        suggested: dict[int, dict[str, float]] = defaultdict(dict)
        if not validated_only:
            redirects = store.code_redirect_map(conn)
            for segment_id, code_id, score in conn.execute(
                "SELECT segment_id, code_id, score FROM suggestions"
            ):
                code = redirects.get(code_id, code_id)
                if (segment_id, code) in decided:
                    continue
                best = suggested[segment_id]
                if best.get(code, float("-inf")) < score:
                    best[code] = float(score)
        return cls(dict(validated), dict(suggested))

    def for_segments(self, segments: dict[int, SegmentText], codable_ids: set[str]) -> list[Coding]:
        """Validated codings of these segments, then suggested-only ones, by segment and code."""
        ids = sorted(segments)
        codings = [
            Coding(i, code, segments[i].participant_id, validated=True)
            for i in ids
            for code in self.validated.get(i, ())
            if code in codable_ids
        ]
        codings.extend(
            Coding(i, code, segments[i].participant_id, False, score)
            for i in ids
            for code, score in sorted(self.suggested.get(i, {}).items())
            if code in codable_ids
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


@dataclass
class StudySnapshot:
    """What every territory's synthesis needs, read from the store once for the whole study;
    `territory()` then cuts one territory's `TerritoryData` out of it without touching SQL
    beyond that territory's survey answers."""

    study: store.Study
    codebook: Codebook
    participants: dict[str, tuple[Participant, ...]]  # territory id -> participants
    segments: dict[str, dict[int, SegmentText]]  # territory id -> segments
    codings: StudyCodings
    interviews: dict[str, int]  # territory id -> transcript sources
    # territory id -> (kind, count) of its sources other than survey answers (wording by kind)
    source_counts: dict[str, tuple[tuple[SourceKind, int], ...]]

    @classmethod
    def read(cls, study: store.Study, *, validated_only: bool) -> StudySnapshot:
        conn = study.conn
        codebook = require_codebook(conn)
        participants: dict[str, list[Participant]] = defaultdict(list)
        for p in store.list_participants(conn, with_real_names=True):
            participants[p.territory_id].append(p)
        interviews = {
            r[0]: int(r[1])
            for r in conn.execute(
                """SELECT COALESCE(src.territory_id, p.territory_id), count(*) FROM sources src
                   LEFT JOIN participants p ON p.id = src.participant_id
                   WHERE src.kind = ? GROUP BY 1""",
                (SourceKind.TRANSCRIPT.value,),
            )
        }
        counts: dict[str, list[tuple[SourceKind, int]]] = defaultdict(list)
        # A table of answers holds one text per question: its row (one respondent's form, one
        # meeting's report) is the document counted, not each answer.
        for territory_id, kind, n in conn.execute(
            """SELECT COALESCE(src.territory_id, p.territory_id), src.kind,
                      count(DISTINCT CASE WHEN src.format = ? AND src.participant_id IS NOT NULL
                                          THEN 'p:' || src.participant_id ELSE 's:' || src.id END)
               FROM sources src LEFT JOIN participants p ON p.id = src.participant_id
               WHERE src.kind != ? GROUP BY 1, 2 ORDER BY 1, 2""",
            (TABLE_FORMAT, SourceKind.SURVEY.value),
        ):
            counts[territory_id].append((SourceKind(kind), int(n)))
        return cls(
            study,
            codebook,
            {t: tuple(ps) for t, ps in participants.items()},
            load_segments(conn),
            StudyCodings.read(conn, validated_only=validated_only),
            interviews,
            {t: tuple(kinds) for t, kinds in counts.items()},
        )

    def territory(self, territory: Territory) -> TerritoryData:
        segments = self.segments.get(territory.id, {})
        codable = {c.id for c in self.codebook.codable()}
        return TerritoryData(
            study_name=self.study.config.name,
            territory=territory,
            participants=self.participants.get(territory.id, ()),
            analysed_ids=frozenset(s.participant_id for s in segments.values() if s.participant_id),
            codebook=self.codebook,
            codings=tuple(self.codings.for_segments(segments, codable)),
            segments=segments,
            interviews=self.interviews.get(territory.id, 0),
            answers=tuple(load_answers(self.study.conn, territory.id)),
            source_counts=self.source_counts.get(territory.id, ()),
        )


def load_territory(
    study: store.Study, territory: Territory, *, validated_only: bool
) -> TerritoryData:
    """One territory's data (reads the whole study: use `StudySnapshot` for several)."""
    return StudySnapshot.read(study, validated_only=validated_only).territory(territory)


class BatchedPseudonymizer:
    """Remembers each text's pseudonymised form; `prefetch` pseudonymises many texts in one
    batch (the person spans `code` kept in the study read in one query, spaCy's recogniser run
    once on the texts it never read rather than once per verbatim)."""

    def __init__(self, inner: Pseudonymizer) -> None:
        self.inner = inner
        self.done: dict[str, str] = {}

    def prefetch(self, texts: Iterable[str]) -> None:
        """Pseudonymise the texts not seen yet, in one batch."""
        todo = [t for t in dict.fromkeys(texts) if t not in self.done]
        self.done.update(zip(todo, self.inner.apply_many(todo), strict=True))

    def __call__(self, text: str) -> str:
        if text not in self.done:
            self.prefetch([text])
        return self.done[text]


def make_pseudonymizer(study: store.Study, *, keep_names: bool) -> BatchedPseudonymizer:
    """The study's pseudonymiser for verbatims (real names kept if asked, contacts never),
    reading the person spans `code` kept in the study: it is used in the main process only."""
    policy = Policy.KEEP_NAMES if keep_names else Policy.VERBATIM
    return BatchedPseudonymizer(pseudonymizer_for(study, policy, cached_entities=True))


def names_to_hide(study: store.Study) -> list[str]:
    """Participants' real names and interviewers' names (kept out of the word clouds)."""
    people = store.list_participants(study.conn, with_real_names=True)
    names = {p.real_name for p in people if p.real_name}
    names |= {n.strip() for p in people for n in re.split(r"[|;,/]", p.interviewer) if n.strip()}
    return sorted(names)
