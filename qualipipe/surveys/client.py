"""A thin typed client for LimeSurvey's RemoteControl (JSON-RPC) API, through citric.

Credentials come from the environment (LIMESURVEY_URL, LIMESURVEY_USER, LIMESURVEY_PASSWORD) and
are never written to disk nor to logs; every text that comes back from the server goes through
`scrub()` before it reaches a message, because a server (or a proxy) may echo the login request.

LimeSurvey 6.4 reports most failures as HTTP 200 with `{"status": "..."}` and no error code (see
`../shared/fixtures/limesurvey/README.md`). The status text is classified once, here, into the
typed exceptions below (as citric does for the transport); callers catch by type. Each exception
carries a French message saying what happened and what to do.

Network failures (refused connection, timeout) are retried a bounded number of times, but a call
that creates something on the server (import, adding participants) is never retried once the
request may have reached the server: `MaybeDoneError` tells the caller to look before redoing.
An expired session key is renewed once.
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
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from citric import Client
from citric.exceptions import (
    InvalidJSONResponseError,
    LimeSurveyApiError,
    LimeSurveyStatusError,
    ResponseMismatchError,
    RPCInterfaceNotEnabledError,
)
from citric.exceptions import (
    LimeSurveyError as CitricError,
)

from qualipipe.errors import QualipipeError

T = TypeVar("T")

ENV_URL, ENV_USER, ENV_PASSWORD = "LIMESURVEY_URL", "LIMESURVEY_USER", "LIMESURVEY_PASSWORD"
RPC_PATH = "/index.php/admin/remotecontrol"
UNCHANGED = "L'étude n'a pas été modifiée."
LEFT_TO_SEND = re.compile(r"^(-?\d+) left to send$")


# ---------------------------------------------------------------------------------------------
# Typed exceptions
# ---------------------------------------------------------------------------------------------


class LimeSurveyError(QualipipeError):
    """A LimeSurvey operation failed; the message says what happened and what to do."""


class MaybeDoneError(LimeSurveyError):
    """The connection broke after a creating request was sent: the server may have done it."""


class StatusError(LimeSurveyError):
    """LimeSurvey answered `{"status": "..."}`: a refusal. `status` is the server's text.

    A subclass says what to do in `advice`, formatted with the refused `action`, the server's
    `status` and the names of the account's variables; the study is never changed by a refusal.
    """

    advice = "LimeSurvey a refusé « {action} » : {status}."

    def __init__(self, action: str, status: str) -> None:
        self.action = action
        self.status = status
        super().__init__(self.describe())

    def describe(self) -> str:
        said = self.advice.format(
            action=self.action, status=self.status, user=ENV_USER, password=ENV_PASSWORD
        )
        return f"{said} {UNCHANGED}"


class LoginRefusedError(StatusError):
    advice = (
        "LimeSurvey refuse l'identifiant ou le mot de passe. Vérifiez {user} et {password}, et "
        "que ce compte peut se connecter à l'administration. Attention : après trois essais "
        "refusés, LimeSurvey bloque toute connexion depuis cette adresse pendant 10 minutes."
    )


class LoginLockedError(StatusError):
    advice = (
        "LimeSurvey bloque les connexions depuis cette adresse après trop d'essais de mot de "
        "passe refusés (même le bon mot de passe est refusé). Attendez 10 minutes, ou "
        "demandez à l'administrateur LimeSurvey de lever le blocage, puis relancez."
    )


class SessionInvalidError(StatusError):
    advice = (
        "LimeSurvey refuse la session même après reconnexion. Vérifiez que le compte {user} est "
        "actif, puis relancez."
    )


class SurveyMissingError(StatusError):
    """The survey does not exist (any more) on the server, or this account cannot see it."""

    advice = (
        "Le questionnaire n'existe pas (ou plus) sur LimeSurvey, ou ce compte n'y a pas "
        "accès (« {action} » : {status})."
    )


class SurveyNotActiveError(StatusError):
    advice = (
        "Le questionnaire n'est pas activé sur LimeSurvey : activez-le (ou relancez "
        "qualipipe survey deploy … --remplacer)."
    )


class AlreadyActiveError(StatusError):
    """`activate_survey` on an active survey (a retried activation whose first try got through)."""


class NoResponsesError(StatusError):
    """An active survey with zero responses: LimeSurvey calls the export an error."""


class NoParticipantsError(StatusError):
    """An empty participant table: LimeSurvey calls the listing an error."""


class NoCandidatesError(StatusError):
    """Nobody eligible for an invitation or reminder."""


class NoSurveysError(StatusError):
    """`list_surveys` on a server (or account) without any survey."""


# Where LimeSurvey 6.4.2's status wording tells the kind of refusal (lower-case substrings; the
# wording is not uniform across methods). The one place that reads status text.
STATUS_KINDS: tuple[tuple[str, type[StatusError]], ...] = (
    ("invalid session key", SessionInvalidError),
    ("invalid user name or password", LoginRefusedError),
    ("exceeded the number of maximum login attempts", LoginLockedError),
    ("invalid survey id", SurveyMissingError),
    ("invalid surveyid", SurveyMissingError),
    ("no permission", SurveyMissingError),
    ("survey table does not exist", SurveyNotActiveError),
    ("no survey response table", SurveyNotActiveError),
    ("already active", AlreadyActiveError),
    ("could not get max id", NoResponsesError),
    ("no survey participants found", NoParticipantsError),
    ("no candidate tokens", NoCandidatesError),
    ("no surveys found", NoSurveysError),
)


def classify_status(action: str, status: str) -> StatusError:
    """The typed exception for a LimeSurvey status text."""
    lowered = status.lower()
    for marker, kind in STATUS_KINDS:
        if marker in lowered:
            return kind(action, status)
    return StatusError(action, status)


# Per-participant mail errors LimeSurvey reports in English (PHPMailer's wording).
MAIL_ERRORS = {
    "could not instantiate mail function": (
        "LimeSurvey n'a pas pu envoyer le courriel : aucun serveur de messagerie n'est réglé "
        "(Configuration > Paramètres globaux > Courriel)"
    ),
    "smtp connect() failed": "LimeSurvey n'a pas pu joindre son serveur de messagerie (SMTP)",
    "invalid address": "adresse de courriel refusée par LimeSurvey",
}


def french_mail_error(error: str) -> str:
    lowered = error.lower()
    for marker, french in MAIL_ERRORS.items():
        if marker in lowered:
            return french
    return f"LimeSurvey n'a pas pu envoyer le courriel ({error})" if error else "non envoyé"


# ---------------------------------------------------------------------------------------------
# Connection settings
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
        return url if "remotecontrol" in url else f"{url}{RPC_PATH}"

    @property
    def site(self) -> str:
        """The server's address without the RemoteControl path (for respondent links)."""
        url = self.url.rstrip("/")
        for suffix in (RPC_PATH, "/admin/remotecontrol", "/index.php"):
            url = url.removesuffix(suffix)
        return url


