"""`qualipipe status`: the per-territory figures are the study's real counts."""

from __future__ import annotations

import json

from qualipipe import store
from qualipipe.records import Action, Decision, Participant, Role, Segment, Source, SourceKind
from qualipipe.status import territory_statuses


def test_status_counts_roles_sources_reviewed_share_and_response_rate(make_study) -> None:
    study = make_study()
    conn = study.conn
    with study.transaction():
        for pid, role in [("F1", Role.FOUNDER), ("F2", Role.FOUNDER), ("A1", Role.ACTOR)]:
            store.upsert_participant(
                conn, Participant(id=pid, territory_id="auxois", role=role, pseudonym=f"P {pid}")
            )
        text = "Enquêtrice : Et la mobilité ?\nSans voiture on ne trouve pas de travail. Le bus passe deux fois."
        source_id = store.insert_source(
            conn,
            Source(
                key="t1",
                kind=SourceKind.TRANSCRIPT,
                text=text,
                participant_id="F1",
                territory_id="auxois",
            ),
        )
        question_end = text.index("\n")
        second = text.index("Le bus")
        ids = store.insert_segments(
            conn,
            source_id,
            [
                Segment(start=0, end=question_end, text=text[:question_end], is_interviewer=True),
                Segment(
                    start=question_end + 1, end=second - 1, text=text[question_end + 1 : second - 1]
                ),
                Segment(start=second, end=len(text), text=text[second:]),
            ],
        )
        store.append_decision(
            conn, Decision(segment_id=ids[1], action=Action.ACCEPT, coder="C", code_id="X")
        )
        store.append_decision(
            conn, Decision(segment_id=ids[1], action=Action.REJECT, coder="C", code_id="Y")
        )
        conn.execute(
            "INSERT INTO survey_deployments VALUES ('priorisation_enjeux', 'auxois', 11, '', 'now')"
        )
        for pid, token in [("F1", "tokF1"), ("F2", "tokF2"), ("A1", "tokA1")]:
            conn.execute(
                "INSERT INTO survey_invitations (survey_id, participant_id, token) VALUES (11, ?, ?)",
                (pid, token),
            )
        for response_id, token, submitted in [(1, "tokF1", 1), (2, "tokA1", 0), (3, "", 1)]:
            conn.execute(
                "INSERT INTO survey_responses (survey_id, response_id, instrument, territory_id, token, submitted,"
                " data, data_hash, fetched_at) VALUES (11, ?, 'priorisation_enjeux', 'auxois', ?, ?, ?, 'h', 'now')",
                (response_id, token, submitted, json.dumps({})),
            )

    auxois, other = territory_statuses(study)
    assert (auxois.founders, auxois.actors, auxois.sources) == (2, 1, 1)
    assert auxois.segments == 2  # the interviewer's question is not counted
    assert auxois.reviewed_segments == 1 and auxois.reviewed_share == 0.5
    assert (auxois.invited, auxois.responses, auxois.responses_total) == (3, 1, 2)
    assert auxois.response_rate == 1 / 3
    assert (other.sources, other.segments, other.response_rate) == (0, 0, None)
