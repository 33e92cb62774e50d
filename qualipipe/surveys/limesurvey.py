"""LimeSurvey through citric: deploy instruments, invite participants, remind, follow, fetch.

Credentials come from the environment (LIMESURVEY_URL, LIMESURVEY_USER, LIMESURVEY_PASSWORD) and
are never written to disk nor to logs: no message built here contains the password.

LimeSurvey 6.4 reports most failures as HTTP 200 with `{"status": "..."}` (see
`../shared/fixtures/limesurvey/README.md`); every way a call can fail becomes a French
`LimeSurveyError` saying what happened and what to do. Network failures (refused connection,
timeout) are retried a bounded number of times, but a call that creates something on the server
(import, adding participants) is retried only when the request surely never reached it. An
expired session key is renewed once. The study is written only after the server calls succeeded,
in one transaction per command.
"""

from __future__ import annotations

import binascii
import contextlib
import csv
import io
import json
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import requests
from citric import Client
from citric.exceptions import (
    InvalidJSONResponseError,
    LimeSurveyApiError,
    LimeSurveyStatusError,
    RPCInterfaceNotEnabledError,
)
from citric.exceptions import (
    LimeSurveyError as CitricError,
)

from qualipipe import resolve
from qualipipe.errors import QualipipeError
from qualipipe.ingest.survey_answers import is_fixed_column
from qualipipe.records import Participant, Role, SurveyResponse
from qualipipe.store import Study, list_participants, now_iso, text_hash
from qualipipe.surveys.instruments import Instrument, load_instrument

T = TypeVar("T")

ENV_URL, ENV_USER, ENV_PASSWORD = "LIMESURVEY_URL", "LIMESURVEY_USER", "LIMESURVEY_PASSWORD"
# Participant table extra columns: attribute_1 = role, attribute_2 = participant id,
# attribute_3 = territory id. No real name is sent to LimeSurvey.
PARTICIPANT_ATTRIBUTES = [1, 2, 3]
ROLE_OF_INSTRUMENT = {"entretien_fondateurs": Role.FOUNDER, "entretien_acteurs": Role.ACTOR}

# LimeSurvey status messages (6.4.2 wording; matched loosely because they are not uniform).
INVALID_SESSION = "invalid session key"
BAD_CREDENTIALS = "invalid user name or password"
MISSING_SURVEY = ("invalid survey id", "invalid surveyid", "no permission")
NO_RESPONSES = "could not get max id"
NOT_ACTIVE = "survey table does not exist"
NO_PARTICIPANTS = "no survey participants found"
NO_CANDIDATES = "no candidate tokens"
LEFT_TO_SEND = re.compile(r"^(-?\d+) left to send$")


class LimeSurveyError(QualipipeError):
    """A LimeSurvey operation failed; the message says what happened and what to do."""


class SurveyMissingError(LimeSurveyError):
    """The survey recorded in the study no longer exists on the server."""


# ---------------------------------------------------------------------------------------------
# Connection
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    url: str
    username: str
    password: str = field(repr=False)

    @property
    def endpoint(self) -> str:
        """The RemoteControl endpoint; a bare server address gets the usual path appended."""
        url = self.url.rstrip("/")
        return url if "remotecontrol" in url else f"{url}/index.php/admin/remotecontrol"


def credentials_from_env(environ: dict[str, str] | None = None) -> Credentials:
    env = os.environ if environ is None else environ
    missing = [name for name in (ENV_URL, ENV_USER, ENV_PASSWORD) if not env.get(name)]
    if missing:
        raise LimeSurveyError(
            f"Variables d'environnement manquantes : {', '.join(missing)}. Définissez-les avant de "
            f"lancer la commande (par exemple : export {ENV_URL}=https://enquetes.example.org "
            f"{ENV_USER}=… {ENV_PASSWORD}=…) ; qualipipe ne les écrit jamais sur disque."
        )
    return Credentials(env[ENV_URL], env[ENV_USER], env[ENV_PASSWORD])


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3  # total tries for a network failure
    timeout: float = 30.0  # seconds per HTTP request
    backoff: float = 1.0  # seconds before the 2nd try, doubled each time

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> RetryPolicy:
        """Defaults, or LIMESURVEY_TIMEOUT / LIMESURVEY_ATTEMPTS / LIMESURVEY_BACKOFF (seconds)."""
        env = os.environ if environ is None else environ
        try:
            timeout = float(env.get("LIMESURVEY_TIMEOUT") or cls.timeout)
            attempts = int(env.get("LIMESURVEY_ATTEMPTS") or cls.attempts)
            backoff = float(env.get("LIMESURVEY_BACKOFF") or cls.backoff)
        except ValueError:
            raise LimeSurveyError(
                "LIMESURVEY_TIMEOUT et LIMESURVEY_BACKOFF doivent être des nombres de secondes, "
                "LIMESURVEY_ATTEMPTS un nombre entier de tentatives."
            ) from None
        return cls(attempts=max(1, attempts), timeout=max(0.1, timeout), backoff=max(0.0, backoff))