def check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise LimeSurveyError(
            f"{ENV_URL} n'est pas une adresse web complète : elle doit commencer par https:// "
            f"(ou http://) puis le nom du serveur, par exemple https://enquetes.example.org. "
            f"{UNCHANGED}"
        )


def credentials_from_env(environ: dict[str, str] | None = None) -> Credentials:
    env = os.environ if environ is None else environ
    missing = [name for name in (ENV_URL, ENV_USER, ENV_PASSWORD) if not env.get(name)]
    if missing:
        raise LimeSurveyError(
            f"Variables d'environnement manquantes : {', '.join(missing)}. Définissez-les avant de "
            f"lancer la commande (par exemple : export {ENV_URL}=https://enquetes.example.org "
            f"{ENV_USER}=… {ENV_PASSWORD}=…) ; qualipipe ne les écrit jamais sur disque."
        )
    check_url(env[ENV_URL].strip())
    return Credentials(env[ENV_URL].strip(), env[ENV_USER], env[ENV_PASSWORD])


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


def _never_sent(error: requests.exceptions.ConnectionError) -> bool:
    """True when the request surely never reached the server (refused, DNS, connect timeout)."""
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return True
    text = str(error)
    return any(
        marker in text
        for marker in (
            "NewConnectionError",
            "Failed to establish a new connection",
            "Connection refused",
            "NameResolutionError",
        )
    )


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


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
    error: str = ""  # in French


@dataclass(frozen=True)
class RemoteSurvey:
    sid: int
    title: str
    active: bool


