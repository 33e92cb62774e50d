"""An in-process LimeSurvey 6.4.2 RemoteControl (JSON-RPC) server for tests.

It reproduces what the recorded real traffic in `../shared/fixtures/limesurvey/` shows (and needs
none of those files to run):
- envelope `{"id","result","error"}` without `jsonrpc`, id echoed, lower-case
  `content-type: application/json`, non-ASCII and slashes escaped like PHP's json_encode;
- application errors as HTTP 200 `result: {"status": "..."}` with the server's exact wording
  (which differs between methods: "Error: Invalid survey ID", "Invalid surveyid",
  "No permission"...); `error` only for a body that is not JSON;
- HTTP 500 with an HTML page for an unknown method, too few params or `attributes=true`;
- HTTP 200 with an empty `text/html` body when RPC is disabled, for a non-JSON content type or a
  request without id;
- `import_survey` renumbers groups and questions and silently picks another id when the desired
  one is taken; `add_participants` returns tids as strings, `add_response` the id as a string;
- `export_responses`: base64 of the file; JSON `{"responses": [flat rows]}` with `id` and
  `lastpage` as ints; CSV in UTF-8 with BOM, `;`, every field quoted, CRLF, a trailing blank
  line, CRLF inside values turned into LF; "No Data, could not get max id." for zero responses;
- `invite_participants` / `remind_participants`: per-tid outcome dicts plus
  `"status": "N left to send"` even when every mail failed (no mail server by default);
- `get_summary`: `[]` when inactive, 3 counters without a participant table, 9 with one.

Like the real 6.4.2 (see `../shared/limesurvey/README.md`): three refused logins lock every login
for the next calls (`clear_failed_logins()` lifts it, as emptying `lime_failed_login_attempts`
does); RPC `add_response` never marks the participant completed (only the web pages do:
`complete_on_the_web()`); an imported survey keeps the .lss id when it is free; condition rows
in an imported .lss replace the questions' relevance, rebuilt as LimeSurvey 6.4.2 does (an AND
of one variable per condition field, wrong for multiple choice).

Failures can be injected: wrong password (any other than the configured one), RPC disabled,
stalled answers (timeouts), expired session keys, a survey deleted behind the study's back, a
connection cut after the server did the work (`cut`), an import cut half-way (`cut(...,
half=True)`: an inactive survey with part of its questions stays), errors that echo the request
(`echo_errors`), answers whose id does not match the request's (`mismatch_ids`).
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import random
import re
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

ENDPOINT = "/index.php/admin/remotecontrol"
FIXED = ("id", "submitdate", "lastpage", "startlanguage", "seed", "token", "startdate", "datestamp")
HTML_ERROR_PAGE = (
    '\n\n<!DOCTYPE html>\n<html lang="en" dir="ltr">\n<head><meta http-equiv="content-type" '
    'content="text/html; charset=UTF-8"/><title>Internal Server Error</title></head>\n<body>'
    "<h1>Internal Server Error</h1><p>ArgumentCountError</p></body></html>\n"
)
NOT_A_SURVEY = "Error: This is not a valid LimeSurvey survey structure XML file."
MAIL_ERROR = "Could not instantiate mail function."
LOCKOUT = (
    "You have exceeded the number of maximum login attempts. Please wait 10 minutes before "
    "trying again."
)
MAX_LOGIN_ATTEMPTS = 3


def php_json(value: Any) -> str:
    """json_encode as PHP does it: \\uXXXX escapes and escaped slashes."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":")).replace("/", "\\/")


def _now() -> str:
    return datetime.now().strftime("%Y-%m-%d %H:%M:%S")


@dataclass
class Field:
    """One column of the response table."""

    sgqa: str  # 424242X10X78NOM
    heading: str  # IDENT[NOM]
    qtype: str
    title: str
    aid: str
    gid: int
    qid: int


