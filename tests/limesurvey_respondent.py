"""A respondent going through LimeSurvey's public pages with `requests` (no JavaScript).

LimeSurvey renders each question of a page with the relevance it computed on the server from the
answers already saved: an irrelevant question is in the page with the classes
`ls-irrelevant ls-hidden` (and its hidden `relevance<qid>` input is empty). That is what a
respondent sees once the page script has run, so `shown()` reads it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests
from lxml import html

from qualipipe.surveys.instruments import Group, Instrument, Question, QuestionType


@dataclass
class Placed:
    """Where LimeSurvey put a question: its ids, hence its field names (SGQA)."""

    gid: int
    qid: int
    sgqa: str


def placed_questions(client: Any, sid: int) -> dict[str, Placed]:
    """Question code → ids on the server (`list_questions`)."""
    return {
        str(q["title"]): Placed(int(q["gid"]), int(q["qid"]), f"{sid}X{q['gid']}X{q['qid']}")
        for q in client.list_questions(sid)
        if int(q["parent_qid"]) == 0
    }


def some_answer(question: Question, sgqa: str) -> dict[str, str]:
    """A valid answer to `question` (for mandatory questions on the way)."""
    kind = question.type
    if kind in (QuestionType.LIST, QuestionType.DROPDOWN):
        return {sgqa: question.options[0].code}
    if kind is QuestionType.FIVE_POINT:
        return {sgqa: "3"}
    if kind is QuestionType.YES_NO:
        return {sgqa: "Y"}
    if kind is QuestionType.MULTIPLE_CHOICE:
        return {sgqa + question.subquestions[0].code: "Y"}
    if kind in (QuestionType.ARRAY_5,):
        return {sgqa + sub.code: "3" for sub in question.subquestions}
    if kind is QuestionType.ARRAY:
        return {sgqa + sub.code: question.options[0].code for sub in question.subquestions}
    return {sgqa: "Réponse de test."}


@dataclass
class Respondent:
    site: str
    sid: int
    token: str
    instrument: Instrument
    placed: dict[str, Placed]
    session: requests.Session = field(default_factory=requests.Session)
    page: Any = None
    hidden: dict[str, str] = field(default_factory=dict)

    def start(self) -> Respondent:
        """Open the personal link, then leave the welcome page."""
        self._read(
            self.session.get(
                f"{self.site}/index.php/{self.sid}",
                params={"token": self.token, "lang": "fr"},
                timeout=60,
            )
        )
        return self.move("movenext", {})

    def _read(self, response: requests.Response) -> None:
        response.raise_for_status()
        self.page = html.fromstring(response.text)
        forms = self.page.xpath('//form[@id="limesurvey"]')
        assert forms, f"no survey form in the page: {response.text[:300]}"
        # Every hidden input the page carries (CSRF token, LEMpostKey, step, relevance…).
        self.hidden = {
            str(i.get("name")): str(i.get("value") or "")
            for i in forms[0].iter("input")
            if i.get("type") == "hidden" and i.get("name")
        }

    def move(self, move: str, answers: dict[str, str]) -> Respondent:
        data = dict(self.hidden)
        for name, value in answers.items():
            data[name] = value
            data["java" + name] = value  # what the page script would mirror
        data["move"] = move
        self._read(self.session.post(f"{self.site}/index.php/{self.sid}", data=data, timeout=60))
        return self

    @property
    def group(self) -> Group:
        qids = {
            int(i[len("question") :])
            for i in self.page.xpath("//div[@id]/@id")
            if i.startswith("question") and i[8:].isdigit()
        }
        for group in self.instrument.groups:
            if any(self.placed[q.code].qid in qids for q in group.questions):
                return group
        raise AssertionError("the page shows none of the instrument's questions")

    def required(self, group: Group) -> dict[str, str]:
        answers: dict[str, str] = {}
        for question in group.questions:
            if question.mandatory:
                answers.update(some_answer(question, self.placed[question.code].sgqa))
        return answers

    def go_to(self, code: str) -> Respondent:
        """Answer the mandatory questions of each page until the page holding `code`."""
        for _ in range(len(self.instrument.groups)):
            if any(q.code == code for q in self.group.questions):
                return self
            self.move("movenext", self.required(self.group))
        raise AssertionError(f"{code} never reached")

    def shown(self, code: str) -> bool:
        qid = self.placed[code].qid
        [div] = self.page.xpath(f'//div[@id="question{qid}"]')
        classes = str(div.get("class") or "").split()
        return "ls-irrelevant" not in classes and "ls-hidden" not in classes
