"""LimeSurvey cycle through citric against an in-process server that behaves like LimeSurvey 6.4.2.

The whole cycle runs through the real CLI (`qualipipe survey ...`), the real study SQLite file
and the real ingest stage; only the LimeSurvey server is the fake in `tests/fake_limesurvey.py`.
Every failure of issue 4 point 5 gets its own test: French message, bounded retries where
retrying is right, and a study left exactly as it was.
"""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from qualipipe.cli import main
from qualipipe.records import Participant, Role
from qualipipe.store import Study, upsert_participant
from qualipipe.surveys.client import (
    Credentials,
    LimeSurveyError,
    LimeSurveyServer,
    RetryPolicy,
    parse_csv_export,
    parse_json_export,
)
from qualipipe.surveys.instruments import load_instrument
from qualipipe.surveys.lss import read_lss
from qualipipe.surveys.operations import deploy, fetch, invite
from tests.fake_limesurvey import FakeLimeSurvey, add_response_by_code

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "mot-de-passe-secret"
# Generous enough that a loaded CI machine never times out a normal answer of the in-process fake.
FAST = RetryPolicy(attempts=3, timeout=1.0, backoff=0.0)


@pytest.fixture
def fake() -> Iterator[FakeLimeSurvey]:
    with FakeLimeSurvey(password=PASSWORD) as server:
        yield server


@pytest.fixture
def study(make_study: Any) -> Study:
    opened: Study = make_study()
    with opened.transaction() as conn:
        for p in (
            Participant("AUX-F1", "auxois", Role.FOUNDER, "Fondatrice 1 — Auxois", "Jeanne Martin"),
            Participant("AUX-F2", "auxois", Role.FOUNDER, "Fondateur 2 — Auxois", "Paul Bernard"),
            Participant("AUX-A1", "auxois", Role.ACTOR, "Acteur 1 — Auxois", "Lina Haddad"),
            Participant("AUX-A2", "auxois", Role.ACTOR, "Acteur 2 — Auxois", consent=False),
            Participant("BN-A1", "besancon-nord", Role.ACTOR, "Acteur 1 — Besançon Nord"),
        ):
            upsert_participant(conn, p)
    return opened


