"""The same LimeSurvey cycle against a real server; runs only when credentials are set.

    LIMESURVEY_URL=https://enquetes.example.org LIMESURVEY_USER=… LIMESURVEY_PASSWORD=… \\
        python -m pytest tests/test_limesurvey_live.py

No invitation email is sent (the participants are added without an address); the surveys the
test creates are deleted at the end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from qualipipe.records import Participant, Role
from qualipipe.store import upsert_participant
from qualipipe.surveys.instruments import load_instrument
from qualipipe.surveys.limesurvey import (
    LimeSurveyServer,
    credentials_from_env,
    deploy,
    fetch,
    invite,
    status,
)
from tests.fake_limesurvey import add_response_by_code

REPO = Path(__file__).resolve().parents[1]

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not all(
            os.environ.get(name)
            for name in ("LIMESURVEY_URL", "LIMESURVEY_USER", "LIMESURVEY_PASSWORD")
        ),
        reason="LIMESURVEY_URL / LIMESURVEY_USER / LIMESURVEY_PASSWORD non définis",
    ),
]


def test_live_cycle_deploy_invite_respond_fetch_twice_status(make_study: Any) -> None:
    study = make_study()
    with study.transaction() as conn:
        upsert_participant(conn, Participant("LIVE-F1", "auxois", Role.FOUNDER, "Fondatrice 1"))
        upsert_participant(conn, Participant("LIVE-A1", "auxois", Role.ACTOR, "Acteur 1"))
    instrument = load_instrument(REPO / "surveys" / "priorisation_enjeux.yaml")
    created: list[int] = []
    with LimeSurveyServer(credentials_from_env()) as server:
        try:
            [deployment] = deploy(study, instrument, server, ["auxois"])
            sid = deployment.survey_id
            created.append(sid)
            client = server.client
            # The server kept every code, type, option and condition of the .lss we sent.
            questions = client.list_questions(sid)
            assert {q["title"] for q in questions if int(q["parent_qid"]) == 0} == {
                q.code for q in instrument.questions
            }
            by_code = {q["title"]: q for q in questions if int(q["parent_qid"]) == 0}
            assert "P11" in by_code["P12"]["relevance"]  # the condition survived the import
            ranking = client.get_question_properties(
                int(by_code["P06"]["qid"]), settings=["answeroptions"]
            )
            assert list(ranking["answeroptions"]) == [
                o.code for o in instrument.question("P06").options
            ]
            report = invite(study, "priorisation_enjeux", "auxois", server)
            tokens = {o.participant_id: o.token for o in report.outcomes}
            assert set(tokens) == {"LIVE-F1", "LIVE-A1"}
            add_response_by_code(
                client,
                sid,
                {
                    "P01": "MEMB",
                    "P04[EMPLOI]": "5",
                    "P06[1]": "MOB",
                    "P09": "Une navette solidaire.",
                },
                token=tokens["LIVE-F1"],
            )
            add_response_by_code(
                client, sid, {"P01": "ACTR"}, token=tokens["LIVE-A1"], submitdate=""
            )
            first = fetch(study, server, instruments={instrument.name: instrument})
            assert (first.added, first.updated) == (2, 0)
            second = fetch(study, server, instruments={instrument.name: instrument})
            assert (second.added, second.updated, second.unchanged) == (0, 0, 2)
            client.set_survey_properties(sid, alloweditaftercompletion="Y")
            fieldmap = client.get_fieldmap(sid)
            p09 = next(name for name, f in fieldmap.items() if f.get("title") == "P09")
            client.update_response(sid, {"id": 1, p09: "Une navette et un garage solidaires."})
            third = fetch(study, server, instruments={instrument.name: instrument})
            assert (third.added, third.updated) == (0, 1)
            stored = study.conn.execute(
                "SELECT data FROM survey_responses WHERE survey_id = ? AND response_id = 1", (sid,)
            ).fetchone()
            assert json.loads(stored["data"])["P09"] == "Une navette et un garage solidaires."
            [state] = status(study, server)
            assert (state.completed, state.incomplete) == (1, 1)
            progress = {p.participant_id: p for p in state.participants}
            assert progress["LIVE-F1"].completed and not progress["LIVE-A1"].completed
        finally:
            for sid in created:
                server.delete_survey(sid)
