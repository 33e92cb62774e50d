"""Quotes as a reader sees them: the transcription marks taken out of the displayed text.

Transcripts keep the transcriber's conventions (CFPP2000: « + » pauses, « [rire] », « XXX »
inaudible, « /ou, où/ » doubt, « (oui) » overlapping backchannel; exported TextGrids and
Transcriber files: « [pause] », « [mm] », « [toux] », ESLO's « NPERS » for a hidden name) and
speech itself (« euh », « le le », « appr- je sais »). The stored text keeps all of it — segment
offsets, codings and the analysts' decisions rest on it; only what a synthesis or a livrable
quotes goes through `readable_quote`. The words said stay as said, in their order.
"""

from __future__ import annotations

import re

from qualipipe.text import fold_key

# Placeholders written by the pseudonymiser, and an editor's cut, stay in the quote.
KEPT_BRACKETS = {"personne", "organisation", "téléphone", "courriel", "adresse", "…", "..."}
BRACKETED = re.compile(r"\[([^\[\]\n]*)\]")
TIMECODE = re.compile(r"[\[(]\s*\d+(?:[:.,]\d+)+(?:\s*[-–]\s*\d+(?:[:.,]\d+)+)?\s*[\])]")
PAUSE = re.compile(r"(?<!\S)\+{1,3}(?!\S)")
INAUDIBLE = re.compile(r"(?<!\w)X{2,}(?!\w)")
# « /ou, où/ »: the transcriber hesitated between spellings; the first is quoted.
DOUBT = re.compile(r"(?<![\w/])/([^/\n,]*),\s*([^/\n]*)/(?![\w/])")
BACKCHANNEL = re.compile(
    r"\((?:oui|ouais|mm+|m?hm+|ah|oh|d'accord|d’accord|voilà|non|ok)\)", re.IGNORECASE
)
HESITATION = re.compile(
    r"(?<![\w'’-])(?:euh+|heu+|euhm|hum+|hm+|m+h|mm+)(?![\w'’-])", re.IGNORECASE
)
FALSE_START = re.compile(r"(?<!\S)[\w'’]{1,6}-(?=\s|$)")  # « appr- », « l'a- »: a word cut off
HIDDEN_NAME = re.compile(r"(?<!\w)NPERS(?!\w)")
# « de de », « qu'ils qu'ils »: a stutter. « très très », « non non » say something: kept.
REPEAT = re.compile(r"(?<![\w'’])([\w]{1,3}|\w+['’]\w+)(?:\s+\1)+(?![\w'’])", re.IGNORECASE)
KEPT_REPEATS = {"non", "oui", "si", "bon", "ah", "oh"}
# Word's symbol-font bullets (« \uf0d8 » in Grand Débat reports) show as empty boxes.
PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


def _bracket(match: re.Match[str]) -> str:
    inside = match.group(1).strip()
    return match.group(0) if inside in KEPT_BRACKETS or not re.search(r"\w", inside) else " "


def _stutter(match: re.Match[str]) -> str:
    word = match.group(1)
    return match.group(0) if word.lower() in KEPT_REPEATS else word


def readable_quote(text: str) -> str:
    """The text without transcription marks, hesitations and stutters, spaces tidied."""
    text = TIMECODE.sub(" ", text)
    text = BRACKETED.sub(_bracket, text)
    text = BACKCHANNEL.sub(" ", text)
    text = DOUBT.sub(lambda m: m.group(1).strip() or m.group(2).strip(), text)
    text = PAUSE.sub(" ", text)
    text = INAUDIBLE.sub("(inaudible)", text)
    text = HIDDEN_NAME.sub("[personne]", text)
    text = HESITATION.sub(" ", text)
    text = FALSE_START.sub(" ", text)
    text = PRIVATE_USE.sub("•", text)
    text = re.sub(r"[^\S\n]+", " ", text)
    text = REPEAT.sub(_stutter, text)
    text = re.sub(
        r" +([,.…])", r"\1", text
    )  # « mais , » left by a removed mark (« : » keeps its space)
    text = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", text)
    return re.sub(r"\s+", " ", text).strip(" ,;")


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def mostly_marks(text: str) -> bool:
    """Whether more than half of the text's words are transcription marks or hesitations."""
    said = len(words(readable_quote(text)))
    return said * 2 < len(words(text))


# What a listener says to keep the other talking, not to say something (« oui oui », « hm »,
# « d'accord », « ah bon », « oui très bien », « je vois »). Folded words.
ACKNOWLEDGEMENTS = {
    "oui", "ouais", "ouai", "non", "si", "ah", "oh", "bon", "bien", "tres", "voila", "d", "accord",
    "ok", "okay", "je", "vois", "tout", "a", "fait", "exactement", "effectivement", "hm", "mm",
    "mh", "hum", "euh", "bah", "ben", "entendu", "super", "merci", "c", "est", "ca", "vrai",
    "sur", "et", "alors", "hein", "quoi", "certainement", "evidemment",
}  # fmt: skip
MAX_ACKNOWLEDGEMENT_WORDS = 6
# Words of transcription marks and hesitations that `readable_quote` takes out. Folded.
MARK_WORDS = {
    "euh", "euhm", "heu", "hum", "hm", "mm", "mh", "mmh", "pause", "rire", "rires", "toux",
    "souffle", "xxx", "npers", "inaudible", "bruit",
}  # fmt: skip
MAX_ACKNOWLEDGEMENT_CHARS = 120  # longer, marks and all, a turn says something


def said_words(text: str) -> list[str]:
    """The words of the readable text (marks out), folded: what was said, for comparing."""
    return words(fold_key(readable_quote(text)))


def telling_words(text: str) -> list[str]:
    """The words of the readable text that are more than an acknowledgement (folded): what a
    quote says beyond « ah oui certainement hein »."""
    return [w for w in said_words(text) if w not in ACKNOWLEDGEMENTS]


def is_acknowledgement(text: str) -> bool:
    """Whether a turn only acknowledges what the other said (« oui oui », « hm », « d'accord »,
    a laugh): a listener's backchannel, no context for a reader."""
    if len(text) > MAX_ACKNOWLEDGEMENT_CHARS:
        return False
    if any(w not in ACKNOWLEDGEMENTS and w not in MARK_WORDS for w in words(fold_key(text))):
        return False  # a word that no cleaning takes out: the turn says something
    said = said_words(text)
    return len(said) <= MAX_ACKNOWLEDGEMENT_WORDS and all(w in ACKNOWLEDGEMENTS for w in said)