@pytest.fixture
def cli(
    fake: FakeLimeSurvey,
    study: Study,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    """Run `qualipipe …` in-process with the fake server's address in the environment."""
    monkeypatch.setenv("LIMESURVEY_URL", fake.base_url)
    monkeypatch.setenv("LIMESURVEY_USER", "admin")
    monkeypatch.setenv("LIMESURVEY_PASSWORD", PASSWORD)
    monkeypatch.setenv("LIMESURVEY_TIMEOUT", "2")
    monkeypatch.setenv("LIMESURVEY_BACKOFF", "0")
    monkeypatch.setenv("COLUMNS", "250")

    def run(*args: str) -> tuple[int, str, str]:
        with pytest.raises(SystemExit) as exited:
            main([*args, "--study", str(study.root)] if args[1] != "build" else list(args))
        captured = capsys.readouterr()
        assert "Traceback" not in captured.err + captured.out
        assert PASSWORD not in captured.err + captured.out
        return int(exited.value.code or 0), captured.out, captured.err

    return run


def snapshot(study: Study) -> dict[str, list[tuple[Any, ...]]]:
    tables = (
        "survey_deployments",
        "survey_invitations",
        "survey_responses",
        "sources",
        "segments",
        "participant_attributes",
    )
    return {
        t: [tuple(r) for r in study.conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2")]
        for t in tables
    }


def server_for(
    fake: FakeLimeSurvey, policy: RetryPolicy = FAST, password: str = PASSWORD
) -> LimeSurveyServer:
    return LimeSurveyServer(Credentials(fake.base_url, "admin", password), policy)


def deployed(study: Study, fake: FakeLimeSurvey, name: str = "priorisation_enjeux") -> int:
    with server_for(fake) as server:
        [deployment] = deploy(
            study, load_instrument(REPO / "surveys" / f"{name}.yaml"), server, ["auxois"]
        ).deployments
    return deployment.survey_id


# ---------------------------------------------------------------------------------------------
# The whole cycle
# ---------------------------------------------------------------------------------------------


def test_whole_cycle_build_deploy_invite_respond_fetch_twice_status(
    cli: Any, fake: FakeLimeSurvey, study: Study, tmp_path: Path
) -> None:
    # build
    lss = tmp_path / "priorisation.lss"
    code, out, _ = cli(
        "survey", "build", str(REPO / "surveys" / "priorisation_enjeux.yaml"), "--sortie", str(lss)
    )
    assert code == 0
    assert [q.code for q in read_lss(lss).questions] == [
        q.code for q in load_instrument(REPO / "surveys" / "priorisation_enjeux.yaml").questions
    ]

    # deploy: imported, titled for the territory, active, participant table created, recorded.
    code, out, err = cli("survey", "deploy", "priorisation_enjeux", "-t", "auxois")
    assert code == 0, err
    [(instrument, territory, sid)] = study.conn.execute(
        "SELECT instrument, territory_id, survey_id FROM survey_deployments"
    ).fetchall()
    assert (instrument, territory) == ("priorisation_enjeux", "auxois")
    survey = fake.surveys[sid]
    assert survey.title == "Atelier de priorisation des enjeux du territoire — Auxois"
    assert survey.active and survey.has_tokens
    assert f"n°{sid}" in out
    # Deploying again does not create a second survey.
    assert cli("survey", "deploy", "priorisation_enjeux", "-t", "auxois")[0] == 0
    assert len(fake.surveys) == 1

    # invite: every consenting participant of the territory, with role; no real name sent.
    emails = tmp_path / "courriels.csv"
    emails.write_text(
        "identifiant;courriel\nAUX-F1;f1@example.org\nAUX-A1;a1@example.org\n", encoding="utf-8"
    )
    fake.mail_works = True
    code, out, err = cli(
        "survey", "invite", "priorisation_enjeux", "-t", "auxois", "--courriels", str(emails)
    )
    assert code == 0, err
    remote = {p["attribute_2"]: p for p in survey.participants}
    assert set(remote) == {"AUX-F1", "AUX-F2", "AUX-A1"}  # AUX-A2 has no consent, BN-A1 elsewhere
    assert (
        remote["AUX-F1"]["attribute_1"] == "fondateur"
        and remote["AUX-A1"]["attribute_1"] == "acteur"
    )
    assert "Jeanne Martin" not in json.dumps(survey.participants, ensure_ascii=False)
    assert remote["AUX-F1"]["sent"] != "N" and remote["AUX-F2"]["sent"] == "N"
    invitations = {
        r["participant_id"]: r for r in study.conn.execute("SELECT * FROM survey_invitations")
    }
    assert invitations["AUX-F1"]["token"] == remote["AUX-F1"]["token"]
    assert invitations["AUX-F1"]["invited_at"] and invitations["AUX-F1"]["status"] == "invité"
    assert (
        invitations["AUX-F2"]["status"] == "sans courriel"
        and invitations["AUX-F2"]["invited_at"] is None
    )
    assert "sans consentement" in out
    assert not any((tmp_path / "etude").glob("*courriel*"))
    assert "f1@example.org" not in json.dumps(snapshot(study))

    # responses: one complete (free text + closed), one incomplete, one anonymous.
    with server_for(fake) as server:
        add_response_by_code(
            server.client,
            sid,
            {
                "P01": "MEMB",
                "P04[EMPLOI]": "5",
                "P04[MOBILITE]": "4",
                "P06[1]": "MOB",
                "P06[2]": "EMPL",
                "P07[MOBILITE]": "6",
                "P07[EMPLOI]": "4",
                "P09": "Créer une navette solidaire entre les bourgs.\r\nLa mutualiser avec l'ESAT 🚲.",
            },
            token=remote["AUX-F1"]["token"],
        )
        add_response_by_code(
            server.client,
            sid,
            {"P01": "ACTR", "P13": "La santé"},
            token=remote["AUX-A1"]["token"],
            submitdate="",
        )
        add_response_by_code(server.client, sid, {"P01": "COLL", "P15": "Bonne démarche."})

    # fetch: stored, linked to participants, free text → sources, closed → attributes.
    code, out, err = cli("survey", "fetch", "-t", "auxois")
    assert code == 0, err
    assert "3 nouvelle(s)" in out and "1 sans participant reconnu" in out
    rows = {r["response_id"]: r for r in study.conn.execute("SELECT * FROM survey_responses")}
    assert rows[1]["participant_id"] == "AUX-F1" and rows[1]["submitted"] == 1
    assert rows[2]["participant_id"] == "AUX-A1" and rows[2]["submitted"] == 0
    assert rows[3]["participant_id"] is None
    assert json.loads(rows[1]["data"])["P06[1]"] == "MOB"
    source = study.conn.execute(
        "SELECT * FROM sources WHERE instrument = 'priorisation_enjeux' AND question_code = 'P09'"
    ).fetchone()
    assert source["participant_id"] == "AUX-F1" and "navette solidaire" in source["text"]
    assert "TRANS_PISTES_ACTION" in json.loads(source["metadata"])["feeds"]
    attributes = dict(
        study.conn.execute(
            "SELECT question_code, value FROM participant_attributes WHERE participant_id = 'AUX-F1'"
        ).fetchall()
    )
    assert attributes["P04[EMPLOI]"] == "5" and attributes["P07[MOBILITE]"] == "6"

    # fetch again: nothing added, nothing changed.
    before = snapshot(study)
    code, out, _ = cli("survey", "fetch")
    assert code == 0 and "0 nouvelle(s), 0 mise(s) à jour, 3 inchangée(s)" in out
    assert snapshot(study)["survey_responses"] == before["survey_responses"]
    assert snapshot(study)["sources"] == before["sources"]

    # a response changed on the server is updated, not duplicated.
    with server_for(fake) as server:
        server.client.set_survey_properties(sid, alloweditaftercompletion="Y")
        fieldmap = server.client.get_fieldmap(sid)
        p09 = next(name for name, f in fieldmap.items() if f.get("title") == "P09")
        assert server.client.update_response(
            sid, {"id": 1, p09: "Une navette, et un garage solidaire."}
        )
    code, out, _ = cli("survey", "fetch")
    assert "0 nouvelle(s), 1 mise(s) à jour, 2 inchangée(s)" in out
    assert study.conn.execute("SELECT count(*) FROM survey_responses").fetchone()[0] == 3
    texts = [
        r["text"]
        for r in study.conn.execute("SELECT text FROM sources WHERE question_code = 'P09'")
    ]
    assert texts == ["Une navette, et un garage solidaire."]

    # status: counts and completion per participant (pseudonyms, never real names).
    code, out, _ = cli("survey", "status")
    assert code == 0
    assert "2 réponse(s) complète(s), 1 en cours" in out
    # RPC-added responses leave « completed = N » (as on 6.4.2): the responses tell.
    assert "1 complète(s), 1 en cours, 1 sans courriel" in out
    assert "Fondatrice 1 — Auxois" in out and "Jeanne Martin" not in out
    # remind: only the invited participant who has not completed (AUX-A1).
    code, out, _ = cli("survey", "remind", "priorisation_enjeux", "-t", "auxois")
    assert code == 0 and "1 relance(s) envoyée(s) : Acteur 1 — Auxois" in out
    assert remote["AUX-A1"]["remindercount"] == 1 and remote["AUX-F1"]["remindercount"] == 0


def test_an_email_given_later_is_used_without_registering_twice(
    fake: FakeLimeSurvey, study: Study
) -> None:
    sid = deployed(study, fake, "entretien_fondateurs")
    fake.mail_works = True
    with server_for(fake) as server:
        first = invite(study, "entretien_fondateurs", "auxois", server)
        assert {o.status for o in first.outcomes} == {"sans courriel"}
        second = invite(
            study, "entretien_fondateurs", "auxois", server, emails={"AUX-F2": "f2@example.org"}
        )
    statuses = {o.participant_id: o.status for o in second.outcomes}
    assert statuses == {"AUX-F1": "sans courriel", "AUX-F2": "invité"}
    assert len(fake.surveys[sid].participants) == 2
    tokens = {o.participant_id: o.token for o in first.outcomes}
    assert tokens == {o.participant_id: o.token for o in second.outcomes}  # same access codes


def test_founders_guide_invites_founders_only(fake: FakeLimeSurvey, study: Study) -> None:
    sid = deployed(study, fake, "entretien_fondateurs")
    with server_for(fake) as server:
        report = invite(study, "entretien_fondateurs", "auxois", server)
    assert {o.participant_id for o in report.outcomes} == {"AUX-F1", "AUX-F2"}
    assert {p["attribute_1"] for p in fake.surveys[sid].participants} == {"fondateur"}


# ---------------------------------------------------------------------------------------------
# Failures (issue 4, point 5)
# ---------------------------------------------------------------------------------------------


def test_wrong_credentials(
    cli: Any, fake: FakeLimeSurvey, study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMESURVEY_PASSWORD", "pas-le-bon")
    before = snapshot(study)
    code, _, err = cli("survey", "deploy", "priorisation_enjeux", "-t", "auxois")
    assert code == 1
    assert "refuse l'identifiant ou le mot de passe" in err and "LIMESURVEY_PASSWORD" in err
    assert "pas-le-bon" not in err
    assert fake.calls == ["get_session_key"]  # a refused password is not retried
    assert fake.surveys == {} and snapshot(study) == before


def test_missing_credentials_are_named(cli: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LIMESURVEY_PASSWORD")
    code, _, err = cli("survey", "status")
    assert code == 1 and "LIMESURVEY_PASSWORD" in err and "manquantes" in err


def test_unreachable_server_is_retried_then_explained(
    cli: Any, study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("LIMESURVEY_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("LIMESURVEY_ATTEMPTS", "2")
    before = snapshot(study)
    code, _, err = cli("survey", "fetch")
    assert code == 1
    assert "injoignable" in err and "après 2 tentatives" in err and "LIMESURVEY_URL" in err
    assert snapshot(study) == before


def test_rpc_interface_disabled(cli: Any, fake: FakeLimeSurvey) -> None:
    fake.rpc_enabled = False
    code, _, err = cli("survey", "status")
    assert code == 1 and "JSON-RPC" in err and "Paramètres globaux" in err


def test_timeout_is_retried_and_then_succeeds(fake: FakeLimeSurvey, study: Study) -> None:
    sid = deployed(study, fake)
    with server_for(fake) as server:
        add_response_by_code(server.client, sid, {"P01": "MEMB"})
        fake.stall("export_responses", times=1, seconds=2.5)
        report = fetch(study, server)
    assert report.added == 1
    assert fake.calls.count("export_responses") == 2


def test_timeout_on_every_try_leaves_the_study_unchanged(
    fake: FakeLimeSurvey, study: Study
) -> None:
    sid = deployed(study, fake)
    with server_for(fake) as server:
        add_response_by_code(server.client, sid, {"P01": "MEMB"})
        before = snapshot(study)
        fake.stall("export_responses", times=3, seconds=2.5)
        with pytest.raises(LimeSurveyError, match=r"n'a pas répondu en 1 s .*3 tentatives"):
            fetch(study, server)
    assert snapshot(study) == before


def test_import_timeout_is_not_retried_and_leaves_nothing(
    fake: FakeLimeSurvey, study: Study
) -> None:
    fake.stall("import_survey", times=1, seconds=2.5)
    instrument = load_instrument(REPO / "surveys" / "priorisation_enjeux.yaml")
    with (
        server_for(fake) as server,
        pytest.raises(LimeSurveyError, match="n'a pas eu de réponse en 1 s .* à l'aveugle"),
    ):
        deploy(study, instrument, server, ["auxois"])
    assert fake.calls.count("import_survey") == 1  # retrying could import it twice
    assert snapshot(study)["survey_deployments"] == []


def test_failed_deploy_removes_the_surveys_it_created(fake: FakeLimeSurvey, study: Study) -> None:
    fake.stall("activate_tokens", times=3, seconds=2.5)
    with server_for(fake) as server, pytest.raises(LimeSurveyError, match="création de la table"):
        deploy(
            study,
            load_instrument(REPO / "surveys" / "priorisation_enjeux.yaml"),
            server,
            ["auxois"],
        )
    assert fake.surveys == {} and "delete_survey" in fake.calls
    assert snapshot(study)["survey_deployments"] == []


def test_expired_session_key_is_renewed(fake: FakeLimeSurvey, study: Study) -> None:
    sid = deployed(study, fake)
    with server_for(fake) as server:
        add_response_by_code(server.client, sid, {"P01": "MEMB"})
        logins = fake.calls.count("get_session_key")
        fake.expire_sessions()
        report = fetch(study, server)
    assert report.added == 1
    assert fake.calls.count("get_session_key") == logins + 1  # logged in again, once


def test_survey_deleted_on_the_server(cli: Any, fake: FakeLimeSurvey, study: Study) -> None:
    sid = deployed(study, fake)
    fake.delete_behind_the_back(sid)
    before = snapshot(study)
    for command in (
        ("survey", "fetch"),
        ("survey", "status"),
        ("survey", "invite", "priorisation_enjeux", "-t", "auxois"),
    ):
        code, _, err = cli(*command)
        assert code == 1
        assert f"n°{sid}" in err and "n'existe plus" in err and "--remplacer" in err
    code, _, err = cli("survey", "deploy", "priorisation_enjeux", "-t", "auxois")
    assert code == 1 and "n'existe plus" in err
    assert snapshot(study) == before
    code, out, err = cli("survey", "deploy", "priorisation_enjeux", "-t", "auxois", "--remplacer")
    assert code == 0, err
    [new_sid] = fake.surveys
    assert study.conn.execute("SELECT survey_id FROM survey_deployments").fetchone()[0] == new_sid


def test_export_with_zero_responses(cli: Any, fake: FakeLimeSurvey, study: Study) -> None:
    sid = deployed(study, fake)
    before = snapshot(study)
    code, out, err = cli("survey", "fetch")
    assert code == 0, err
    assert f"(n°{sid}) : aucune réponse pour l'instant" in out and "0 nouvelle(s)" in out
    assert snapshot(study) == before


def test_invitations_failing_inside_a_successful_answer(
    cli: Any, fake: FakeLimeSurvey, study: Study, tmp_path: Path
) -> None:
    sid = deployed(study, fake)
    emails = tmp_path / "courriels.csv"
    emails.write_text(
        "identifiant,courriel\nAUX-F1,f1@example.org\nAUX-A1,a1@example.org\n", encoding="utf-8"
    )
    # Like the recorded server: no mail transport, "0 left to send" although every send failed.
    code, out, err = cli(
        "survey", "invite", "priorisation_enjeux", "-t", "auxois", "--courriels", str(emails)
    )
    assert code == 1
    assert "2 invitation(s) sur 3 n'ont pas pu être envoyées" in err
    # LimeSurvey's English mail error is said in French, with where to fix it.
    assert "aucun serveur de messagerie" in err and "Could not instantiate" not in err + out
    assert "liens_priorisation_enjeux_auxois.xlsx" in err
    rows = {r["participant_id"]: r for r in study.conn.execute("SELECT * FROM survey_invitations")}
    assert rows["AUX-F1"]["status"].startswith("échec") and rows["AUX-F1"]["invited_at"] is None
    assert "échec" in out
    # Once mail works, only the failed ones are sent, and nobody is added twice.
    fake.mail_works = True
    code, out, err = cli(
        "survey", "invite", "priorisation_enjeux", "-t", "auxois", "--courriels", str(emails)
    )
    assert code == 0, err
    assert len(fake.surveys[sid].participants) == 3
    rows = {r["participant_id"]: r for r in study.conn.execute("SELECT * FROM survey_invitations")}
    assert rows["AUX-F1"]["status"] == "invité" and rows["AUX-F1"]["invited_at"]


def test_remind_with_nobody_to_remind(cli: Any, fake: FakeLimeSurvey, study: Study) -> None:
    deployed(study, fake)
    code, out, _ = cli("survey", "remind", "priorisation_enjeux", "-t", "auxois")
    assert code == 0 and "Personne à relancer" in out


def test_commands_before_deploy_say_what_to_do(cli: Any) -> None:
    code, _, err = cli("survey", "invite", "priorisation_enjeux", "-t", "auxois")
    assert code == 1 and "qualipipe survey deploy priorisation_enjeux -t auxois" in err


# ---------------------------------------------------------------------------------------------
# The fake speaks like the recorded LimeSurvey 6.4.2
# ---------------------------------------------------------------------------------------------


def post(
    fake: FakeLimeSurvey, body: bytes, content_type: str = "application/json"
) -> requests.Response:
    return requests.post(fake.url, data=body, headers={"content-type": content_type}, timeout=5)


def recorded(name: str) -> dict[str, Any]:
    from tests.conftest import require_shared

    path = require_shared("fixtures", "limesurvey", f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


def test_fake_protocol_quirks_match_the_recordings(fake: FakeLimeSurvey) -> None:
    key = post(
        fake,
        json.dumps(
            {"method": "get_session_key", "params": ["admin", PASSWORD, "Authdb"], "id": 7}
        ).encode(),
    ).json()["result"]
    checks = {
        "protocol__unknown_method": (
            json.dumps({"method": "no_such_method", "params": [key], "id": 1}),
            "application/json",
        ),
        "protocol__malformed_json": ("{not json", "application/json"),
        "protocol__notification_no_id": (
            json.dumps({"method": "list_surveys", "params": [key]}),
            "application/json",
        ),
        "protocol__wrong_content_type": (
            json.dumps({"method": "list_surveys", "params": [key], "id": 2}),
            "text/plain",
        ),
        "list_surveys__invalid_session_key": (
            json.dumps({"method": "list_surveys", "params": ["x" * 32, None, None], "id": 3}),
            "application/json",
        ),
    }
    for name, (body, content_type) in checks.items():
        exchange = recorded(name)["exchanges"][-1]
        answer = post(fake, body.encode(), content_type)
        assert answer.status_code == exchange["http_status"], name
        expected_type = {k.lower(): v for k, v in exchange["response_headers"].items()}.get(
            "content-type", ""
        )
        assert answer.headers["Content-Type"].split(";")[0] == expected_type.split(";")[0], name
        if exchange["response"] is not None:
            mine, theirs = answer.json(), exchange["response"]
            assert set(mine) == set(theirs) and "jsonrpc" not in mine, name
            assert mine["error"] == theirs["error"], name
            if isinstance(theirs["result"], dict):
                assert mine["result"] == theirs["result"], name
        elif exchange["http_status"] == 200:
            assert answer.text == "", name


def test_fake_status_errors_use_the_recorded_wording(fake: FakeLimeSurvey) -> None:
    import citric
    from citric.exceptions import LimeSurveyStatusError

    # A wrong password: the fake answers on the wire, and citric raises, as the server did.
    wrong_password = recorded("get_session_key__wrong_password")
    exchange = wrong_password["exchanges"][-1]
    answer = post(
        fake,
        json.dumps(
            {"method": "get_session_key", "params": ["admin", "non", "Authdb"], "id": 5}
        ).encode(),
    )
    assert answer.status_code == exchange["http_status"]
    assert answer.json() == {**exchange["response"], "id": 5}
    with pytest.raises(LimeSurveyStatusError) as refused:
        citric.Client(fake.url, "admin", "non")
    assert str(refused.value) == wrong_password["citric_outcome"]["raised"]["message"]
    with pytest.raises(LimeSurveyError):
        _ = server_for(fake, password="non").client  # qualipipe wraps it in French
    fake.clear_failed_logins()  # three refusals: the server now locks every login
    with server_for(fake) as server:
        client = server.client
        for name, call in (
            ("get_survey_properties__unknown_survey", lambda: client.get_survey_properties(999999)),
            ("get_summary__unknown_survey", lambda: client.get_summary(999999)),
            ("export_responses__unknown_survey", lambda: client.export_responses(999999)),
            ("delete_survey__unknown_survey", lambda: client.delete_survey(999999)),
            ("list_questions__unknown_survey", lambda: client.list_questions(999999)),
        ):
            with pytest.raises(LimeSurveyStatusError) as raised:
                call()
            assert str(raised.value) == recorded(name)["citric_outcome"]["raised"]["message"], name


def test_fake_shapes_match_the_recordings(fake: FakeLimeSurvey, study: Study) -> None:
    sid = deployed(study, fake)
    with server_for(fake) as server:
        client = server.client
        assert (
            client.get_summary(sid).keys()
            == recorded("get_summary")["citric_outcome"]["returned"].keys()
        )
        client.add_participants(
            sid, participant_data=[{"email": "x@example.org", "token": "jetonunique123"}]
        )
        raw = client.session.call("add_participants", sid, [{"token": "jetonunique123"}], False)
        theirs = recorded("add_participants__duplicate_token")["exchanges"][-1]["response"][
            "result"
        ][0]
        assert raw["result"][0]["errors"].keys() == theirs["errors"].keys()
        # Same wording as the server's, for our token.
        assert raw["result"][0]["errors"]["token"] == [
            message.replace(theirs["token"], "jetonunique123")
            for message in theirs["errors"]["token"]
        ]
        invited = client.session.call("invite_participants", sid, None, True)["result"]
        recorded_invite = recorded("invite_participants")["exchanges"][-1]["response"]["result"]
        assert invited["status"] == recorded_invite["status"] == "0 left to send"
        assert invited["1"].keys() == recorded_invite["1"].keys()
        assert invited["1"]["error"] == recorded_invite["1"]["error"]
        assert client.invite_participants(sid) == 0  # citric hides the failure, as recorded
        assert (
            client.session.call("remind_participants", sid)["result"]
            == recorded("remind_participants")["exchanges"][-1]["response"]["result"]
        )
        with pytest.raises(Exception) as crash:
            client.list_participants(sid, attributes=True)
        assert (
            type(crash.value).__name__
            == recorded("list_participants__conditions_attributes_true")["citric_outcome"][
                "raised"
            ]["type"].rsplit(".", 1)[-1]
        )


def test_fake_exports_like_limesurvey(fake: FakeLimeSurvey, study: Study) -> None:
    sid = deployed(study, fake)
    with server_for(fake) as server:
        client = server.client
        add_response_by_code(client, sid, {"P15": 'Texte « libre » ; "cité"\r\nfin 🚲'})
        json_export = client.export_responses(sid, file_format="json")
        csv_export = client.export_responses(sid, file_format="csv")
    assert json_export.startswith(b'{"responses": [{"id":1,')
    assert csv_export.startswith(b'\xef\xbb\xbf"id";"submitdate"') and csv_export.endswith(
        b"\r\n\r\n"
    )
    [row] = parse_json_export(json_export, sid)
    [csv_row] = parse_csv_export(csv_export)
    assert row["P15"] == 'Texte « libre » ; "cité"\r\nfin 🚲'
    assert csv_row["P15"] == 'Texte « libre » ; "cité"\nfin 🚲'  # CSV normalises CRLF in values
    assert row["id"] == 1 and row["lastpage"] == ""


def test_real_recorded_exports_are_parsed() -> None:
    from tests.conftest import require_shared

    folder = require_shared("fixtures", "limesurvey")
    raw = json.loads((folder / "export_responses__json_code_short.json").read_text("utf-8"))
    data = base64.b64decode(raw["exchanges"][-1]["response"]["result"])
    rows = parse_json_export(data, 424242)
    assert [r["id"] for r in rows] == [1, 2, 3, 4]
    assert (
        rows[1]["token"] == "PMPSv352Ng7D3vv"
        and rows[1]["ENJEU[other]"] == "Reconquête des friches industrielles"
    )
    csv_rows = parse_csv_export((folder / "responses_csv_code_short.csv").read_bytes())
    assert [r["id"] for r in csv_rows] == ["1", "2", "3", "4"]
    assert csv_rows[1]["PRIORITES[1]"] == "P1"
    assert "🚲" in csv_rows[0]["RECIT"]


def test_fake_summary_shapes_follow_the_survey_state(fake: FakeLimeSurvey) -> None:
    from qualipipe.surveys.lss import build_lss

    lss = build_lss(load_instrument(REPO / "surveys" / "evaluation_diagnostic.yaml"))
    with server_for(fake) as server:
        client = server.client
        sid = server.import_survey(lss, 424242)
        again = server.import_survey(lss, 424242)
        assert sid == 424242 and again != sid  # desired id taken: another one, silently
        assert client.get_summary(sid) is None  # inactive: [] on the wire
        client.activate_survey(sid)
        assert set(client.get_summary(sid)) == {
            "completed_responses",
            "incomplete_responses",
            "full_responses",
        }
        client.activate_tokens(sid)
        assert len(client.get_summary(sid)) == 9
        questions = client.list_questions(sid)
        assert any(q["parent_qid"] != 0 for q in questions)  # subquestions listed too
        assert all(q["question_theme_name"] is None for q in questions if q["parent_qid"] != 0)