@dataclass
class FakeSurvey:
    sid: int
    title: str
    language: str
    questions: list[dict[str, Any]]  # questions and subquestions, as list_questions gives them
    fields: list[Field]
    properties: dict[str, Any]
    active: bool = False
    has_tokens: bool = False
    attribute_count: int = 0
    participants: list[dict[str, Any]] = field(default_factory=list)
    responses: list[dict[str, Any]] = field(default_factory=list)
    lss: bytes = b""
    answer_options: dict[int, dict[str, Any]] = field(default_factory=dict)


class _StatusError(Exception):
    """Answered as HTTP 200 with result {"status": message}."""


class _HttpCrash(Exception):
    """Answered as HTTP 500 with an HTML page (PHP Error escaping the JSON-RPC wrapper)."""


class FakeLimeSurvey:
    """Start with `with FakeLimeSurvey() as server:`; `server.url` is the endpoint."""

    def __init__(self, username: str = "admin", password: str = "mot-de-passe") -> None:
        self.username = username
        self.password = password
        self.rpc_enabled = True
        self.mail_works = False  # like the recorded server: no MTA, every send fails
        self.failing_emails: set[str] = set()  # when mail works, these addresses still fail
        self.surveys: dict[int, FakeSurvey] = {}
        self.sessions: set[str] = set()
        self.calls: list[str] = []  # method names, in order
        self.stalls: dict[str, int] = {}  # method -> how many upcoming calls to stall
        self.stall_seconds = 0.0
        self.cuts: dict[str, int] = {}  # method -> how many upcoming calls to cut after doing them
        self.cut_half = False  # a cut import leaves part of the survey only
        self.failed_logins = 0
        self.echo_errors = False  # answer every call with an error echoing the request
        self.mismatch_ids = False  # answer with another id than the request's
        self._next_gid = 10
        self._next_qid = 76
        self._lock = threading.RLock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> FakeLimeSurvey:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                fake._handle(self)

            def log_message(self, *args: object) -> None:  # keep test output clean
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, at every test's teardown.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def url(self) -> str:
        return self.base_url + ENDPOINT

    # -- fault injection -----------------------------------------------------------------------

    def expire_sessions(self) -> None:
        """Every session key becomes invalid (LimeSurvey's idle expiry)."""
        with self._lock:
            self.sessions.clear()

    def stall(self, method: str, times: int, seconds: float) -> None:
        """The next `times` calls of `method` answer only after `seconds`."""
        self.stalls[method] = times
        self.stall_seconds = seconds

    def cut(self, method: str, times: int = 1, *, half: bool = False) -> None:
        """The next `times` calls of `method` are done, then the connection is closed unanswered.

        `half` (import only): the server dies mid-import, leaving an inactive survey with its
        groups and one question, as a killed LimeSurvey does.
        """
        self.cuts[method] = times
        self.cut_half = half

    def clear_failed_logins(self) -> None:
        self.failed_logins = 0

    def complete_on_the_web(self, sid: int, token: str) -> None:
        """What a respondent submitting through the public pages does to the participant."""
        with self._lock:
            for p in self.surveys[sid].participants:
                if p["token"] == token:
                    p["completed"] = _now()[:16]
                    p["usesleft"] = 0

    def delete_behind_the_back(self, sid: int) -> None:
        with self._lock:
            self.surveys.pop(sid, None)

    # -- HTTP ----------------------------------------------------------------------------------

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        content_type = request.headers.get("Content-Type", "")
        if (
            request.path != ENDPOINT
            or not self.rpc_enabled
            or "application/json" not in content_type
        ):
            self._send(request, 200, b"", "text/html; charset=UTF-8")
            return
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            envelope = '{"id":null,"result":null,"error":"unable to decode malformed json"}'
            self._send(request, 200, envelope.encode(), "application/json")
            return
        if not isinstance(payload, dict) or payload.get("id") is None:
            self._send(request, 200, b"", "text/html; charset=UTF-8")  # a notification
            return
        method = str(payload.get("method", ""))
        params = list(payload.get("params") or [])
        self.calls.append(method)
        if self.echo_errors:
            echo = {"id": payload["id"], "result": None, "error": f"echo: {body.decode()}"}
            self._send(request, 200, php_json(echo).encode("ascii"), "application/json")
            return
        if self.stalls.get(method, 0) > 0:
            self.stalls[method] -= 1
            time.sleep(self.stall_seconds)
        cut = self.cuts.get(method, 0) > 0
        if cut:
            self.cuts[method] -= 1
        try:
            result = self._dispatch(method, params)
        except _HttpCrash:
            self._send(request, 500, HTML_ERROR_PAGE.encode(), "text/html; charset=UTF-8")
            return
        except _StatusError as status:
            result = {"status": str(status)}
        if cut:
            if method == "import_survey" and self.cut_half and isinstance(result, int):
                self._leave_half(result)
            request.close_connection = True  # closed without a word: the client sees a reset
            return
        request_id = payload["id"] if not self.mismatch_ids else int(payload["id"]) + 1
        if method == "export_responses" and isinstance(result, str):
            # Big results are streamed: note the space after the first comma.
            text = f'{{"id":{php_json(request_id)}, "result":{php_json(result)},"error":null}}'
        else:
            text = php_json({"id": request_id, "result": result, "error": None})
        self._send(request, 200, text.encode("ascii"), "application/json")

    @staticmethod
    def _send(request: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        try:
            request.send_response(status)
            request.send_header("Access-Control-Allow-Origin", "*")
            header = "content-type" if content_type == "application/json" else "Content-type"
            request.send_header(header, content_type)
            request.send_header("Content-Length", str(len(body)))
            request.end_headers()
            request.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a simulated timeout): nobody to answer

    def _leave_half(self, sid: int) -> None:
        survey = self.surveys[sid]
        top = [q for q in survey.questions if q["parent_qid"] == 0]
        survey.questions = top[:1]
        survey.fields = [f for f in survey.fields if f.qid == top[0]["qid"]]

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        handler: Callable[..., Any] | None = getattr(self, f"rpc_{method}", None)
        if handler is None:
            raise _HttpCrash(method)
        required = handler.__code__.co_argcount - 1 - len(handler.__defaults__ or ())
        if len(params) < required:
            raise _HttpCrash(method)  # PHP ArgumentCountError
        with self._lock:
            if method != "get_session_key" and params[0] not in self.sessions:
                raise _StatusError("Invalid session key")
            return handler(*params)

    def _survey(self, sid: Any, message: str = "Error: Invalid survey ID") -> FakeSurvey:
        survey = self.surveys.get(int(sid)) if str(sid).isdigit() else None
        if survey is None:
            raise _StatusError(message)
        return survey

    # -- session and site ----------------------------------------------------------------------

    def rpc_get_session_key(self, username: str, password: str, plugin: str = "Authdb") -> Any:
        if self.failed_logins >= MAX_LOGIN_ATTEMPTS:
            raise _StatusError(LOCKOUT)  # the right password included
        if username != self.username or password != self.password:
            self.failed_logins += 1
            raise _StatusError("Invalid user name or password")
        key = "".join(random.choices(string.ascii_letters + string.digits, k=32))
        self.sessions.add(key)
        return key

    def rpc_release_session_key(self, key: str) -> str:
        self.sessions.discard(key)
        return "OK"

    def rpc_get_site_settings(self, key: str, name: str) -> Any:
        return {"versionnumber": "6.4.2", "dbversionnumber": 620}.get(name)

    # -- surveys -------------------------------------------------------------------------------

    def rpc_import_survey(
        self, key: str, data: str, file_type: str, new_name: str | None = None, sid: Any = None
    ) -> int:
        try:
            document = etree.fromstring(base64.b64decode(data, validate=True))
        except (binascii.Error, etree.XMLSyntaxError, ValueError):
            raise _StatusError(NOT_A_SURVEY) from None
        if document.tag != "document" or document.findtext("LimeSurveyDocType") != "Survey":
            raise _StatusError(NOT_A_SURVEY)
        if document.find("surveys") is None or document.find("questions") is None:
            raise _StatusError(NOT_A_SURVEY)
        # Without a wanted id, LimeSurvey keeps the one in the file when it is free.
        in_file = document.findtext("./surveys/rows/row/sid") or ""
        wanted = int(sid) if sid not in (None, "") else int(in_file) if in_file.isdigit() else None
        new_sid = wanted if wanted and wanted not in self.surveys else self._free_sid()
        survey = self._build_survey(document, new_sid, new_name)
        self.surveys[new_sid] = survey
        return new_sid

    def _free_sid(self) -> int:
        while True:
            candidate = random.randint(100000, 999999)
            if candidate not in self.surveys:
                return candidate

    def _build_survey(self, document: etree._Element, sid: int, new_name: str | None) -> FakeSurvey:
        def rows(table: str) -> list[dict[str, str]]:
            return [
                {cell.tag: cell.text or "" for cell in row if isinstance(cell.tag, str)}
                for row in document.findall(f"./{table}/rows/row")
            ]

        texts = {r["qid"]: r for r in rows("question_l10ns")}
        gid_map: dict[str, int] = {}
        for group in sorted(rows("groups"), key=lambda r: int(r.get("group_order") or 0)):
            gid_map[group["gid"]] = self._next_gid
            self._next_gid += 1
        qid_map: dict[str, int] = {}
        top = sorted(
            rows("questions"),
            key=lambda r: (list(gid_map).index(r["gid"]), int(r.get("question_order") or 0)),
        )
        subs = rows("subquestions")
        for r in top:
            qid_map[r["qid"]] = self._next_qid
            self._next_qid += 1
        for r in subs:
            qid_map[r["qid"]] = self._next_qid
            self._next_qid += 1
        answers: dict[str, list[dict[str, str]]] = {}
        answer_texts = {r["aid"]: r.get("answer", "") for r in rows("answer_l10ns")}
        for a in rows("answers"):
            answers.setdefault(a["qid"], []).append(a)
        attributes = {
            (r["qid"], r["attribute"]): r.get("value", "") for r in rows("question_attributes")
        }
        rebuilt = self._relevance_from_conditions(rows("conditions"), {r["qid"]: r for r in top})
        listed: list[dict[str, Any]] = []
        fields: list[Field] = []
        for r in top:
            if r["qid"] in rebuilt:
                r = {**r, "relevance": rebuilt[r["qid"]]}
            gid, qid = gid_map[r["gid"]], qid_map[r["qid"]]
            sgq = f"{sid}X{gid}X{qid}"
            own_subs = sorted(
                (s for s in subs if s["parent_qid"] == r["qid"]),
                key=lambda s: int(s.get("question_order") or 0),
            )
            qtype, title = r["type"], r["title"]
            listed.append(self._listed(r, texts, sid, gid, qid, 0))
            for s in own_subs:
                listed.insert(0, self._listed(s, texts, sid, gid, qid_map[s["qid"]], qid))
            if qtype == "R":
                slots = len(answers.get(r["qid"], []))
                limit = attributes.get((r["qid"], "max_subquestions"))
                if limit:
                    slots = min(slots, int(limit))
                for rank in range(1, slots + 1):
                    fields.append(
                        Field(f"{sgq}{rank}", f"{title}[{rank}]", qtype, title, str(rank), gid, qid)
                    )
            elif own_subs:
                for s in own_subs:
                    fields.append(
                        Field(
                            f"{sgq}{s['title']}",
                            f"{title}[{s['title']}]",
                            qtype,
                            title,
                            s["title"],
                            gid,
                            qid,
                        )
                    )
            else:
                fields.append(Field(sgq, title, qtype, title, "", gid, qid))
            if r.get("other") == "Y":
                fields.append(
                    Field(f"{sgq}other", f"{title}[other]", qtype, title, "other", gid, qid)
                )
        settings = (rows("surveys_languagesettings") or [{}])[0]
        survey_row = (rows("surveys") or [{}])[0]
        properties = {
            "sid": sid,
            "active": "N",
            "language": survey_row.get("language", "fr"),
            "anonymized": survey_row.get("anonymized", "N"),
            "usetokens": "N",
            "datestamp": survey_row.get("datestamp", "Y"),
            "alloweditaftercompletion": survey_row.get("alloweditaftercompletion", "N"),
            "attributedescriptions": survey_row.get("attributedescriptions", ""),
            "expires": None,
        }
        return FakeSurvey(
            sid=sid,
            title=new_name or settings.get("surveyls_title", ""),
            language=properties["language"],
            questions=listed,
            fields=fields,
            properties=properties,
            lss=etree.tostring(document),
            answer_options={
                qid_map[old]: {
                    a["code"]: {
                        "answer": answer_texts.get(a["aid"], ""),
                        "assessment_value": 0,
                        "scale_id": int(a.get("scale_id") or 0),
                        "order": int(a.get("sortorder") or 0),
                    }
                    for a in sorted(rows_, key=lambda a: int(a.get("sortorder") or 0))
                }
                for old, rows_ in answers.items()
                if old in qid_map
            },
        )

    @staticmethod
    def _relevance_from_conditions(
        conditions: list[dict[str, str]], questions: dict[str, dict[str, str]]
    ) -> dict[str, str]:
        """What LimeSurvey 6.4.2 writes as relevance for questions with condition rows.

        Rows on one field are OR-ed, different fields AND-ed; a multiple-choice field
        `<sid>X<gid>X<qid>CODE` becomes the variable `<Q>_CODE<value>`, which does not exist
        (recorded: `((E02_LIVRABLEY.NAOK == "Y") and (E02_RESTITY.NAOK == "Y"))`).
        """
        by_question: dict[str, dict[str, list[str]]] = {}
        for c in conditions:
            source = questions.get(c["cqid"], {})
            suffix = re.sub(r"^\d+X\d+X\d+", "", c["cfieldname"])
            variable = source.get("title", c["cqid"]) + (f"_{suffix}{c['value']}" if suffix else "")
            term = f'{variable}.NAOK {c.get("method") or "=="} "{c["value"]}"'
            by_question.setdefault(c["qid"], {}).setdefault(c["cfieldname"], []).append(term)
        return {
            qid: "(" + " and ".join(f"({' or '.join(terms)})" for terms in fields.values()) + ")"
            for qid, fields in by_question.items()
        }

    @staticmethod
    def _listed(
        r: dict[str, str],
        texts: dict[str, dict[str, str]],
        sid: int,
        gid: int,
        qid: int,
        parent: int,
    ) -> dict[str, Any]:
        text = texts.get(r["qid"], {})
        return {
            "id": qid,
            "question": text.get("question", ""),
            "help": text.get("help", ""),
            "language": text.get("language", "fr"),
            "qid": qid,
            "parent_qid": parent,
            "sid": sid,
            "type": r["type"],
            "title": r["title"],
            "preg": "",
            "other": r.get("other", "N"),
            "mandatory": r.get("mandatory", "N"),
            "encrypted": "N",
            "question_order": int(r.get("question_order") or 0),
            "scale_id": 0,
            "same_default": 0,
            "question_theme_name": r.get("question_theme_name") if parent == 0 else None,
            "modulename": "",
            "gid": gid,
            "relevance": r.get("relevance", "1"),
            "same_script": 0,
        }

    def rpc_list_surveys(self, key: str, user: Any = None, *rest: Any) -> Any:
        if not self.surveys:
            raise _StatusError("No surveys found")
        return [
            {
                "sid": s.sid,
                "surveyls_title": s.title,
                "startdate": None,
                "expires": None,
                "active": "Y" if s.active else "N",
            }
            for s in self.surveys.values()
        ]

    def rpc_get_survey_properties(self, key: str, sid: Any, properties: Any = None) -> Any:
        survey = self._survey(sid)
        if not properties:
            return dict(survey.properties)
        return {name: survey.properties.get(name) for name in properties}

    def rpc_set_survey_properties(self, key: str, sid: Any, values: dict[str, Any]) -> Any:
        survey = self._survey(sid)
        survey.properties.update(values)
        return {name: True for name in values}

    def rpc_activate_survey(self, key: str, sid: Any, settings: Any = None) -> Any:
        survey = self._survey(sid)
        if survey.active:
            raise _StatusError("Error: Survey already active")
        survey.active = True
        survey.properties["active"] = "Y"
        return {"status": "OK", "pluginFeedback": None}

    def rpc_activate_tokens(self, key: str, sid: Any, attributes: Any = None) -> Any:
        survey = self._survey(sid)
        survey.has_tokens = True
        survey.attribute_count = max([int(a) for a in attributes or []] or [0])
        return {"status": "OK"}

    def rpc_delete_survey(self, key: str, sid: Any) -> Any:
        self._survey(sid, "No permission")
        del self.surveys[int(sid)]
        return {"status": "OK"}

    def rpc_get_question_properties(
        self, key: str, qid: Any, properties: Any = None, language: Any = None
    ) -> Any:
        for survey in self.surveys.values():
            question = next((q for q in survey.questions if q["qid"] == int(qid)), None)
            if question is None:
                continue
            subs = {
                str(q["qid"]): {"title": q["title"], "question": q["question"], "scale_id": 0}
                for q in survey.questions
                if q["parent_qid"] == int(qid)
            }
            values = {
                **question,
                "answeroptions": survey.answer_options.get(int(qid))
                or "No available answer options",
                "subquestions": subs or "No available answers",
            }
            return {name: values.get(name) for name in (properties or values)}
        raise _StatusError("Error: Invalid questionid")

    def rpc_list_questions(self, key: str, sid: Any, gid: Any = None, language: Any = None) -> Any:
        survey = self._survey(sid)
        return [q for q in survey.questions if gid is None or q["gid"] == int(gid)]

    def rpc_get_fieldmap(self, key: str, sid: Any) -> Any:
        survey = self._survey(sid)
        fieldmap: dict[str, Any] = {}
        for name in FIXED:
            if name == "token" and not (survey.active and survey.has_tokens):
                continue
            fieldmap[name] = {
                "fieldname": name,
                "sid": survey.sid,
                "type": name,
                "gid": "",
                "qid": "",
                "aid": "",
                "title": "",
            }
        for f in survey.fields:
            fieldmap[f.sgqa] = {
                "fieldname": f.sgqa,
                "type": f.qtype,
                "sid": survey.sid,
                "gid": f.gid,
                "qid": f.qid,
                "aid": int(f.aid) if f.aid.isdigit() else f.aid,
                "title": f.title,
            }
        return fieldmap

    # -- participants --------------------------------------------------------------------------

    def _tokens(self, survey: FakeSurvey) -> list[dict[str, Any]]:
        if not survey.has_tokens:
            raise _StatusError("Error: No survey participants table")
        return survey.participants

    def rpc_add_participants(
        self, key: str, sid: Any, data: list[dict[str, Any]], create_tokens: bool = True
    ) -> Any:
        survey = self._survey(sid)
        participants = self._tokens(survey)
        result = []
        for row in data:
            token = row.get("token") or (
                "".join(random.choices(string.ascii_letters + string.digits, k=15))
                if create_tokens
                else ""
            )
            if token and any(p["token"] == token for p in participants):
                result.append(
                    {**row, "errors": {"token": [f'Access code "{token}" has already been taken.']}}
                )
                continue
            record = {
                "sent": "N",
                "remindersent": "N",
                "remindercount": 0,
                "completed": "N",
                "usesleft": 1,
                "emailstatus": "OK",
                "firstname": row.get("firstname", ""),
                "lastname": row.get("lastname", ""),
                "email": row.get("email", ""),
                **{k: v for k, v in row.items() if k.startswith("attribute_")},
                "token": token,
                "language": "",
                "tid": len(participants) + 1,
                "participant_id": None,
                "blacklisted": None,
                "validfrom": None,
                "validuntil": None,
                "mpid": None,
            }
            participants.append(record)
            result.append({**record, "tid": str(record["tid"])})  # tid as a string here
        return result

    def rpc_set_participant_properties(
        self, key: str, sid: Any, query: Any, properties: dict[str, Any]
    ) -> Any:
        survey = self._survey(sid)
        participants = self._tokens(survey)
        if isinstance(query, dict):
            matches = [
                p for p in participants if all(str(p.get(k)) == str(v) for k, v in query.items())
            ]
        else:
            matches = [p for p in participants if p["tid"] == int(query)]
        if len(matches) != 1:
            raise _StatusError("Error: No results were found based on your attributes.")
        matches[0].update(properties)
        return dict(matches[0])

    def rpc_list_participants(
        self,
        key: str,
        sid: Any,
        start: int = 0,
        limit: int = 10,
        unused: bool = False,
        attributes: Any = False,
        conditions: Any = None,
    ) -> Any:
        survey = self._survey(sid)
        participants = self._tokens(survey)
        if attributes is True:
            raise _HttpCrash("attributes=true crashes LimeSurvey 6.4.2 on PHP 8")
        selected = []
        for p in participants:
            if unused and p["completed"] != "N":
                continue
            if conditions and any(
                str(p.get(col)) != str(value) for col, value in conditions.items()
            ):
                continue
            entry = {
                "tid": p["tid"],
                "token": p["token"],
                "participant_info": {
                    "firstname": p["firstname"],
                    "lastname": p["lastname"],
                    "email": p["email"],
                },
            }
            for name in attributes or []:
                entry[name] = p.get(name, "")
            selected.append(entry)
        selected = selected[int(start) : int(start) + int(limit)]
        if not selected:
            raise _StatusError("No survey participants found.")
        return selected

    def _mail(self, survey: FakeSurvey, candidates: list[dict[str, Any]], *, reminder: bool) -> Any:
        if not candidates:
            raise _StatusError("Error: No candidate tokens")
        result: dict[str, Any] = {}
        for p in candidates:
            ok = self.mail_works and p["email"] not in self.failing_emails
            result[str(p["tid"])] = {
                "name": f"{p['firstname']} {p['lastname']}".strip(),
                "email": p["email"],
                "status": "OK" if ok else "fail",
                "warning": None,
                "error": None if ok else MAIL_ERROR,
            }
            if ok and reminder:
                p["remindersent"] = _now()
                p["remindercount"] += 1
            elif ok:
                p["sent"] = _now()
        result["status"] = "0 left to send"
        return result

    def rpc_invite_participants(
        self, key: str, sid: Any, tids: Any = None, email: bool = True
    ) -> Any:
        survey = self._survey(sid)
        participants = self._tokens(survey)
        candidates = [
            p
            for p in participants
            if (tids is None or p["tid"] in [int(t) for t in tids])
            and p["email"]  # a participant without an email is skipped silently
            and (p["sent"] == "N") == bool(email)
        ]
        return self._mail(survey, candidates, reminder=False)

    def rpc_remind_participants(
        self,
        key: str,
        sid: Any,
        min_days: Any = None,
        max_reminders: Any = None,
        tids: Any = False,
        *rest: Any,
    ) -> Any:
        survey = self._survey(sid)
        participants = self._tokens(survey)
        candidates = [
            p
            for p in participants
            if (not tids or p["tid"] in [int(t) for t in tids])
            and p["email"]
            and p["sent"] != "N"
            and p["completed"] == "N"
        ]
        return self._mail(survey, candidates, reminder=True)

    # -- responses -----------------------------------------------------------------------------

    def rpc_add_response(self, key: str, sid: Any, data: dict[str, Any]) -> Any:
        survey = self._survey(sid)
        if not survey.active:
            raise _StatusError("No survey response table")
        known = {f.sgqa: f for f in survey.fields}
        row: dict[str, Any] = {
            "id": len(survey.responses) + 1
            if not survey.responses
            else max(r["id"] for r in survey.responses) + 1
        }
        now = _now()
        row["submitdate"] = data.get("submitdate", now)
        row["lastpage"] = data.get("lastpage", "")
        row["startlanguage"] = survey.language
        row["seed"] = ""
        row["token"] = data.get("token", "")
        row["startdate"] = data.get("startdate", now)
        row["datestamp"] = data.get("datestamp", now)
        for f in survey.fields:
            row[f.heading] = ""
        for name, value in data.items():
            if name in known:
                row[known[name].heading] = "" if value is None else str(value)
        survey.responses.append(row)
        return str(row["id"])  # the participant stays « completed = N », as on 6.4.2

    def rpc_update_response(self, key: str, sid: Any, data: dict[str, Any]) -> Any:
        survey = self._survey(sid)
        if survey.properties.get("alloweditaftercompletion") != "Y":
            raise _StatusError("Survey does not allow edit after completion")
        target = next((r for r in survey.responses if str(r["id"]) == str(data.get("id"))), None)
        if target is None:
            raise _StatusError("Error: Invalid response ID")
        known = {f.sgqa: f for f in survey.fields}
        for name, value in data.items():
            if name in known:
                target[known[name].heading] = "" if value is None else str(value)
            elif name in ("submitdate", "lastpage"):
                target[name] = value
        return True

    def rpc_get_summary(self, key: str, sid: Any, stat: Any = None) -> Any:
        survey = self._survey(sid, "Invalid surveyid")
        if not survey.active:
            return []
        completed = sum(1 for r in survey.responses if r["submitdate"])
        counts: dict[str, int] = {}
        if survey.has_tokens:
            ps = survey.participants
            counts.update(
                token_count=len(ps),
                token_invalid=0,
                token_sent=sum(1 for p in ps if p["sent"] != "N"),
                token_opted_out=0,
                token_completed=sum(1 for p in ps if p["completed"] != "N"),
                token_screenout=0,
            )
        counts.update(
            completed_responses=completed,
            incomplete_responses=len(survey.responses) - completed,
            full_responses=len(survey.responses),
        )
        return counts[stat] if stat else counts

    def rpc_export_responses(
        self,
        key: str,
        sid: Any,
        document_type: str,
        language: Any = None,
        completion: str = "all",
        heading: str = "code",
        answers: str = "short",
        from_id: Any = None,
        to_id: Any = None,
        fields: Any = None,
        options: Any = None,
    ) -> Any:
        survey = self._survey(sid, "No permission")
        if not survey.active:
            raise _StatusError("No Data, survey table does not exist.")
        if not survey.responses:
            raise _StatusError("No Data, could not get max id.")
        rows = [
            r
            for r in survey.responses
            if completion == "all" or (completion == "complete") == bool(r["submitdate"])
        ]
        data = self._csv(survey, rows) if document_type == "csv" else self._json(survey, rows)
        return base64.b64encode(data).decode("ascii")

    def _columns(self, survey: FakeSurvey) -> list[str]:
        fixed = [c for c in FIXED if c != "token" or survey.has_tokens]
        return fixed + [f.heading for f in survey.fields]

    def _json(self, survey: FakeSurvey, rows: list[dict[str, Any]]) -> bytes:
        parts = []
        for r in rows:
            flat = {}
            for column in self._columns(survey):
                value = r.get(column, "")
                if column == "id":
                    flat[column] = int(value)
                elif column == "lastpage":
                    flat[column] = int(value) if str(value).isdigit() else ""
                else:
                    flat[column] = "" if value is None else str(value)
            parts.append(php_json(flat))
        return ('{"responses": [' + ",".join(parts) + "]}").encode("utf-8")

    def _csv(self, survey: FakeSurvey, rows: list[dict[str, Any]]) -> bytes:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        columns = self._columns(survey)
        writer.writerow(columns)
        for r in rows:
            writer.writerow([str(r.get(c, "")).replace("\r\n", "\n") for c in columns])
        buffer.write("\r\n")
        return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")


def add_response_by_code(client: Any, survey_id: int, answers: dict[str, str], **fixed: str) -> int:
    """Add a response with export-style keys (`P04[EMPLOI]`), through get_fieldmap → SGQA.

    Works against the fake and a real LimeSurvey 6 alike (citric maps only top-level codes).
    """
    fieldmap = client.get_fieldmap(survey_id)
    by_heading = {}
    for name, entry in fieldmap.items():
        title, aid = entry.get("title"), entry.get("aid")
        if not title:
            continue
        by_heading[f"{title}[{aid}]" if aid not in ("", None) else title] = name
    data = {by_heading[heading]: value for heading, value in answers.items()}
    data.update(fixed)
    return int(client.add_response(survey_id, data))