class _TimeoutSession(requests.Session):
    """citric sets no timeout; without one a stalled server would hang the command forever."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self.default_timeout)
        return super().request(*args, **kwargs)


def _status_text(error: BaseException) -> str:
    return str(error.args[0] if error.args else error).lower()


class LimeSurveyServer:
    """A logged-in connection: every call goes through `call()` (retries, French errors)."""

    def __init__(self, credentials: Credentials, policy: RetryPolicy | None = None) -> None:
        self.credentials = credentials
        self.policy = policy or RetryPolicy.from_env()
        self._client: Client | None = None

    # -- session -------------------------------------------------------------------------------

    def __enter__(self) -> LimeSurveyServer:
        self.client  # noqa: B018 - log in now so that bad credentials fail first
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            # Releasing the key is a courtesy: the server expires it anyway.
            with contextlib.suppress(requests.RequestException, CitricError):
                self._client.close()
            self._client = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self._network("connexion", lambda: self._login(), creates=False)
        return self._client

    def _login(self) -> Client:
        try:
            return Client(
                self.credentials.endpoint,
                self.credentials.username,
                self.credentials.password,
                requests_session=_TimeoutSession(self.policy.timeout),
            )
        except LimeSurveyStatusError as error:
            if BAD_CREDENTIALS in _status_text(error):
                raise LimeSurveyError(
                    f"LimeSurvey ({self.credentials.url}) refuse l'identifiant ou le mot de passe. "
                    f"Vérifiez {ENV_USER} et {ENV_PASSWORD}, et que ce compte peut se connecter à "
                    "l'administration. Rien n'a été modifié."
                ) from None
            raise

    # -- calls ---------------------------------------------------------------------------------

    def call(self, action: str, operation: Callable[[Client], T], *, creates: bool = False) -> T:
        """Run `operation(client)`; renew an expired session once; translate failures.

        `creates`: the call creates something on the server, so a timeout is not retried (the
        server may have done it already); a refused connection still is.
        """
        renewed = False
        while True:
            try:
                return self._network(action, lambda: operation(self.client), creates=creates)
            except LimeSurveyStatusError as error:
                if INVALID_SESSION in _status_text(error) and not renewed:
                    # The key expired (idle timeout) or was released: log in again, once.
                    self._client = None
                    renewed = True
                    continue
                raise self._translate_status(action, error) from None

    def raw(self, action: str, method: str, *params: Any, creates: bool = False) -> Any:
        """Call an RPC method and return its result as is, status dicts included.

        Needed where LimeSurvey hides real outcomes inside a "status" (invite, remind).
        """

        def run(client: Client) -> Any:
            response = client.session.call(method, *params)
            if response.get("error") is not None:
                raise LimeSurveyApiError(str(response["error"]))
            result = response.get("result")
            if (
                isinstance(result, dict)
                and INVALID_SESSION in str(result.get("status", "")).lower()
            ):
                raise LimeSurveyStatusError(str(result["status"]))
            return result

        return self.call(action, run, creates=creates)

    def _network(self, action: str, operation: Callable[[], T], *, creates: bool) -> T:
        policy = self.policy
        url = self.credentials.url
        for attempt in range(1, policy.attempts + 1):
            last = attempt == policy.attempts
            try:
                return operation()
            except requests.exceptions.ConnectionError as error:
                # ConnectTimeout is a ConnectionError: the request never reached the server.
                is_timeout = isinstance(error, requests.exceptions.ConnectTimeout)
                if last:
                    raise LimeSurveyError(
                        f"Serveur LimeSurvey injoignable ({url}) pendant « {action} », après "
                        f"{policy.attempts} tentatives. Vérifiez {ENV_URL}, votre connexion et "
                        "que le serveur est en marche, puis relancez : l'étude n'a pas été modifiée."
                        + (" (délai de connexion dépassé)" if is_timeout else "")
                    ) from None
            except requests.exceptions.Timeout:
                if creates or last:
                    raise LimeSurveyError(
                        f"Le serveur LimeSurvey ({url}) n'a pas répondu en {policy.timeout:g} s "
                        f"pendant « {action} »"
                        + (
                            f" ({policy.attempts} tentatives). Il est peut-être surchargé : "
                            "réessayez plus tard."
                            if not creates
                            else ". L'opération a pu être faite malgré tout : vérifiez dans "
                            "LimeSurvey avant de relancer."
                        )
                        + " L'étude n'a pas été modifiée."
                    ) from None
            except requests.exceptions.HTTPError as error:
                status = error.response.status_code if error.response is not None else "?"
                raise LimeSurveyError(
                    f"Le serveur LimeSurvey ({url}) a renvoyé une erreur HTTP {status} pendant "
                    f"« {action} ». Vérifiez que {ENV_URL} désigne bien l'interface RemoteControl "
                    "(…/index.php/admin/remotecontrol) d'un LimeSurvey 6 ; consultez le journal "
                    "d'erreurs du serveur. L'étude n'a pas été modifiée."
                ) from None
            except (RPCInterfaceNotEnabledError, InvalidJSONResponseError):
                raise LimeSurveyError(
                    f"L'interface JSON-RPC ne répond pas à {self.credentials.endpoint}. Activez-la "
                    "dans LimeSurvey (Configuration > Paramètres globaux > Interfaces : JSON-RPC) "
                    f"et vérifiez l'adresse {ENV_URL}. L'étude n'a pas été modifiée."
                ) from None
            except LimeSurveyApiError as error:
                raise LimeSurveyError(
                    f"LimeSurvey a rejeté la requête « {action} » ({error}). L'étude n'a pas été "
                    "modifiée ; signalez ce message à l'équipe qualipipe."
                ) from None
            time.sleep(policy.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _translate_status(self, action: str, error: LimeSurveyStatusError) -> LimeSurveyError:
        text = _status_text(error)
        if any(marker in text for marker in MISSING_SURVEY):
            return SurveyMissingError(
                f"Le questionnaire n'existe pas (ou plus) sur LimeSurvey, ou ce compte n'y a pas "
                f"accès (« {action} » : {error})."
            )
        if INVALID_SESSION in text:
            return LimeSurveyError(
                "LimeSurvey refuse la session même après reconnexion. Vérifiez que le compte "
                f"{ENV_USER} est actif, puis relancez. L'étude n'a pas été modifiée."
            )
        return LimeSurveyError(
            f"LimeSurvey a refusé « {action} » : {error}. L'étude n'a pas été modifiée."
        )

    # -- typed operations ----------------------------------------------------------------------

    def import_survey(self, lss: bytes, desired_id: int | None) -> int:
        return int(
            self.call(
                "import du questionnaire",
                lambda c: c.import_survey(io.BytesIO(lss), file_type="lss", survey_id=desired_id),
                creates=True,
            )
        )

    def activate(self, survey_id: int) -> None:
        def activate_survey(client: Client) -> None:
            try:
                client.activate_survey(survey_id)
            except LimeSurveyStatusError as error:
                # A retried activation whose first try got through: the goal is reached.
                if "already active" not in _status_text(error):
                    raise

        self.call("activation du questionnaire", activate_survey)
        self.call(
            "création de la table des participants",
            lambda c: c.activate_tokens(survey_id, PARTICIPANT_ATTRIBUTES),
        )

    def delete_survey(self, survey_id: int) -> None:
        self.call("suppression du questionnaire", lambda c: c.delete_survey(survey_id))

    def survey_exists(self, survey_id: int) -> bool:
        try:
            self.call(
                "lecture du questionnaire", lambda c: c.get_survey_properties(survey_id, ["sid"])
            )
        except SurveyMissingError:
            return False
        return True

    def remote_participants(self, survey_id: int) -> list[RemoteParticipant]:
        def run(client: Client) -> list[dict[str, Any]]:
            try:
                return client.list_participants(  # type: ignore[return-value]
                    survey_id,
                    start=0,
                    limit=100000,
                    attributes=["attribute_1", "attribute_2", "sent", "completed", "remindercount"],
                )
            except LimeSurveyStatusError as error:
                if NO_PARTICIPANTS in _status_text(error):
                    return []  # LimeSurvey reports an empty table as an error
                raise

        rows = self.call("liste des participants", run)
        return [
            RemoteParticipant(
                tid=int(row["tid"]),
                token=str(row.get("token") or ""),
                participant_id=str(row.get("attribute_2") or ""),
                sent=str(row.get("sent", "N")) not in ("N", ""),
                completed=str(row.get("completed", "N")) not in ("N", ""),
                email=str((row.get("participant_info") or {}).get("email") or ""),
            )
            for row in rows
        ]

    def add_participants(self, survey_id: int, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
        return list(
            self.call(
                "ajout des participants",
                lambda c: c.add_participants(survey_id, participant_data=rows, create_tokens=True),
                creates=True,
            )
        )

    def set_email(self, survey_id: int, tid: int, email: str) -> None:
        self.call(
            "mise à jour d'un courriel",
            lambda c: c.set_participant_properties(survey_id, tid, email=email),
        )

    def send(self, survey_id: int, tids: list[int], *, reminder: bool) -> dict[int, MailOutcome]:
        """Send invitations (or reminders) to `tids`; the outcome of each, as the server saw it."""
        if reminder:
            result = self.raw(
                "envoi des relances", "remind_participants", survey_id, None, None, tids
            )
        else:
            result = self.raw("envoi des invitations", "invite_participants", survey_id, tids, True)
        return _mail_outcomes(result)

    def summary(self, survey_id: int) -> dict[str, int]:
        result = self.call("bilan des réponses", lambda c: c.get_summary(survey_id))
        # Counters come as ints or numeric strings depending on the server.
        return {key: int(str(value)) for key, value in dict(result or {}).items()}

    def export_json(self, survey_id: int) -> list[dict[str, Any]]:
        def run(client: Client) -> bytes | None:
            try:
                return client.export_responses(
                    survey_id, file_format="json", heading_type="code", response_type="short"
                )
            except LimeSurveyStatusError as error:
                if NO_RESPONSES in _status_text(error):
                    return None  # active survey, zero responses: LimeSurvey calls it an error
                if NOT_ACTIVE in _status_text(error):
                    raise LimeSurveyError(
                        f"Le questionnaire n°{survey_id} n'est pas activé sur LimeSurvey : "
                        "activez-le (ou relancez qualipipe survey deploy)."
                    ) from None
                raise

        try:
            data = self.call("export des réponses", run)
        except binascii.Error:
            raise LimeSurveyError(
                f"L'export des réponses du questionnaire n°{survey_id} est illisible (base64 "
                "invalide). Relancez ; si cela persiste, exportez les réponses à la main."
            ) from None
        if data is None:
            return []
        return parse_json_export(data, survey_id)


@dataclass(frozen=True)
class RemoteParticipant:
    tid: int
    token: str
    participant_id: str
    sent: bool
    completed: bool
    email: str = ""


@dataclass(frozen=True)
class MailOutcome:
    tid: int
    ok: bool
    error: str = ""


def _mail_outcomes(result: Any) -> dict[int, MailOutcome]:
    """Per-participant outcomes from invite/remind answers.

    LimeSurvey answers `{"<tid>": {"status": "OK"|"fail", "error": ...}, "status": "N left to
    send"}` even when every mail failed; "No candidate tokens" means nobody was eligible.
    """
    if not isinstance(result, dict):
        raise LimeSurveyError(
            f"Réponse inattendue de LimeSurvey à l'envoi des courriels : {result!r}."
        )
    status = str(result.get("status", ""))
    if NO_CANDIDATES in status.lower():
        return {}
    if not LEFT_TO_SEND.match(status) and status != "OK":
        if any(marker in status.lower() for marker in MISSING_SURVEY):
            raise SurveyMissingError(f"Le questionnaire n'existe plus sur LimeSurvey ({status}).")
        raise LimeSurveyError(f"LimeSurvey a refusé l'envoi des courriels : {status}.")
    outcomes = {}
    for key, entry in result.items():
        if key == "status" or not isinstance(entry, dict):
            continue
        ok = str(entry.get("status", "")).upper() == "OK"
        outcomes[int(key)] = MailOutcome(
            int(key), ok, "" if ok else str(entry.get("error") or "échec")
        )
    return outcomes


def parse_json_export(data: bytes, survey_id: int) -> list[dict[str, Any]]:
    """Rows of a JSON export (6.4: `{"responses": [row, ...]}`; older: `[{id: row}, ...]`)."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LimeSurveyError(
            f"L'export des réponses du questionnaire n°{survey_id} n'est pas un JSON lisible."
        ) from None
    rows = document.get("responses", []) if isinstance(document, dict) else []
    flat: list[dict[str, Any]] = []
    for row in rows:
        if isinstance(row, dict) and "id" not in row and len(row) == 1:
            row = next(iter(row.values()))  # older LimeSurvey: {"<id>": {...}}
        if isinstance(row, dict):
            flat.append(row)
    return flat


