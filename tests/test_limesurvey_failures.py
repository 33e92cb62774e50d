# ruff: noqa: F811 - the fixtures imported from test_limesurvey are used as arguments
"""Issue 17 against the fake server: every failure is one French line without a secret (2, 3),
a cut deploy leaves neither orphan nor duplicate (5), and what an analyst used to LimeSurvey
expects (6). The same behaviours on the real server: tests/test_limesurvey_live.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests
from openpyxl import load_workbook

from qualipipe.store import Study
from qualipipe.surveys.client import StatusError, classify_status
from qualipipe.surveys.instruments import load_instrument
from qualipipe.surveys.lss import build_lss, read_marker
from qualipipe.surveys.operations import deploy, deploy_marker
from tests.fake_limesurvey import LOCKOUT, FakeLimeSurvey, _StatusError, add_response_by_code
from tests.test_limesurvey import (  # noqa: F401 - fixtures
    PASSWORD,
    REPO,
    cli,
    deployed,
    fake,
    server_for,
    snapshot,
    study,
)

PRIORISATION = REPO / "surveys" / "priorisation_enjeux.yaml"
# Real 6.4.2 traffic recorded for issue 17 (from ../shared/limesurvey/start.sh).
FIXTURES = REPO / "tests" / "fixtures" / "limesurvey"


def one_french_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("Erreur : ")
    assert not any(name in err for name in ("Traceback", "citric.", "requests.", 'File "'))
    return lines[0]


# ---------------------------------------------------------------------------------------------
# 2. Failures: one French line, study unchanged
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["127.0.0.1:8080", "enquetes.example.org", "ftp://serveur"])
def test_an_address_without_http_is_explained(
    cli: Any, fake: FakeLimeSurvey, study: Study, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("LIMESURVEY_URL", url)
    code, _, err = cli("survey", "deploy", "priorisation_enjeux", "-t", "auxois")
    assert code == 1
    assert "doit commencer par https://" in one_french_line(err)
    assert fake.calls == [] and snapshot(study)["survey_deployments"] == []


def test_three_wrong_passwords_lock_the_right_one_and_say_so(
    cli: Any, fake: FakeLimeSurvey, study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIMESURVEY_PASSWORD", "pas-le-bon")
    for _ in range(3):
        code, _, err = cli("survey", "status")
        assert code == 1 and "refuse l'identifiant ou le mot de passe" in one_french_line(err)
    assert fake.calls.count("get_session_key") == 3  # a refused login is never retried
    monkeypatch.setenv("LIMESURVEY_PASSWORD", PASSWORD)
    code, _, err = cli("survey", "status")
    line = one_french_line(err)
    assert code == 1 and "Attendez 10 minutes" in line and "administrateur LimeSurvey" in line
    assert "exceeded" not in line
    fake.clear_failed_logins()  # what the LimeSurvey administrator does
    assert cli("survey", "status")[0] == 0


def test_a_reply_with_another_id_is_explained(cli: Any, fake: FakeLimeSurvey) -> None:
    fake.mismatch_ids = True
    code, _, err = cli("survey", "status")
    assert code == 1 and "ne correspond pas à la requête" in one_french_line(err)


def test_any_other_refusal_is_one_french_line(
    cli: Any, fake: FakeLimeSurvey, study: Study, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployed(study, fake)

    def refuse(*args: Any) -> Any:
        raise _StatusError("Error: database is read-only")

    monkeypatch.setattr(fake, "rpc_get_summary", refuse)
    code, _, err = cli("survey", "status")
    line = one_french_line(err)
    assert code == 1 and "LimeSurvey a refusé « bilan des réponses »" in line
    assert "database is read-only" in line and "L'étude n'a pas été modifiée" in line


def test_status_texts_are_classified_once_into_types() -> None:
    assert type(classify_status("connexion", LOCKOUT)).__name__ == "LoginLockedError"
    assert type(classify_status("x", "Invalid surveyid")).__name__ == "SurveyMissingError"
    assert type(classify_status("x", "No permission")).__name__ == "SurveyMissingError"
    assert type(classify_status("x", "No Data, could not get max id.")).__name__ == (
        "NoResponsesError"
    )
    assert type(classify_status("x", "Quelque chose d'autre")) is StatusError


# ---------------------------------------------------------------------------------------------
# 3. No secret in any output
# ---------------------------------------------------------------------------------------------


def test_a_server_echoing_the_request_never_prints_the_password(
    cli: Any, fake: FakeLimeSurvey
) -> None:
    fake.echo_errors = True
    code, out, err = cli("survey", "status")  # `cli` also checks PASSWORD is nowhere
    line = one_french_line(err)
    assert code == 1 and "get_session_key" in line and "***" in line
    assert PASSWORD not in out + err


def test_scrub_removes_the_password_in_every_form(fake: FakeLimeSurvey) -> None:
    server = server_for(fake, password='p"a/s\\é')
    echoed = 'params: ["admin", "p\\"a\\/s\\\\\\u00e9"] / p"a/s\\é / p\\"a/s\\\\é'
    assert server.scrub(echoed).count("***") == 2 and "é" not in server.scrub(echoed)[-3:]


# ---------------------------------------------------------------------------------------------
# 5. A cut deploy leaves neither orphan nor duplicate
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("half", [True, False], ids=["mi-import", "apres-import"])
def test_a_deploy_cut_during_the_import_is_cleaned_by_the_next_one(
    cli: Any, fake: FakeLimeSurvey, study: Study, half: bool
) -> None:
    fake.cut("import_survey", half=half)
    code, _, err = cli("survey", "deploy", "priorisation_enjeux", "-t", "auxois")
    assert code == 1 and "à l'aveugle" in one_french_line(err)
    assert fake.calls.count("import_survey") == 1  # never sent twice
    [left] = fake.surveys  # what the server kept: an inactive survey nobody knows about
    assert not fake.surveys[left].active
    assert snapshot(study)["survey_deployments"] == []
    code, out, _ = cli("survey", "deploy", "priorisation_enjeux", "-t", "auxois")
    assert code == 0 and f"n°{left} laissé incomplet" in out
    [(sid,)] = study.conn.execute("SELECT survey_id FROM survey_deployments").fetchall()
    assert list(fake.surveys) == [sid] and fake.surveys[sid].active
    assert len(fake.surveys[sid].fields) > 20  # the complete survey, not the half one


def test_only_this_studys_own_leftovers_are_removed(fake: FakeLimeSurvey, study: Study) -> None:
    instrument = load_instrument(PRIORISATION)
    with server_for(fake) as server:
        other_study = server.import_survey(
            build_lss(instrument, marker="qualipipe:Autre étude:priorisation_enjeux:auxois"), None
        )
        by_hand = server.import_survey(build_lss(instrument), None)
        other_territory = server.import_survey(
            build_lss(instrument, marker=deploy_marker(study, instrument.name, "besancon-nord")),
            None,
        )
        report = deploy(study, instrument, server, ["auxois"])
    assert report.removed_leftovers == []
    assert {other_study, by_hand, other_territory} < set(fake.surveys)


def test_a_deploy_failing_on_the_second_territory_removes_the_first(
    fake: FakeLimeSurvey, study: Study
) -> None:
    instrument = load_instrument(PRIORISATION)
    real_import = fake.rpc_import_survey
    imports = []

    def import_then_crash(*args: Any) -> Any:
        imports.append(args)
        if len(imports) == 2:
            raise _StatusError("Error: disk full")
        return real_import(*args)

    fake.rpc_import_survey = import_then_crash  # type: ignore[method-assign]
    with server_for(fake) as server, pytest.raises(StatusError, match="disk full"):
        deploy(study, instrument, server, ["auxois", "besancon-nord"])
    assert fake.surveys == {} and snapshot(study)["survey_deployments"] == []


# ---------------------------------------------------------------------------------------------
# 6. What an analyst used to LimeSurvey expects
# ---------------------------------------------------------------------------------------------


def test_invite_writes_every_participants_personal_link(
    cli: Any, fake: FakeLimeSurvey, study: Study, tmp_path: Path
) -> None:
    sid = deployed(study, fake)
    emails = tmp_path / "courriels.csv"
    emails.write_text("identifiant;courriel\nAUX-F1;f1@example.org\n", encoding="utf-8")
    fake.mail_works = True
    code, out, _ = cli(
        "survey", "invite", "priorisation_enjeux", "-t", "auxois", "--courriels", str(emails)
    )
    assert code == 0 and "liens_priorisation_enjeux_auxois.xlsx" in out
    path = study.root / "invitations" / "liens_priorisation_enjeux_auxois.xlsx"
    rows = list(load_workbook(path).active.iter_rows(values_only=True))
    assert rows[0] == ("Participant", "Identifiant", "Code d'accès", "Lien personnel", "Invitation")
    by_id = {r[1]: r for r in rows[1:]}
    tokens = {p["attribute_2"]: p["token"] for p in fake.surveys[sid].participants}
    assert set(by_id) == set(tokens) == {"AUX-F1", "AUX-F2", "AUX-A1"}
    for participant_id, row in by_id.items():
        token = tokens[participant_id]
        assert row[2] == token
        assert row[3] == f"{fake.base_url}/index.php/{sid}?token={token}&lang=fr"
    assert by_id["AUX-F1"][4] == "invité" and by_id["AUX-F2"][4] == "sans courriel"
    text = repr(rows)
    assert "Jeanne Martin" not in text and "f1@example.org" not in text  # no name, no address


def test_status_tells_invited_failed_no_email_in_progress_and_complete(
    cli: Any, fake: FakeLimeSurvey, study: Study, tmp_path: Path
) -> None:
    sid = deployed(study, fake)
    emails = tmp_path / "courriels.csv"
    emails.write_text(
        "identifiant;courriel\nAUX-F1;f1@example.org\nAUX-A1;a1@example.org\n", encoding="utf-8"
    )
    fake.mail_works = True
    fake.failing_emails = {"a1@example.org"}
    cli("survey", "invite", "priorisation_enjeux", "-t", "auxois", "--courriels", str(emails))
    remote = {p["attribute_2"]: p for p in fake.surveys[sid].participants}
    code, out, _ = cli("survey", "status")
    assert "1 invité(s) par courriel, 1 courriel en échec, 1 sans courriel" in out
    with server_for(fake) as server:
        add_response_by_code(
            server.client, sid, {"P01": "MEMB"}, token=remote["AUX-F2"]["token"], submitdate=""
        )
    fake.complete_on_the_web(sid, remote["AUX-F1"]["token"])
    code, out, _ = cli("survey", "status")
    assert code == 0
    assert "1 complète(s), 1 en cours, 1 courriel en échec" in out
    states = {
        line.split("│")[1].strip(): line.split("│")[2].strip()
        for line in out.splitlines()
        if line.count("│") >= 3 and "Auxois" in line
    }
    assert states == {
        "Fondatrice 1 — Auxois": "complète",
        "Fondateur 2 — Auxois": "en cours",
        "Acteur 1 — Auxois": "courriel en échec",
    }


def test_second_deploy_says_nothing_was_recorded(cli: Any, fake: FakeLimeSurvey) -> None:
    assert cli("survey", "deploy", "priorisation_enjeux", "-t", "auxois")[0] == 0
    code, out, _ = cli("survey", "deploy", "priorisation_enjeux", "-t", "auxois")
    assert code == 0 and "déjà déployé" in out
    assert "Déploiements enregistrés" not in out and "Rien de nouveau" in out


def test_an_unknown_survey_fails_before_logging_in(cli: Any, fake: FakeLimeSurvey) -> None:
    for command in (
        ("survey", "deploy", "priorisation", "-t", "auxois"),
        ("survey", "invite", "priorisation", "-t", "auxois"),
        ("survey", "status", "priorisation"),
    ):
        code, _, err = cli(*command)
        line = one_french_line(err)
        assert code == 1 and "Questionnaire « priorisation » inconnu" in line
        assert (
            "entretien_acteurs, entretien_fondateurs, evaluation_diagnostic, priorisation_enjeux"
            in line
        )
    assert fake.calls == []


def test_the_participant_table_is_described_on_the_server(
    fake: FakeLimeSurvey, study: Study
) -> None:
    sid = deployed(study, fake)
    with server_for(fake) as server:
        described = server.survey_properties(sid, ["attributedescriptions"])
    assert read_marker(described["attributedescriptions"]) == deploy_marker(
        study, "priorisation_enjeux", "auxois"
    )
    assert '"Rôle"' in described["attributedescriptions"]


def test_readme_registers_participants_before_inviting_them() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme.index("qualipipe ingest --manifest") < readme.index("qualipipe survey invite")


def test_the_fake_rebuilds_relevance_from_condition_rows_like_limesurvey(
    fake: FakeLimeSurvey,
) -> None:
    """What made E05 always shown: a .lss with condition rows (as qualipipe used to write)."""
    lss = (FIXTURES / "e05_with_condition_rows.lss").read_bytes()
    with server_for(fake) as server:
        sid = server.import_survey(lss, None)
        [e05] = [q for q in server.client.list_questions(sid) if q["title"] == "E05"]
    recorded = json.loads((FIXTURES / "import_survey__condition_rows.json").read_text("utf-8"))
    [real] = recorded["exchanges"][1]["response"]["result"]
    assert e05["relevance"] == real["relevance"]  # what the real 6.4.2 answered


def test_the_fake_leaves_participants_uncompleted_after_add_response_like_limesurvey(
    fake: FakeLimeSurvey, study: Study
) -> None:
    recorded = json.loads(
        (FIXTURES / "add_response__participant_stays_uncompleted.json").read_text("utf-8")
    )
    [real] = recorded["exchanges"][1]["response"]["result"]
    sid = deployed(study, fake)
    with server_for(fake) as server:
        [row] = server.add_participants(sid, [{"firstname": "", "lastname": "T1", "email": ""}])
        add_response_by_code(server.client, sid, {"P01": "MEMB"}, token=row["token"])
        [remote] = server.remote_participants(sid)
    assert remote.completed is (real["completed"] != "N") is False


def test_the_fake_locks_logins_like_limesurvey(fake: FakeLimeSurvey) -> None:
    recorded = json.loads((FIXTURES / "get_session_key__locked_out.json").read_text("utf-8"))
    for exchange in recorded["exchanges"]:
        request = dict(exchange["request"])
        username, password = request["params"]
        request["params"] = [username, PASSWORD if password == "<PASSWORD>" else password]
        answer = requests.post(fake.url, json=request, timeout=5)
        assert answer.json() == exchange["response"]
