"""Study-level LimeSurvey operations, one per command: deploy, invite, remind, status, fetch.

All server work comes first; the study is written only after the server calls succeeded, in one
transaction per command, so a failure leaves the study as it was.
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qualipipe import resolve
from qualipipe.errors import InputError, Problem, QualipipeError
from qualipipe.ingest import ingest_survey_responses
from qualipipe.ingest.reconcile import UNCHANGED
from qualipipe.ingest.survey_answers import is_fixed_column
from qualipipe.records import Participant, Role, SurveyResponse
from qualipipe.store import Study, list_participants, now_iso, text_hash, upsert_row
from qualipipe.surveys.client import (
    LimeSurveyError,
    LimeSurveyServer,
    MailOutcome,
    RemoteParticipant,
    SurveyMissingError,
)
from qualipipe.surveys.instruments import Instrument, load_instrument
from qualipipe.surveys.lss import PARTICIPANT_ATTRIBUTES, build_lss, read_marker, survey_id_for

ROLE_OF_INSTRUMENT = {"entretien_fondateurs": Role.FOUNDER, "entretien_acteurs": Role.ACTOR}

# Invitation states kept in survey_invitations.status (and shown by `survey status`).
INVITED, ALREADY_INVITED, NO_EMAIL, FAILED = "invité", "déjà invité", "sans courriel", "échec"


@dataclass(frozen=True)
class Deployment:
    """A survey deployed on LimeSurvey for one instrument and one territory."""

    instrument: str
    territory_id: str
    survey_id: int
    title: str = ""
    created: bool = False


def deployments(
    study: Study, *, instrument: str | None = None, territory: str | None = None
) -> list[Deployment]:
    sql = "SELECT instrument, territory_id, survey_id FROM survey_deployments WHERE 1=1"
    params: list[str] = []
    if instrument:
        sql += " AND instrument = ?"
        params.append(instrument)
    if territory:
        sql += " AND territory_id = ?"
        params.append(territory)
    rows = study.conn.execute(sql + " ORDER BY instrument, territory_id", params).fetchall()
    return [Deployment(r["instrument"], r["territory_id"], int(r["survey_id"])) for r in rows]


def _deployment(study: Study, instrument: str, territory_id: str) -> Deployment:
    found = deployments(study, instrument=instrument, territory=territory_id)
    if not found:
        raise LimeSurveyError(
            f"Le questionnaire « {instrument} » n'est pas encore déployé pour le territoire "
            f"« {territory_id} ». Lancez d'abord : qualipipe survey deploy {instrument} -t {territory_id}"
        )
    return found[0]


def _missing_message(deployment: Deployment) -> str:
    return (
        f"Le questionnaire n°{deployment.survey_id} (« {deployment.instrument} », territoire "
        f"« {deployment.territory_id} ») n'existe plus sur le serveur LimeSurvey (supprimé ?). "
        f"Redéployez-le avec : qualipipe survey deploy {deployment.instrument} -t "
        f"{deployment.territory_id} --remplacer. L'étude n'a pas été modifiée."
    )


@contextlib.contextmanager
def _survey_of(deployment: Deployment) -> Any:
    """Turn the server's « no such survey » into a message naming the deployment and the fix."""
    try:
        yield
    except SurveyMissingError:
        raise LimeSurveyError(_missing_message(deployment)) from None


# ---------------------------------------------------------------------------------------------
# deploy
# ---------------------------------------------------------------------------------------------


def deploy_marker(study: Study, instrument: str, territory_id: str) -> str:
    """What qualipipe writes into a survey it imports, to recognise it after an interruption."""
    return f"qualipipe:{study.config.name}:{instrument}:{territory_id}"


@dataclass
class DeployReport:
    deployments: list[Deployment] = field(default_factory=list)
    removed_leftovers: list[int] = field(default_factory=list)  # half-imported, deleted

    @property
    def created(self) -> list[Deployment]:
        return [d for d in self.deployments if d.created]