def parse_csv_export(data: bytes) -> list[dict[str, str]]:
    """Rows of a CSV export (UTF-8 with BOM, `;`, all fields quoted, CRLF, trailing blank line)."""
    reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";")
    return [row for row in reader if any(value for value in row.values())]


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


# ---------------------------------------------------------------------------------------------
# Study-level operations (one command each)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
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


def deploy(
    study: Study,
    instrument: Instrument,
    server: LimeSurveyServer,
    territory_ids: Sequence[str],
    *,
    replace: bool = False,
    progress: Callable[[str], None] | None = None,
) -> list[Deployment]:
    """Import, title, activate and open the participant table, once per territory.

    All server work comes first; the study records the deployments in one transaction at the
    end. If a territory fails, the surveys this call created are deleted from the server.
    """
    results: list[tuple[Deployment, str]] = []  # (deployment, hash of the .lss sent)
    created: list[int] = []
    try:
        for territory_id in territory_ids:
            results.append(_deploy_one(study, instrument, server, territory_id, replace, created))
            if progress:
                progress(territory_id)
    except BaseException:
        _undo_created(server, created)
        raise
    with study.transaction() as conn:
        for deployment, lss_hash in results:
            if deployment.created:
                conn.execute(
                    """INSERT INTO survey_deployments
                           (instrument, territory_id, survey_id, lss_hash, deployed_at)
                       VALUES (?, ?, ?, ?, ?)
                       ON CONFLICT(instrument, territory_id) DO UPDATE SET
                         survey_id=excluded.survey_id, lss_hash=excluded.lss_hash,
                         deployed_at=excluded.deployed_at""",
                    (
                        deployment.instrument,
                        deployment.territory_id,
                        deployment.survey_id,
                        lss_hash,
                        now_iso(),
                    ),
                )
    return [deployment for deployment, _ in results]


