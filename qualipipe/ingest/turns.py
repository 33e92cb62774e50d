"""What readers produce: speaker turns (offsets into the stored text) and the role labels that
say who is asking the questions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from qualipipe.records import Span
from qualipipe.text import fold_key

INTERVIEWER = "interviewer"
INTERVIEWEE = "interviewee"

# Labels that name the interviewer's role rather than a person (compared accent/case-folded).
INTERVIEWER_LABELS = frozenset(
    {
        "q",
        "question",
        "enq",
        "enqueteur",
        "enquetrice",
        "enqueteur·rice",
        "enqueteur.rice",
        "enqueteur-rice",
        "intervieweur",
        "intervieweuse",
        "interviewer",
        "animateur",
        "animatrice",
        "chercheur",
        "chercheuse",
    }
)
INTERVIEWEE_LABELS = frozenset({"r", "reponse", "interviewe", "interviewee", "enquete", "enquetee"})


@dataclass(frozen=True)
class Piece(Span):
    """A timed stretch of a turn (one subtitle cue, one TextGrid interval...)."""

    start_time: float | None = None
    end_time: float | None = None


@dataclass(frozen=True)
class Turn(Span):
    """What one speaker said without interruption: `text[start:end]`."""

    speaker: str = ""
    section: str = ""
    role: str = ""  # INTERVIEWER / INTERVIEWEE when the format says so
    pieces: tuple[Piece, ...] = ()

    @property
    def start_time(self) -> float | None:
        return self.pieces[0].start_time if self.pieces else None

    @property
    def end_time(self) -> float | None:
        return self.pieces[-1].end_time if self.pieces else None


@dataclass(frozen=True)
class ReadTranscript:
    text: str
    turns: tuple[Turn, ...]  # speaker turns, for interviews
    format: str
    encoding: str = ""
    # The same text cut at paragraphs, speaker labels ignored: what a written source is made of.
    # Empty for timed formats, whose turns are used instead.
    paragraphs: tuple[Turn, ...] = ()


@dataclass(frozen=True)
class Utterance:
    """One timed piece of speech, before grouping into turns: every timed format (subtitles,
    Transcriber, Praat, CFPP2000) gives its start and end, in seconds."""

    speaker: str
    text: str
    start_time: float
    end_time: float
    section: str = ""
    role: str = ""


def is_interviewer_label(label: str) -> bool:
    folded = fold_key(label).strip(" .:-*[]()")
    return folded in INTERVIEWER_LABELS or "(enq)" in fold_key(label) or folded.startswith("enq ")


MIN_QUESTIONS_TO_GUESS = 5  # a guess on fewer questions would be a coin toss


def likely_interviewer(turns: Sequence[Turn], text: str) -> str:
    """The speaker label that asks clearly the most questions (turns ending with « ? »), or "".$

    Only a hint for the analyst (what to write in the manifest's `enqueteur` column when no
    interviewer was recognised), never used to mark turns: a wrong guess would take the
    participant's own words out of the coding.
    """
    asked = Counter(
        t.speaker for t in turns if t.speaker and t.within(text).rstrip(" .…»\n").endswith("?")
    )
    ranked = asked.most_common(2)
    if not ranked or ranked[0][1] < MIN_QUESTIONS_TO_GUESS:
        return ""
    if len(ranked) > 1 and ranked[0][1] < 2 * ranked[1][1]:
        return ""
    return ranked[0][0]