def deploy(
    study: Study,
    instrument: Instrument,
    server: LimeSurveyServer,
    territory_ids: Sequence[str],
    *,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> DeployReport:
    """Import, title, activate and open the participant table, once per territory.

    Every imported survey carries a marker (`deploy_marker`). Before importing, surveys with
    this study's marker that the study does not record — left by a deploy cut short (server
    stopped mid-import, connection lost) — are deleted, so a deploy never leaves an orphan nor
    a duplicate. If a territory fails, the surveys this call created are deleted too. The study
    records the deployments in one transaction at the end.
    """
    report = DeployReport()
    results: list[tuple[Deployment, str]] = []  # (deployment, hash of the .lss sent)
    created: list[int] = []
    recorded = {d.survey_id for d in deployments(study)}
    try:
        for territory_id in territory_ids:
            territory = study.config.territory(territory_id)
            existing = deployments(study, instrument=instrument.name, territory=territory.id)
            if existing and not replace:
                if not server.survey_exists(existing[0].survey_id):
                    raise LimeSurveyError(_missing_message(existing[0]))
                results.append((existing[0], ""))
            else:
                marker = deploy_marker(study, instrument.name, territory.id)
                title = survey_title(instrument, territory.name)
                report.removed_leftovers += _remove_leftovers(server, title, marker, recorded)
                results.append(_import_one(instrument, server, territory, marker, created))
            if progress:
                progress(territory_id)
    except BaseException:
        _undo_created(server, created)
        raise
    with study.transaction() as conn:
        for deployment, lss_hash in results:
            if deployment.created:
                row = {
                    "instrument": deployment.instrument,
                    "territory_id": deployment.territory_id,
                    "survey_id": deployment.survey_id,
                    "lss_hash": lss_hash,
                    "deployed_at": now_iso(),
                }
                upsert_row(conn, "survey_deployments", row, key=("instrument", "territory_id"))
    report.deployments = [deployment for deployment, _ in results]
    return report


def survey_title(instrument: Instrument, territory_name: str) -> str:
    return f"{instrument.title} — {territory_name}"


def _remove_leftovers(
    server: LimeSurveyServer, title: str, marker: str, recorded: set[int]
) -> list[int]:
    """Delete the surveys carrying `marker` that the study does not know (interrupted deploys).

    Only surveys with the deploy's title (or none yet: cut before LimeSurvey wrote it) are
    read, so a server with many surveys costs one call per candidate, not per survey.
    """
    removed = []
    for survey in server.surveys():
        if survey.sid in recorded or survey.title not in (title, ""):
            continue
        try:
            properties = server.survey_properties(survey.sid, ["attributedescriptions"])
        except SurveyMissingError:
            continue  # deleted meanwhile, or not visible to this account
        if read_marker(properties.get("attributedescriptions")) == marker:
            server.delete_survey(survey.sid)
            removed.append(survey.sid)
    return removed


def _import_one(
    instrument: Instrument,
    server: LimeSurveyServer,
    territory: Any,
    marker: str,
    created: list[int],
) -> tuple[Deployment, str]:
    title = survey_title(instrument, territory.name)
    lss = build_lss(instrument, title=title, marker=marker)
    survey_id = server.import_survey(lss, survey_id_for(instrument))
    created.append(survey_id)
    server.activate(survey_id, PARTICIPANT_ATTRIBUTES)
    deployment = Deployment(instrument.name, territory.id, survey_id, title=title, created=True)
    return deployment, text_hash(lss.decode("utf-8"))


def _undo_created(server: LimeSurveyServer, survey_ids: Iterable[int]) -> None:
    """A deploy that failed half-way removes the surveys it created, so nothing is orphaned."""
    for survey_id in survey_ids:
        with contextlib.suppress(QualipipeError):  # the original error is the one to show
            server.delete_survey(survey_id)


# ---------------------------------------------------------------------------------------------
# invite
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InvitationOutcome:
    participant_id: str
    pseudonym: str
    token: str
    status: str  # INVITED, ALREADY_INVITED, NO_EMAIL, FAILED
    error: str = ""
    link: str = ""  # the participant's personal survey address


@dataclass
class InviteReport:
    deployment: Deployment
    outcomes: list[InvitationOutcome] = field(default_factory=list)
    skipped_no_consent: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[InvitationOutcome]:
        return [o for o in self.outcomes if o.status == FAILED]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def participant_link(site: str, survey_id: int, token: str, language: str = "fr") -> str:
    """The personal address of a participant (what LimeSurvey's invitation mail contains)."""
    return f"{site}/index.php/{survey_id}?token={token}&lang={language}"


def read_emails(path: Path) -> dict[str, str]:
    """`identifiant;courriel` (or `,`) → {participant id: email}; kept in memory only."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(
            "Fichier des courriels illisible.",
            [Problem(str(path), f"{error} ; enregistrez-le en UTF-8.")],
        ) from None
    dialect = csv.Sniffer().sniff(text.splitlines()[0] if text else ";", delimiters=";,")
    rows = list(csv.reader(io.StringIO(text), dialect))
    if not rows:
        return {}
    header = [h.strip().lower() for h in rows[0]]
    if "identifiant" not in header or not ({"courriel", "email", "e-mail"} & set(header)):
        raise InputError(
            "Fichier des courriels sans les bonnes colonnes.",
            [
                Problem(
                    str(path),
                    "la première ligne doit contenir « identifiant » et « courriel ».",
                    line=1,
                )
            ],
        )
    id_col = header.index("identifiant")
    mail_col = next(header.index(h) for h in ("courriel", "email", "e-mail") if h in header)
    return {
        row[id_col].strip(): row[mail_col].strip()
        for row in rows[1:]
        if len(row) > max(id_col, mail_col) and row[id_col].strip()
    }


def _invitation_targets(
    study: Study, instrument: str, territory_id: str, report: InviteReport
) -> list[Participant]:
    role = ROLE_OF_INSTRUMENT.get(instrument)
    targets: list[Participant] = []
    for participant in list_participants(study.conn):
        if participant.territory_id != territory_id or (role and participant.role is not role):
            continue
        if not participant.consent:
            report.skipped_no_consent.append(participant.pseudonym)
            continue
        targets.append(participant)
    if not targets:
        raise LimeSurveyError(
            f"Aucun participant {'« ' + role.value + ' » ' if role else ''}avec consentement pour "
            f"le territoire « {territory_id} ». Chargez d'abord le fichier des participants "
            "(qualipipe ingest) ; rien n'a été envoyé."
        )
    return targets


def _register(
    server: LimeSurveyServer, survey_id: int, to_add: list[Participant], emails: dict[str, str]
) -> dict[str, RemoteParticipant]:
    """Add participants to the survey's table (no real name: the id stands as last name)."""
    added = server.add_participants(
        survey_id,
        [
            {
                "firstname": "",
                "lastname": p.id,
                "email": emails.get(p.id, ""),
                "attribute_1": p.role.value,
                "attribute_2": p.id,
                "attribute_3": p.territory_id,
            }
            for p in to_add
        ],
    )
    registered = {}
    for p, row in zip(to_add, added, strict=False):
        if row.get("errors"):
            raise LimeSurveyError(
                f"LimeSurvey a refusé le participant {p.id} : {row['errors']}. Rien n'a été envoyé."
            )
        registered[p.id] = RemoteParticipant(
            tid=int(row["tid"]),
            token=str(row["token"]),
            participant_id=p.id,
            sent=False,
            completed=False,
            email=str(row.get("email") or ""),
        )
    return registered


def _outcome(
    p: Participant, r: RemoteParticipant, sent: dict[int, MailOutcome], link: str
) -> InvitationOutcome:
    if r.sent:
        return InvitationOutcome(p.id, p.pseudonym, r.token, ALREADY_INVITED, link=link)
    if not r.email:
        return InvitationOutcome(p.id, p.pseudonym, r.token, NO_EMAIL, link=link)
    if r.tid in sent and sent[r.tid].ok:
        return InvitationOutcome(p.id, p.pseudonym, r.token, INVITED, link=link)
    error = sent[r.tid].error if r.tid in sent else "non envoyé par le serveur"
    return InvitationOutcome(p.id, p.pseudonym, r.token, FAILED, error, link=link)


def invite(
    study: Study,
    instrument: str,
    territory_id: str,
    server: LimeSurveyServer,
    *,
    emails: dict[str, str] | None = None,
) -> InviteReport:
    """Add the territory's participants (with their role) to the survey and send invitations.

    Idempotent: participants already in the LimeSurvey table are matched by their identifier
    (attribute_2) and never added twice; invitations already sent are not sent again.
    """
    territory = study.config.territory(territory_id)
    deployment = _deployment(study, instrument, territory.id)
    emails = emails or {}
    report = InviteReport(deployment)
    targets = _invitation_targets(study, instrument, territory.id, report)
    sid = deployment.survey_id
    with _survey_of(deployment):
        remote = {r.participant_id: r for r in server.remote_participants(sid)}
        to_add = [p for p in targets if p.id not in remote]
        if to_add:
            remote.update(_register(server, sid, to_add, emails))
        for p in targets:
            # An address given now for someone registered earlier without one.
            r = remote[p.id]
            if not r.sent and not r.email and emails.get(p.id):
                server.set_email(sid, r.tid, emails[p.id])
                remote[p.id] = replace(r, email=emails[p.id])
        pending = [
            remote[p.id].tid for p in targets if not remote[p.id].sent and remote[p.id].email
        ]
        sent = server.send(sid, pending, reminder=False) if pending else {}
    site = server.credentials.site
    now = now_iso()
    with study.transaction() as conn:
        for p in targets:
            r = remote[p.id]
            outcome = _outcome(p, r, sent, participant_link(site, sid, r.token))
            report.outcomes.append(outcome)
            conn.execute(
                """INSERT INTO survey_invitations (survey_id, participant_id, token, tid, invited_at, status)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(survey_id, participant_id) DO UPDATE SET token=excluded.token,
                     tid=excluded.tid, invited_at=COALESCE(survey_invitations.invited_at, excluded.invited_at),
                     status=excluded.status""",
                (
                    sid,
                    p.id,
                    r.token,
                    r.tid,
                    now if outcome.status == INVITED else None,
                    outcome.status if not outcome.error else f"{FAILED} : {outcome.error}",
                ),
            )
    return report


# ---------------------------------------------------------------------------------------------
# remind
# ---------------------------------------------------------------------------------------------


def _submitted_tokens(rows: list[dict[str, Any]]) -> set[str]:
    """Tokens with a submitted response: LimeSurvey marks a participant completed only when
    they submit through its pages, not for responses added through the API or imported."""
    return {
        str(row.get("token") or "")
        for row in rows
        if row.get("token") and str(row.get("submitdate") or "").strip()
    }


@dataclass
class RemindReport:
    deployment: Deployment
    reminded: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (pseudonym, error)


def remind(
    study: Study, instrument: str, territory_id: str, server: LimeSurveyServer
) -> RemindReport:
    """Remind invited participants who have not completed the survey yet."""
    deployment = _deployment(study, instrument, study.config.territory(territory_id).id)
    rows = study.conn.execute(
        """SELECT i.participant_id, i.tid, p.pseudonym FROM survey_invitations i
           JOIN participants p ON p.id = i.participant_id WHERE i.survey_id = ? AND i.tid IS NOT NULL""",
        (deployment.survey_id,),
    ).fetchall()
    with _survey_of(deployment):
        remote = {r.tid: r for r in server.remote_participants(deployment.survey_id)}
        submitted = _submitted_tokens(server.export_json(deployment.survey_id))
        candidates = {
            int(r["tid"]): r
            for r in rows
            if int(r["tid"]) in remote
            and remote[int(r["tid"])].sent
            and not remote[int(r["tid"])].completed
            and remote[int(r["tid"])].token not in submitted
        }
        report = RemindReport(deployment)
        if not candidates:
            return report
        outcomes = server.send(deployment.survey_id, sorted(candidates), reminder=True)
    now = now_iso()
    with study.transaction() as conn:
        for tid, outcome in outcomes.items():
            row = candidates.get(tid)
            if row is None:
                continue
            if outcome.ok:
                report.reminded.append(row["pseudonym"])
                conn.execute(
                    "UPDATE survey_invitations SET reminded_at = ? WHERE survey_id = ? AND participant_id = ?",
                    (now, deployment.survey_id, row["participant_id"]),
                )
            else:
                report.failed.append((row["pseudonym"], outcome.error))
    return report


# ---------------------------------------------------------------------------------------------
# status
# ---------------------------------------------------------------------------------------------

# What `survey status` says of each participant, from least to most advanced.
REGISTERED, MAIL_FAILED, PARTIAL, COMPLETE = "inscrit", "courriel en échec", "en cours", "complète"


@dataclass(frozen=True)
class ParticipantProgress:
    participant_id: str
    pseudonym: str
    state: str  # REGISTERED, NO_EMAIL, MAIL_FAILED, INVITED, PARTIAL, COMPLETE
    stored_responses: int

    @property
    def completed(self) -> bool:
        return self.state == COMPLETE


@dataclass
class SurveyStatus:
    deployment: Deployment
    completed: int = 0
    incomplete: int = 0
    invited: int = 0  # invitations LimeSurvey sent by e-mail
    participants: list[ParticipantProgress] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for p in self.participants if p.state == state)