def _deploy_one(
    study: Study,
    instrument: Instrument,
    server: LimeSurveyServer,
    territory_id: str,
    replace: bool,
    created: list[int],
) -> tuple[Deployment, str]:
    from qualipipe.surveys.lss import build_lss, survey_id_for

    territory = study.config.territory(territory_id)
    existing = deployments(study, instrument=instrument.name, territory=territory.id)
    if existing and not replace:
        if not server.survey_exists(existing[0].survey_id):
            raise SurveyMissingError(_missing_message(existing[0]))
        return existing[0], ""
    title = f"{instrument.title} — {territory.name}"
    lss = build_lss(instrument, title=title)
    survey_id = server.import_survey(lss, survey_id_for(instrument))
    created.append(survey_id)
    server.activate(survey_id)
    deployment = Deployment(instrument.name, territory.id, survey_id, title=title, created=True)
    return deployment, text_hash(lss.decode("utf-8"))


def _undo_created(server: LimeSurveyServer, survey_ids: Iterable[int]) -> None:
    """A deploy that failed half-way removes the surveys it created, so nothing is orphaned."""
    for survey_id in survey_ids:
        with contextlib.suppress(QualipipeError):  # the original error is the one to show
            server.delete_survey(survey_id)


@dataclass(frozen=True)
class InvitationOutcome:
    participant_id: str
    pseudonym: str
    token: str
    status: str  # "invité", "déjà invité", "sans courriel", "échec"
    error: str = ""


