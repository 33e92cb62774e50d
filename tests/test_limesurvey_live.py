"""qualipipe against a real LimeSurvey server; runs only when credentials are set.

    bash ../shared/limesurvey/start.sh /tmp/limesurvey-8080 && source /tmp/limesurvey-8080/env.sh
    LIMESURVEY_WORK_DIR=/tmp/limesurvey-8080 python -m pytest tests/test_limesurvey_live.py

(`.ci/run` does exactly this when `../shared/limesurvey/` is there.) The tests that stop or
lock the server (`LIMESURVEY_WORK_DIR` set, the server started by `../shared/limesurvey/start.sh`)
come last and bring it back. No invitation e-mail is sent (participants have no address); the
surveys the tests create are deleted at the end.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qualipipe.records import Participant, Role
from qualipipe.store import upsert_participant
from qualipipe.surveys.client import (
    Credentials,
    LimeSurveyError,
    LimeSurveyServer,
    LoginLockedError,
    LoginRefusedError,
    RetryPolicy,
    credentials_from_env,
)
from qualipipe.surveys.instruments import Instrument, QuestionType, load_instrument
from qualipipe.surveys.lss import PARTICIPANT_ATTRIBUTES, build_lss, read_marker
from qualipipe.surveys.operations import (
    COMPLETE,
    PARTIAL,
    deploy,
    deploy_marker,
    fetch,
    invite,
    status,
)
from tests.conftest import SHARED_DIR
from tests.fake_limesurvey import add_response_by_code
from tests.limesurvey_respondent import Respondent, placed_questions

REPO = Path(__file__).resolve().parents[1]
INSTRUMENTS = (
    "entretien_fondateurs",
    "entretien_acteurs",
    "priorisation_enjeux",
    "evaluation_diagnostic",
)
WORK_DIR = os.environ.get("LIMESURVEY_WORK_DIR", "")
START = SHARED_DIR / "limesurvey" / "start.sh"

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
needs_control = pytest.mark.skipif(
    not (WORK_DIR and START.exists()),
    reason="LIMESURVEY_WORK_DIR non défini, ou ../shared/limesurvey/start.sh absent",
)


# The condition forms the shipped instruments do not use yet (AND, array rows).
FORMS = REPO / "tests" / "fixtures" / "limesurvey" / "conditions_formes.yaml"


def instrument(name: str) -> Instrument:
    if name == FORMS.stem:
        return load_instrument(FORMS)
    return load_instrument(REPO / "surveys" / f"{name}.yaml")


# ---------------------------------------------------------------------------------------------
# Conditions, as respondents see them
# ---------------------------------------------------------------------------------------------


def condition_cases() -> list[tuple[str, str, tuple[str, ...], bool]]:
    """(instrument, conditional question, answer given to its source, shown?) for every
    condition of the shipped instruments: each accepted answer alone shows the question, an
    answer outside the list hides it; for multiple choice also none ticked, and an accepted
    answer ticked together with another one."""
    cases = []
    for name in (*INSTRUMENTS, FORMS.stem):
        loaded = instrument(name)
        for question in loaded.questions:
            condition = question.condition
            if condition is None:
                continue
            source = loaded.question(condition.source)
            if source.type is QuestionType.MULTIPLE_CHOICE:
                valid = [s.code for s in source.subquestions]
            elif source.type is QuestionType.YES_NO:
                valid = ["Y", "N"]
            elif source.type in (QuestionType.FIVE_POINT, QuestionType.ARRAY_5):
                valid = ["1", "2", "3", "4", "5"]
            else:
                valid = [o.code for o in source.options]
            other = next(v for v in valid if v not in condition.answers)
            code = question.code
            if condition.all:  # every listed box ticked, and nothing less
                cases.append((name, code, condition.answers, True))
                cases.append((name, code, (other, *condition.answers), True))
                cases.extend((name, code, (answer,), False) for answer in condition.answers)
                cases.append((name, code, (), False))
                continue
            cases.extend((name, code, (answer,), True) for answer in condition.answers)
            cases.append((name, code, (other,), False))
            if source.type is QuestionType.MULTIPLE_CHOICE:
                cases.append((name, code, (), False))
                cases.append((name, code, (other, condition.answers[-1]), True))
    return cases


CASES = condition_cases()


@pytest.fixture(scope="module")
def live() -> Iterator[LimeSurveyServer]:
    with LimeSurveyServer(credentials_from_env()) as server:
        yield server


@pytest.fixture(scope="module")
def condition_surveys(live: LimeSurveyServer) -> Iterator[dict[str, int]]:
    """The instruments, imported as qualipipe deploys them, active with a participant table."""
    created: dict[str, int] = {}
    try:
        for name in (*INSTRUMENTS, FORMS.stem):
            lss = build_lss(instrument(name), title=f"Conditions {name}", marker="qualipipe:tests")
            created[name] = live.import_survey(lss, None)
            live.activate(created[name], PARTICIPANT_ATTRIBUTES)
        yield created
    finally:
        for sid in created.values():
            live.delete_survey(sid)


def test_every_condition_form_is_covered() -> None:
    forms = {(name, code) for name, code, _, _ in CASES}
    assert forms == {
        ("evaluation_diagnostic", "E05"),  # multiple choice, OR of two subquestions
        ("entretien_acteurs", "A12"),  # 5-point scale
        ("entretien_fondateurs", "F18"),  # yes/no
        ("priorisation_enjeux", "P12"),  # yes/no
        ("conditions_formes", "C04"),  # multiple choice, AND (same page)
        ("conditions_formes", "C05"),  # a row of a 5-point array (next page)
        ("conditions_formes", "C06"),  # a row of an array with answer options (next page)
    }


@pytest.mark.parametrize(
    ("name", "target", "given", "expected"),
    CASES,
    ids=[f"{c[1]}-{'+'.join(c[2]) or 'rien'}" for c in CASES],
)
def test_conditional_question_shows_as_the_instrument_says(
    live: LimeSurveyServer,
    condition_surveys: dict[str, int],
    name: str,
    target: str,
    given: tuple[str, ...],
    expected: bool,
) -> None:
    loaded = instrument(name)
    sid = condition_surveys[name]
    [row] = live.add_participants(
        sid, [{"firstname": "", "lastname": "T", "email": "", "attribute_2": "T"}]
    )
    placed = placed_questions(live.client, sid)
    respondent = Respondent(live.credentials.site, sid, str(row["token"]), loaded, placed)
    condition = loaded.question(target).condition
    assert condition is not None
    source = loaded.question(condition.source)
    sgqa = placed[source.code].sgqa
    respondent.start().go_to(source.code)
    page = respondent.group
    answers = respondent.required(page)
    for code in (o.code for o in source.subquestions):
        answers.pop(sgqa + code, None)  # only what the case gives
    if source.type is QuestionType.MULTIPLE_CHOICE:
        answers.update({sgqa + code: "Y" for code in given})
    else:
        answers[sgqa + condition.row] = given[0]
    if any(q.code == target for q in page.questions):
        # Same page: save the answers by leaving the page, and come back; the page is then
        # rendered with the relevance the server computes from the saved answers. (Leaving
        # forward from the last page would submit; leaving backward from the first one shows
        # the welcome page.)
        if page is loaded.groups[0]:
            respondent.move("movenext", answers)
            respondent.move("moveprev", {})
        else:
            respondent.move("moveprev", answers)
            respondent.move("movenext", respondent.required(respondent.group))
    else:
        respondent.move("movenext", answers).go_to(target)
    assert respondent.shown(target) is expected


# ---------------------------------------------------------------------------------------------
# The whole cycle
# ---------------------------------------------------------------------------------------------


def test_live_cycle_deploy_invite_respond_fetch_twice_status(
    make_study: Any, live: LimeSurveyServer
) -> None:
    study = make_study()
    with study.transaction() as conn:
        upsert_participant(conn, Participant("LIVE-F1", "auxois", Role.FOUNDER, "Fondatrice 1"))
        upsert_participant(conn, Participant("LIVE-A1", "auxois", Role.ACTOR, "Acteur 1"))
    loaded = instrument("priorisation_enjeux")
    server = live
    created: list[int] = []
    try:
        [deployment] = deploy(study, loaded, server, ["auxois"]).deployments
        sid = deployment.survey_id
        created.append(sid)
        client = server.client
        # The server kept every code, type, option and condition of the .lss we sent.
        questions = client.list_questions(sid)
        assert {q["title"] for q in questions if int(q["parent_qid"]) == 0} == {
            q.code for q in loaded.questions
        }
        by_code = {q["title"]: q for q in questions if int(q["parent_qid"]) == 0}
        assert by_code["P12"]["relevance"] == '((P11.NAOK == "Y"))'
        ranking = client.get_question_properties(
            int(by_code["P06"]["qid"]), settings=["answeroptions"]
        )
        assert list(ranking["answeroptions"]) == [o.code for o in loaded.question("P06").options]
        # The participant table's attributes are described, and the deploy marker kept.
        properties = server.survey_properties(sid, ["attributedescriptions"])
        described = json.loads(properties["attributedescriptions"])
        assert described["attribute_1"]["description"] == "Rôle"
        assert read_marker(properties["attributedescriptions"]) == deploy_marker(
            study, "priorisation_enjeux", "auxois"
        )
        report = invite(study, "priorisation_enjeux", "auxois", server)
        tokens = {o.participant_id: o.token for o in report.outcomes}
        assert set(tokens) == {"LIVE-F1", "LIVE-A1"}
        assert {o.status for o in report.outcomes} == {"sans courriel"}
        # The personal link opens the participant's survey in French.
        link = next(o.link for o in report.outcomes if o.participant_id == "LIVE-F1")
        opened = Respondent(server.credentials.site, sid, tokens["LIVE-F1"], loaded, {})
        opened._read(opened.session.get(link, timeout=60))
        assert opened.hidden["token"] == tokens["LIVE-F1"]
        add_response_by_code(
            client,
            sid,
            {"P01": "MEMB", "P04[EMPLOI]": "5", "P06[1]": "MOB", "P09": "Une navette solidaire."},
            token=tokens["LIVE-F1"],
        )
        add_response_by_code(client, sid, {"P01": "ACTR"}, token=tokens["LIVE-A1"], submitdate="")
        first = fetch(study, server, instruments={loaded.name: loaded})
        assert (first.added, first.updated) == (2, 0)
        second = fetch(study, server, instruments={loaded.name: loaded})
        assert (second.added, second.updated, second.unchanged) == (0, 0, 2)
        client.set_survey_properties(sid, alloweditaftercompletion="Y")
        fieldmap = client.get_fieldmap(sid)
        p09 = next(name for name, f in fieldmap.items() if f.get("title") == "P09")
        client.update_response(sid, {"id": 1, p09: "Une navette et un garage solidaires."})
        third = fetch(study, server, instruments={loaded.name: loaded})
        assert (third.added, third.updated) == (0, 1)
        stored = study.conn.execute(
            "SELECT data FROM survey_responses WHERE survey_id = ? AND response_id = 1", (sid,)
        ).fetchone()
        assert json.loads(stored["data"])["P09"] == "Une navette et un garage solidaires."
        # RPC add_response never marks the participant completed on a real server; status
        # reads the responses themselves: submitted → complete, not submitted → in progress.
        [state] = status(study, server)
        assert (state.completed, state.incomplete) == (1, 1)
        progress = {p.participant_id: p.state for p in state.participants}
        assert progress == {"LIVE-F1": COMPLETE, "LIVE-A1": PARTIAL}
    finally:
        for sid in created:
            server.delete_survey(sid)


# ---------------------------------------------------------------------------------------------
# Stopping and locking the server (last: they restart it)
# ---------------------------------------------------------------------------------------------


def restart_server() -> None:
    """`start.sh` brings a killed server back and empties LimeSurvey's failed-login table."""
    port = os.environ["LIMESURVEY_URL"].rstrip("/").rsplit(":", 1)[-1]
    subprocess.run(
        ["bash", str(START), WORK_DIR],
        env={**os.environ, "LS_PORT": port},
        check=True,
        capture_output=True,
        timeout=300,
    )