def _participant_state(remote: RemoteParticipant, recorded: str, answers: set[bool]) -> str:
    """`answers`: for each response with this participant's token, whether it was submitted."""
    # RPC-added or imported responses never set the participant's « completed » flag: a
    # submitted response with the token counts as complete too.
    if remote.completed or True in answers:
        return COMPLETE
    if answers:
        return PARTIAL
    if remote.sent:
        return INVITED
    if recorded.startswith(FAILED):
        return MAIL_FAILED
    if not remote.email or recorded == NO_EMAIL:
        return NO_EMAIL
    return REGISTERED


def status(
    study: Study,
    server: LimeSurveyServer,
    *,
    instrument: str | None = None,
    territory: str | None = None,
) -> list[SurveyStatus]:
    """Response counts per deployment and where each participant stands (read only)."""
    statuses = []
    pseudonyms = {p.id: p.pseudonym for p in list_participants(study.conn)}
    for deployment in deployments(study, instrument=instrument, territory=territory):
        sid = deployment.survey_id
        with _survey_of(deployment):
            counts = server.summary(sid)
            remote = {r.participant_id: r for r in server.remote_participants(sid)}
            rows = server.export_json(sid)
        answers: dict[str, set[bool]] = {}
        for row in rows:
            token = str(row.get("token") or "")
            answers.setdefault(token, set()).add(bool(str(row.get("submitdate") or "").strip()))
        recorded = dict(
            study.conn.execute(
                "SELECT participant_id, status FROM survey_invitations WHERE survey_id = ?", (sid,)
            ).fetchall()
        )
        stored = dict(
            study.conn.execute(
                """SELECT participant_id, count(*) FROM survey_responses WHERE survey_id = ?
                   AND participant_id IS NOT NULL GROUP BY participant_id""",
                (sid,),
            ).fetchall()
        )
        state = SurveyStatus(
            deployment,
            completed=counts.get("completed_responses", 0),
            incomplete=counts.get("incomplete_responses", 0),
            invited=counts.get("token_sent", 0),
        )
        for participant_id, r in sorted(remote.items()):
            state.participants.append(
                ParticipantProgress(
                    participant_id,
                    pseudonyms.get(participant_id, participant_id),
                    _participant_state(
                        r, str(recorded.get(participant_id) or ""), answers.get(r.token, set())
                    ),
                    int(stored.get(participant_id, 0)),
                )
            )
        statuses.append(state)
    return statuses