class LimeSurveyServer:
    """A logged-in connection: every call goes through `call()` (retries, typed errors)."""

    def __init__(self, credentials: Credentials, policy: RetryPolicy | None = None) -> None:
        check_url(credentials.url)
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
            with contextlib.suppress(requests.RequestException, CitricError, ResponseMismatchError):
                self._client.close()
            self._client = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = self._login()
        return self._client

    def _login(self) -> Client:
        def log_in() -> Client:
            return Client(
                self.credentials.endpoint,
                self.credentials.username,
                self.credentials.password,
                requests_session=_TimeoutSession(self.policy.timeout),
            )

        try:
            return self._network("connexion", log_in, creates=False)
        except LimeSurveyStatusError as error:
            # Never retried: each refused login counts towards LimeSurvey's lockout.
            raise self._classified("connexion", error) from None

    def scrub(self, text: str) -> str:
        """`text` without the password, in clear or JSON-escaped (a server may echo requests)."""
        password = self.credentials.password
        for form in {
            password,
            json.dumps(password)[1:-1],
            json.dumps(password, ensure_ascii=False)[1:-1],
        }:
            if form:
                text = text.replace(form, "***")
        return text

    def _classified(self, action: str, error: LimeSurveyStatusError) -> StatusError:
        status = str(error.args[0] if error.args else error)
        return classify_status(action, self.scrub(status))

    # -- calls ---------------------------------------------------------------------------------

    def call(self, action: str, operation: Callable[[Client], T], *, creates: bool = False) -> T:
        """Run `operation(client)`; renew an expired session once; raise typed errors.

        `creates`: the call creates something on the server, so a failure after the request
        may have been sent is not retried (`MaybeDoneError`); a refused connection still is.
        """
        renewed = False
        while True:
            try:
                return self._network(action, lambda: operation(self.client), creates=creates)
            except LimeSurveyStatusError as error:
                typed = self._classified(action, error)
                if isinstance(typed, SessionInvalidError) and not renewed:
                    # The key expired (idle timeout) or was released: log in again, once.
                    self._client = None
                    renewed = True
                    continue
                raise typed from None

    def raw(self, action: str, method: str, *params: Any, creates: bool = False) -> Any:
        """Call an RPC method and return its result as is, status dicts included.

        Needed where LimeSurvey hides real outcomes inside a "status" (invite, remind).
        """

        def run(client: Client) -> Any:
            response = client.session.call(method, *params)
            if response.get("error") is not None:
                raise LimeSurveyApiError(str(response["error"]))
            result = response.get("result")
            if isinstance(result, dict) and isinstance(
                classify_status(action, str(result.get("status", ""))), SessionInvalidError
            ):
                raise LimeSurveyStatusError(str(result["status"]))  # renewed by call()
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
                if creates and not _never_sent(error):
                    raise self._maybe_done(action, "a été coupée") from None
                if last:
                    raise LimeSurveyError(
                        f"Serveur LimeSurvey injoignable ({url}) pendant « {action} », après "
                        f"{policy.attempts} tentatives. Vérifiez {ENV_URL}, votre connexion et "
                        f"que le serveur est en marche, puis relancez. {UNCHANGED}"
                    ) from None
            except requests.exceptions.Timeout:
                if creates:
                    raise self._maybe_done(
                        action, f"n'a pas eu de réponse en {policy.timeout:g} s"
                    ) from None
                if last:
                    raise LimeSurveyError(
                        f"Le serveur LimeSurvey ({url}) n'a pas répondu en {policy.timeout:g} s "
                        f"pendant « {action} » ({policy.attempts} tentatives). Il est peut-être "
                        f"surchargé : réessayez plus tard. {UNCHANGED}"
                    ) from None
            except requests.exceptions.HTTPError as error:
                status = error.response.status_code if error.response is not None else "?"
                raise LimeSurveyError(
                    f"Le serveur LimeSurvey ({url}) a renvoyé une erreur HTTP {status} pendant "
                    f"« {action} ». Vérifiez que {ENV_URL} désigne bien un LimeSurvey 6 (adresse "
                    f"du site ou …{RPC_PATH}) ; consultez le journal d'erreurs du serveur. "
                    f"{UNCHANGED}"
                ) from None
            except (RPCInterfaceNotEnabledError, InvalidJSONResponseError):
                raise LimeSurveyError(
                    f"L'interface JSON-RPC ne répond pas à {self.credentials.endpoint}. Activez-la "
                    "dans LimeSurvey (Configuration > Paramètres globaux > Interfaces : JSON-RPC) "
                    f"et vérifiez l'adresse {ENV_URL}. {UNCHANGED}"
                ) from None
            except ResponseMismatchError:
                raise LimeSurveyError(
                    f"La réponse reçue pendant « {action} » ne correspond pas à la requête "
                    f"envoyée : un proxy ou un cache s'intercale peut-être entre qualipipe et "
                    f"{url}. Relancez ; si cela persiste, signalez-le à l'administrateur. "
                    f"{UNCHANGED}"
                ) from None
            except LimeSurveyApiError as error:
                raise LimeSurveyError(
                    f"LimeSurvey a rejeté la requête « {action} » ({self.scrub(str(error))}). "
                    f"{UNCHANGED} Signalez ce message à l'équipe qualipipe."
                ) from None
            except requests.exceptions.RequestException as error:
                # InvalidSchema, InvalidURL, TooManyRedirects…: the address itself is wrong.
                raise LimeSurveyError(
                    f"Adresse LimeSurvey inutilisable ({url}) : {type(error).__name__}. Vérifiez "
                    f"{ENV_URL} (par exemple https://enquetes.example.org). {UNCHANGED}"
                ) from None
            time.sleep(policy.backoff * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover

    def _maybe_done(self, action: str, what: str) -> MaybeDoneError:
        return MaybeDoneError(
            f"La connexion avec LimeSurvey ({self.credentials.url}) {what} pendant "
            f"« {action} », après l'envoi de la demande : le serveur a pu la traiter. qualipipe "
            f"ne la renvoie pas à l'aveugle ; relancez la même commande, elle vérifie d'abord "
            f"ce qui existe sur le serveur. {UNCHANGED}"
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

    def activate(self, survey_id: int, attributes: list[int]) -> None:
        """Activate the survey and create its participant table with `attributes` columns."""
        # A retried activation whose first try got through: the goal is reached.
        with contextlib.suppress(AlreadyActiveError):
            self.call("activation du questionnaire", lambda c: c.activate_survey(survey_id))
        self.call(
            "création de la table des participants",
            lambda c: c.activate_tokens(survey_id, attributes),
        )

    def delete_survey(self, survey_id: int) -> None:
        self.call("suppression du questionnaire", lambda c: c.delete_survey(survey_id))

    def survey_exists(self, survey_id: int) -> bool:
        try:
            self.survey_properties(survey_id, ["sid"])
        except SurveyMissingError:
            return False
        return True

    def survey_properties(self, survey_id: int, names: list[str]) -> dict[str, Any]:
        return dict(
            self.call(
                "lecture du questionnaire", lambda c: c.get_survey_properties(survey_id, names)
            )
        )

    def surveys(self) -> list[RemoteSurvey]:
        try:
            rows = self.call("liste des questionnaires", lambda c: c.list_surveys())
        except NoSurveysError:
            return []
        return [
            RemoteSurvey(int(r["sid"]), str(r.get("surveyls_title") or ""), r.get("active") == "Y")
            for r in rows
        ]

    def remote_participants(self, survey_id: int) -> list[RemoteParticipant]:
        def run(client: Client) -> list[dict[str, Any]]:
            return client.list_participants(  # type: ignore[return-value]
                survey_id,
                start=0,
                limit=100000,
                attributes=["attribute_1", "attribute_2", "sent", "completed", "remindercount"],
            )

        try:
            rows = self.call("liste des participants", run)
        except NoParticipantsError:
            return []
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
        action = "envoi des relances" if reminder else "envoi des invitations"
        if reminder:
            result = self.raw(action, "remind_participants", survey_id, None, None, tids)
        else:
            result = self.raw(action, "invite_participants", survey_id, tids, True)
        return self._mail_outcomes(action, result)

    def _mail_outcomes(self, action: str, result: Any) -> dict[int, MailOutcome]:
        """Per-participant outcomes from invite/remind answers.

        LimeSurvey answers `{"<tid>": {"status": "OK"|"fail", "error": ...}, "status": "N left
        to send"}` even when every mail failed; "No candidate tokens" means nobody was eligible.
        """
        if not isinstance(result, dict):
            raise LimeSurveyError(
                f"Réponse inattendue de LimeSurvey pendant « {action} » : "
                f"{self.scrub(repr(result))[:200]}. {UNCHANGED}"
            )
        status = str(result.get("status", ""))
        if not LEFT_TO_SEND.match(status) and status != "OK":
            refusal = classify_status(action, self.scrub(status))
            if isinstance(refusal, NoCandidatesError):
                return {}
            raise refusal
        outcomes = {}
        for key, entry in result.items():
            if key == "status" or not isinstance(entry, dict):
                continue
            ok = str(entry.get("status", "")).upper() == "OK"
            error = "" if ok else french_mail_error(self.scrub(str(entry.get("error") or "")))
            outcomes[int(key)] = MailOutcome(int(key), ok, error)
        return outcomes

    def summary(self, survey_id: int) -> dict[str, int]:
        result = self.call("bilan des réponses", lambda c: c.get_summary(survey_id))
        # Counters come as ints or numeric strings depending on the server.
        return {key: int(str(value)) for key, value in dict(result or {}).items()}

    def export_json(self, survey_id: int) -> list[dict[str, Any]]:
        def run(client: Client) -> bytes:
            return client.export_responses(
                survey_id, file_format="json", heading_type="code", response_type="short"
            )

        try:
            data = self.call("export des réponses", run)
        except NoResponsesError:
            return []  # active survey, zero responses
        except SurveyNotActiveError:
            raise LimeSurveyError(
                f"Le questionnaire n°{survey_id} n'est pas activé sur LimeSurvey : activez-le "
                "(ou relancez qualipipe survey deploy … --remplacer)."
            ) from None
        except binascii.Error:
            raise LimeSurveyError(
                f"L'export des réponses du questionnaire n°{survey_id} est illisible (base64 "
                "invalide). Relancez ; si cela persiste, exportez les réponses à la main."
            ) from None
        return parse_json_export(data, survey_id)


# ---------------------------------------------------------------------------------------------
# Export files
# ---------------------------------------------------------------------------------------------


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