def kill_web_server() -> None:
    """SIGKILL the PHP server's whole process group, as a crash or a power cut would."""
    group = int((Path(WORK_DIR) / "php-server.pid").read_text().strip())
    os.killpg(group, signal.SIGKILL)


def marked(server: LimeSurveyServer, marker: str) -> list[int]:
    found = []
    for survey in server.surveys():
        properties = server.survey_properties(survey.sid, ["attributedescriptions"])
        if read_marker(properties.get("attributedescriptions")) == marker:
            found.append(survey.sid)
    return found


@needs_control
def test_deploy_cut_by_killing_the_server_then_again_gives_one_survey_per_territory(
    make_study: Any,
) -> None:
    study = make_study()
    loaded = instrument("entretien_fondateurs")
    server = LimeSurveyServer(
        credentials_from_env(), RetryPolicy(attempts=1, timeout=120.0, backoff=0.0)
    )
    sent = threading.Event()
    real_import = server.import_survey

    def import_and_signal(lss: bytes, desired_id: int | None) -> int:
        sent.set()
        return real_import(lss, desired_id)

    server.import_survey = import_and_signal  # type: ignore[method-assign]
    # How long one import takes here, to kill the next one half-way.
    started = time.monotonic()
    deploy(study, loaded, server, ["auxois"])
    duration = time.monotonic() - started
    sent.clear()

    def killer() -> None:
        sent.wait(60)
        time.sleep(duration * 0.4)
        kill_web_server()

    thread = threading.Thread(target=killer)
    thread.start()
    try:
        with pytest.raises(LimeSurveyError) as cut:
            deploy(study, loaded, server, ["besancon-nord"])
        assert "Traceback" not in str(cut.value)
    finally:
        thread.join()
        restart_server()
    server = LimeSurveyServer(credentials_from_env())
    try:
        marker = deploy_marker(study, loaded.name, "besancon-nord")
        left = marked(server, marker)  # what the cut import left (usually one half survey)
        report = deploy(study, loaded, server, ["besancon-nord"])
        [again] = report.deployments
        assert report.removed_leftovers == left
        assert marked(server, marker) == [again.survey_id]
        [first] = marked(server, deploy_marker(study, loaded.name, "auxois"))
        recorded = {
            r["territory_id"]: r["survey_id"]
            for r in study.conn.execute("SELECT territory_id, survey_id FROM survey_deployments")
        }
        assert recorded == {"auxois": first, "besancon-nord": again.survey_id}
    finally:
        for sid in {int(s) for s in recorded.values()} if "recorded" in locals() else ():
            server.delete_survey(sid)
        server.close()


@needs_control
def test_lockout_after_three_wrong_passwords_is_explained() -> None:
    right = credentials_from_env()
    wrong = Credentials(right.url, right.username, "mauvais-mot-de-passe")
    try:
        for _ in range(3):
            with pytest.raises(LoginRefusedError):
                LimeSurveyServer(wrong).client  # noqa: B018 - logs in
        with pytest.raises(LoginLockedError) as locked:
            LimeSurveyServer(right).client  # noqa: B018 - even the right password is refused
        message = str(locked.value)
        assert "10 minutes" in message and "administrateur" in message
        assert right.password not in message and "mauvais-mot-de-passe" not in message
    finally:
        restart_server()  # empties the failed-login table
    with LimeSurveyServer(right) as server:
        assert server.surveys() is not None