# ---------------------------------------------------------------------------------------------
# fetch
# ---------------------------------------------------------------------------------------------


@dataclass
class FetchReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    unlinked: int = 0  # responses whose token matches no participant (anonymous link, test…)
    sources: int = 0  # free-text answers stored as sources (new or changed)
    empty_surveys: list[Deployment] = field(default_factory=list)
    per_survey: dict[int, int] = field(default_factory=dict)


def response_from_row(
    row: dict[str, Any], *, survey_id: int, instrument: str, territory_id: str
) -> SurveyResponse:
    values = {
        str(key): "" if value is None else str(value)
        for key, value in row.items()
        if not is_fixed_column(str(key))
    }
    return SurveyResponse(
        survey_id=survey_id,
        response_id=int(row["id"]),
        instrument=instrument,
        territory_id=territory_id,
        token=str(row.get("token") or ""),
        submitted=bool(str(row.get("submitdate") or "").strip()),
        values=values,
    )


def fetch(
    study: Study,
    server: LimeSurveyServer,
    *,
    instrument: str | None = None,
    territory: str | None = None,
    instruments: dict[str, Instrument] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FetchReport:
    """Export every deployment's responses, then store them through the ingest stage.

    Everything is exported first, then written in one transaction: a server failure on the
    third survey leaves the study exactly as it was. Storing is idempotent (ingest compares
    each response's data hash): fetching twice adds nothing, a changed response is updated.
    `progress(done, total)` follows the surveys exported.
    """
    selected = deployments(study, instrument=instrument, territory=territory)
    if not selected:
        raise LimeSurveyError(
            "Aucun questionnaire déployé ne correspond. Lancez d'abord : qualipipe survey deploy …"
        )
    fetched: list[tuple[Deployment, list[SurveyResponse]]] = []
    report = FetchReport()
    for done, deployment in enumerate(selected, start=1):
        with _survey_of(deployment):
            rows = server.export_json(deployment.survey_id)
        responses = [
            response_from_row(
                row,
                survey_id=deployment.survey_id,
                instrument=deployment.instrument,
                territory_id=deployment.territory_id,
            )
            for row in rows
        ]
        if not responses:
            report.empty_surveys.append(deployment)
        report.per_survey[deployment.survey_id] = len(responses)
        fetched.append((deployment, responses))
        if progress:
            progress(done, len(selected))
    with study.transaction():
        for deployment, responses in fetched:
            if not responses:
                continue
            stored = ingest_survey_responses(
                study, _instrument_for(study, deployment, instruments), responses
            )
            report.added += stored.responses.new
            report.updated += stored.responses.updated
            report.unchanged += stored.responses.unchanged
            report.unlinked += len(stored.unlinked_responses)
            report.sources += sum(1 for change in stored.sources if change.status != UNCHANGED)
    return report


def _instrument_for(
    study: Study, deployment: Deployment, instruments: dict[str, Instrument] | None
) -> Instrument:
    if instruments and deployment.instrument in instruments:
        return instruments[deployment.instrument]
    return load_instrument(resolve.instrument(deployment.instrument, study_root=study.root))