@dataclass
class InviteReport:
    deployment: Deployment
    outcomes: list[InvitationOutcome] = field(default_factory=list)
    skipped_no_consent: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[InvitationOutcome]:
        return [o for o in self.outcomes if o.status == "échec"]

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def read_emails(path: Path) -> dict[str, str]:
    """`identifiant;courriel` (or `,`) → {participant id: email}; kept in memory only."""
    from qualipipe.errors import InputError, Problem

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
    role = ROLE_OF_INSTRUMENT.get(instrument)
    report = InviteReport(deployment)
    targets: list[Participant] = []
    for participant in list_participants(study.conn):
        if participant.territory_id != territory.id or (role and participant.role is not role):
            continue
        if not participant.consent:
            report.skipped_no_consent.append(participant.pseudonym)
            continue
        targets.append(participant)
    if not targets:
        raise LimeSurveyError(
            f"Aucun participant {'« ' + role.value + ' » ' if role else ''}avec consentement pour "
            f"le territoire « {territory.id} ». Chargez d'abord le fichier des participants "
            "(qualipipe ingest) ; rien n'a été envoyé."
        )
    try:
        remote = {r.participant_id: r for r in server.remote_participants(deployment.survey_id)}
    except SurveyMissingError:
        raise SurveyMissingError(_missing_message(deployment)) from None
    to_add = [p for p in targets if p.id not in remote]
    if to_add:
        added = server.add_participants(
            deployment.survey_id,
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
        for p, row in zip(to_add, added, strict=False):
            if row.get("errors"):
                raise LimeSurveyError(
                    f"LimeSurvey a refusé le participant {p.id} : {row['errors']}. Rien n'a été envoyé."
                )
            remote[p.id] = RemoteParticipant(
                tid=int(row["tid"]),
                token=str(row["token"]),
                participant_id=p.id,
                sent=False,
                completed=False,
                email=str(row.get("email") or ""),
            )
    for p in targets:
        # An address given now for someone registered earlier without one.
        r = remote[p.id]
        if not r.sent and not r.email and emails.get(p.id):
            server.set_email(deployment.survey_id, r.tid, emails[p.id])
            remote[p.id] = replace(r, email=emails[p.id])
    pending = [remote[p.id].tid for p in targets if not remote[p.id].sent and remote[p.id].email]
    outcomes = server.send(deployment.survey_id, pending, reminder=False) if pending else {}
    now = now_iso()
    with study.transaction() as conn:
        for p in targets:
            r = remote[p.id]
            if r.sent:
                outcome = InvitationOutcome(p.id, p.pseudonym, r.token, "déjà invité")
            elif not r.email:
                outcome = InvitationOutcome(p.id, p.pseudonym, r.token, "sans courriel")
            elif r.tid in outcomes and outcomes[r.tid].ok:
                outcome = InvitationOutcome(p.id, p.pseudonym, r.token, "invité")
            else:
                error = outcomes[r.tid].error if r.tid in outcomes else "non envoyé par le serveur"
                outcome = InvitationOutcome(p.id, p.pseudonym, r.token, "échec", error)
            report.outcomes.append(outcome)
            conn.execute(
                """INSERT INTO survey_invitations (survey_id, participant_id, token, tid, invited_at, status)
                   VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT(survey_id, participant_id) DO UPDATE SET token=excluded.token,
                     tid=excluded.tid, invited_at=COALESCE(survey_invitations.invited_at, excluded.invited_at),
                     status=excluded.status""",
                (
                    deployment.survey_id,
                    p.id,
                    r.token,
                    r.tid,
                    now if outcome.status == "invité" else None,
                    outcome.status if not outcome.error else f"échec : {outcome.error}",
                ),
            )
    return report


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
    try:
        remote = {r.tid: r for r in server.remote_participants(deployment.survey_id)}
    except SurveyMissingError:
        raise SurveyMissingError(_missing_message(deployment)) from None
    candidates = {
        int(r["tid"]): r
        for r in rows
        if int(r["tid"]) in remote
        and remote[int(r["tid"])].sent
        and not remote[int(r["tid"])].completed
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


@dataclass(frozen=True)
class ParticipantProgress:
    participant_id: str
    pseudonym: str
    invited: bool
    completed: bool
    stored_responses: int


@dataclass
class SurveyStatus:
    deployment: Deployment
    completed: int = 0
    incomplete: int = 0
    invited: int = 0
    participants: list[ParticipantProgress] = field(default_factory=list)


def status(
    study: Study,
    server: LimeSurveyServer,
    *,
    instrument: str | None = None,
    territory: str | None = None,
) -> list[SurveyStatus]:
    """Response counts per deployment and completion per participant (read only)."""
    statuses = []
    for deployment in deployments(study, instrument=instrument, territory=territory):
        try:
            counts = server.summary(deployment.survey_id)
            remote = {r.participant_id: r for r in server.remote_participants(deployment.survey_id)}
        except SurveyMissingError:
            raise SurveyMissingError(_missing_message(deployment)) from None
        state = SurveyStatus(
            deployment,
            completed=counts.get("completed_responses", 0),
            incomplete=counts.get("incomplete_responses", 0),
            invited=counts.get("token_sent", 0),
        )
        pseudonyms = {p.id: p.pseudonym for p in list_participants(study.conn)}
        stored = dict(
            study.conn.execute(
                """SELECT participant_id, count(*) FROM survey_responses WHERE survey_id = ?
                   AND participant_id IS NOT NULL GROUP BY participant_id""",
                (deployment.survey_id,),
            ).fetchall()
        )
        for participant_id, r in sorted(remote.items()):
            state.participants.append(
                ParticipantProgress(
                    participant_id,
                    pseudonyms.get(participant_id, participant_id),
                    r.sent,
                    r.completed,
                    int(stored.get(participant_id, 0)),
                )
            )
        statuses.append(state)
    return statuses


@dataclass
class FetchReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    unlinked: int = 0  # responses whose token matches no participant (anonymous link, test…)
    sources: int = 0  # free-text answers stored as sources (new or changed)
    empty_surveys: list[Deployment] = field(default_factory=list)
    per_survey: dict[int, int] = field(default_factory=dict)


def fetch(
    study: Study,
    server: LimeSurveyServer,
    *,
    instrument: str | None = None,
    territory: str | None = None,
    instruments: dict[str, Instrument] | None = None,
    progress: Callable[[Deployment], None] | None = None,
) -> FetchReport:
    """Export every deployment's responses, then store them through the ingest stage.

    Everything is exported first, then written in one transaction: a server failure on the
    third survey leaves the study exactly as it was. Storing is idempotent (ingest compares
    each response's data hash): fetching twice adds nothing, a changed response is updated.
    """
    from qualipipe.ingest import ingest_survey_responses
    from qualipipe.ingest.reconcile import UNCHANGED

    selected = deployments(study, instrument=instrument, territory=territory)
    if not selected:
        raise LimeSurveyError(
            "Aucun questionnaire déployé ne correspond. Lancez d'abord : qualipipe survey deploy …"
        )
    fetched: list[tuple[Deployment, list[SurveyResponse]]] = []
    report = FetchReport()
    for deployment in selected:
        try:
            rows = server.export_json(deployment.survey_id)
        except SurveyMissingError:
            raise SurveyMissingError(_missing_message(deployment)) from None
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
            progress(deployment)
    with study.transaction():
        for deployment, responses in fetched:
            if not responses:
                continue
            stored = ingest_survey_responses(
                study, _instrument_for(study, deployment, instruments), responses
            )
            report.added += stored.responses_new
            report.updated += stored.responses_updated
            report.unchanged += stored.responses_unchanged
            report.unlinked += len(stored.unlinked_responses)
            report.sources += sum(1 for change in stored.sources if change.status != UNCHANGED)
    return report


def _instrument_for(
    study: Study, deployment: Deployment, instruments: dict[str, Instrument] | None
) -> Instrument:
    if instruments and deployment.instrument in instruments:
        return instruments[deployment.instrument]
    return load_instrument(resolve.instrument(deployment.instrument, study_root=study.root))
