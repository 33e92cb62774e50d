"""Pseudonymisation of every text shown in outputs, readable and still hiding people.

One factory, `pseudonymizer_for(study, policy)`, serves every stage. Names are replaced *as
names*, never as bare substrings:

- a participant's full name and its variants (reversed, initial + surname, civility + surname),
  in any case and with or without accents, is a token sequence replaced by their pseudonym;
- a single name piece (first name alone, surname alone) is replaced when written as a name
  (capitalised or upper case). A piece that is also a French common word or a place-name
  fragment (Petit, Blanc, Claire…) needs more context: capitalised in the middle of a sentence
  and not glued to another capitalised word (« Mont Blanc », « Le Petit Prince »), or, at the
  start of a sentence, followed by a verb (« Claire m'a dit ») or seen as a person by spaCy;
  written in lower case, only inside a transcriber's note (« [christine tousse] »);
- the names the study knows (`qualipipe.study_names`: manifest, interviewers, speaker labels)
  are hidden so in every text, not only in their own interviews;
- without spaCy (`qualipipe.name_context`): a name after a civility (« monsieur Béranger »)
  and people listed with a known name (« Augustin + Ozgur Kiliç ») become `[personne]`;
- other people found by spaCy (`PER`) become `[personne]`, unless the entity is only titles and
  functions (« Monsieur le Maire ») or common words (« VOLONTAIREMENT », « Bonjour »);
- phone numbers, e-mail and postal addresses become `[téléphone]`, `[courriel]`, `[adresse]`.

All names are matched in one pass over the text: a token trie built once from every variant of
every name, so the cost grows with the length of the texts, not with the number of participants.

spaCy reads only the texts where it could find a person this module would hide (see
`may_name_people`), and what it finds can be kept in the study (`person_spans` table, filled by
`remember_person_spans` when `code` reads the texts): a pseudonymiser given the study's
connection then reads it instead of running spaCy again.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache

from qualipipe.database import text_hash
from qualipipe.name_context import (
    NEVER_ALONE,
    WORD,
    Span,
    Token,
    fold_token,
    in_note,
    listed_people,
    may_hold_civility,
    titled_people,
    tokenize,
)
from qualipipe.nlp import common_french_words
from qualipipe.person_spans import (
    cached_person_spans,
    find_and_keep_person_spans,
    find_person_spans,
)
from qualipipe.records import Participant
from qualipipe.store import Study, list_participants
from qualipipe.study_names import (
    BRACKETED,
    FUNCTIONS,
    PLACE_JOINERS,
    ROLE_WORDS,
    TITLES,
    interviewer_labels,
    interviewer_names,
    is_place_like,
    speaker_label_names,
)
from qualipipe.text import fold_aligned

PERSON_PLACEHOLDER = "[personne]"
ORGANISATION_PLACEHOLDER = "[organisation]"
PHONE_PLACEHOLDER = "[téléphone]"
EMAIL_PLACEHOLDER = "[courriel]"
ADDRESS_PLACEHOLDER = "[adresse]"


class Policy(StrEnum):
    """What a text is, hence what is hidden in it."""

    VERBATIM = "verbatim"  # quotes, segments, excerpts: names, contacts, other people (spaCy)
    LABEL = "label"  # file names, speaker labels: names and contacts (NER misreads file names)
    REASON = "reason"  # suggestion reasons: names and contacts, fast (no spaCy)
    KEEP_NAMES = "keep-names"  # the analyst asked for real names: contact details still hidden


# Words that follow a first name opening a sentence (« Claire m'a dit », « Rose est venue »).
NAME_FOLLOWERS = frozenset(
    {"m", "a", "est", "etait", "avait", "nous", "me", "l", "s", "n", "ne", "dit", "disait",
     "pense", "vient", "fait", "travaille", "connait", "sait", "veut", "peut", "doit", "va",
     "sera", "y", "en", "lui", "leur", "et", "qui", "aussi", "elle", "il"}
)  # fmt: skip
_GAP = re.compile(r"[ \t\u00a0]*[-.'’]?[ \t\u00a0]*")
_SENTENCE_END = frozenset(".!?…:\n")
_OPENERS = ' \t\u00a0«"“(-–—•*>'
_CONTACTS = re.compile(
    r"(?P<email>[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
    r"|(?P<phone>(?<![\w+])(?:(?:\+|00)33[ .\-]?(?:\(0\)[ .\-]?)?|0)[1-9](?:[ .\-]?\d{2}){4}(?!\d)"
    r"|(?<![\w+])\+\d{2,3}(?:[ .\-]?\d{2,4}){3,5}(?!\d))"
    r"|(?P<address>\b\d{1,4}(?:[ ]?(?:bis|ter))?,?[ ]+(?:rue|avenue|av\.|boulevard|bd|chemin|"
    r"allée|impasse|place|route|quai|cours|square|lotissement|lieu-dit|voie|passage|"
    r"rond-point|hameau)[ ]+[^\n,;.()]{2,60}(?:,?[ ]+\d{5}[ ]+[A-ZÀ-Ý][\w\-' ]{1,40})?)",
    re.IGNORECASE,
)
_CONTACT_PLACEHOLDERS = {
    "email": EMAIL_PLACEHOLDER,
    "phone": PHONE_PLACEHOLDER,
    "address": ADDRESS_PLACEHOLDER,
}


def _pieces(name: str) -> list[str]:
    return WORD.findall(name)


def name_variants(real_name: str) -> list[str]:
    """Written forms of a full name: as given, reversed, initial + surname, civility + surname."""
    parts = [p for p in re.split(r"\s+", real_name.strip()) if p]
    variants = {real_name.strip()}
    if len(parts) >= 2:
        last = " ".join(parts[1:])
        variants.add(" ".join(reversed(parts)))
        variants.add(f"{parts[-1]} {' '.join(parts[:-1])}")
        variants.add(f"{parts[0][0]}. {last}")
        for civility in ("M.", "Mme", "Mr", "Monsieur", "Madame", "Mlle", "Mademoiselle", "Dr"):
            variants.add(f"{civility} {last}")
            variants.add(f"{civility} {parts[-1]}")
    # A compound first name or surname alone (« Marie-Claire », « Lefèvre-Dubois »).
    variants.update(part for part in parts if len(_pieces(part)) >= 2)
    return sorted((v for v in variants if v), key=len, reverse=True)


@dataclass
class _Entry:
    replacement: str
    single: bool  # one name piece alone
    ambiguous: bool  # the piece(s) are also common words or place fragments: needs context


@dataclass
class _Node:
    children: dict[str, _Node] = field(default_factory=dict)
    entry: _Entry | None = None


@dataclass
class NameIndex:
    """Every variant of every name in one token trie, with the words that need context."""

    common: frozenset[str]
    places: frozenset[str] = frozenset()
    root: _Node = field(default_factory=_Node)
    name_keys: set[str] = field(default_factory=set)
    anchors: set[str] = field(default_factory=set)  # every entry holds one of these words
    # Name piece -> the names (numbered as added) it is a piece of.
    owners: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    names_added: int = 0
    steps: int = 0  # trie steps taken by `find`: the matcher's work, for tests

    def add(
        self,
        tokens: Sequence[str],
        replacement: str,
        *,
        single: bool,
        ambiguous: bool,
        yielding: bool = False,
    ) -> None:
        """`yielding`: an entry already there (a participant's pseudonym) is kept as it is."""
        node = self.root
        for token in tokens:
            node = node.children.setdefault(token, _Node())
        if node.entry is not None and yielding:
            return
        if node.entry is None:
            node.entry = _Entry(replacement, single, ambiguous)
        elif node.entry.replacement != replacement:
            # Two people share this form: say only that it is a person.
            node.entry = _Entry(PERSON_PLACEHOLDER, single, node.entry.ambiguous or ambiguous)

    def add_name(
        self, name: str, replacement: str, places: frozenset[str], *, yielding: bool = False
    ) -> None:
        place_like = is_place_like(name)
        keys = [fold_aligned(p) for p in _pieces(name)]
        # « du », « de » in « Benoît du Breuil-de-Pont-en-Auge » are in nearly every text: the
        # other pieces anchor the name, and every variant holds one (« M. Dupont »).
        pieces = [k for k in keys if k not in PLACE_JOINERS and k not in FUNCTIONS] or keys
        self.name_keys.update(pieces)
        self.anchors.update(pieces)
        for key in pieces:
            self.owners[key].add(self.names_added)
        self.names_added += 1
        common = [k in self.common or k in places or place_like for k in keys]
        for variant in name_variants(name):
            tokens = [fold_aligned(p) for p in _pieces(variant)]
            if len(tokens) >= 2:
                named = [t for t in tokens if t not in TITLES]
                ambiguous = all(t in self.common or t in places for t in named) or place_like
                self.add(tokens, replacement, single=False, ambiguous=ambiguous, yielding=yielding)
        for key, is_common in zip(keys, common, strict=True):
            if len(key) >= 3 and key not in PLACE_JOINERS and key not in FUNCTIONS:
                self.add([key], replacement, single=True, ambiguous=is_common, yielding=yielding)

    def find(self, text: str, tokens: list[Token]) -> tuple[list[Span], list[Span]]:
        """Name spans, and the sentence-initial ambiguous pieces left for spaCy to confirm."""
        spans: list[Span] = []
        pending: list[Span] = []
        i = 0
        while i < len(tokens):
            best: tuple[int, _Entry] | None = None
            node = self.root.children.get(tokens[i].key)
            j = i
            while node is not None:
                self.steps += 1
                if node.entry is not None:
                    best = (j, node.entry)
                j += 1
                if j >= len(tokens) or not _adjacent(text, tokens[j - 1], tokens[j]):
                    break
                node = node.children.get(tokens[j].key)
            if best is None:
                i += 1
                continue
            last, entry = best
            span = (tokens[i].start, tokens[last].end, entry.replacement)
            verdict = self._verdict(text, tokens, i, last, entry)
            if verdict == "yes":
                last = self._surname_after(text, tokens, i, last)
                spans.append((tokens[i].start, tokens[last].end, entry.replacement))
                i = last + 1
                continue
            if verdict == "maybe":
                pending.append(span)
            i += 1
        return spans, pending

    def _surname_after(self, text: str, tokens: list[Token], first: int, last: int) -> int:
        """The last token of the name once the capitalised words written right after it are
        taken in: the manifest says « Marie Helene », the transcript « Marie-Hélène Matera »."""
        words = 0
        while (following := last + 1) < len(tokens):
            token = tokens[following]
            gap = text[tokens[last].end : token.start]
            if gap not in (" ", "-", "\u00a0") or not token.capitalised or len(token.key) < 2:
                break
            # Common words are not excluded: surnames often are (« Matera », « Petit »); the
            # piece of another known name is someone else (« Ozgur Kiliç Sonia Branca »).
            if (
                token.key in FUNCTIONS
                or token.key in self.places
                or self._other_name(token.key, tokens[first : last + 1])
            ):
                break
            # Two more words at most, the pieces of a hyphenated one counted once.
            words += gap != "-"
            if words > 2:
                break
            last = following
        return last

    def _other_name(self, key: str, name: list[Token]) -> bool:
        """`key` is a piece of known names none of which `name`'s words belong to."""
        owners = self.owners.get(key)
        if not owners:
            return False
        return all(owners.isdisjoint(self.owners.get(t.key, ())) for t in name)

    def _verdict(self, text: str, tokens: list[Token], i: int, last: int, entry: _Entry) -> str:
        if not entry.single:
            if not entry.ambiguous:
                return "yes"
            # « Rose Blanc » is a name, « rose blanc » a colour; « Monsieur le » is no name.
            named = [t for t in tokens[i : last + 1] if t.key not in TITLES]
            return "yes" if any(t.capitalised for t in named) else "no"
        token = tokens[i]
        if single_in_compound(text, tokens, i, last):
            return "no"  # « Jean » in « Jean-Pierre » is someone else
        if not entry.ambiguous:
            # A name piece alone is written as a name; « le marais » in lower case is a word
            # even when some participant is called Marais and the lexicon misses it. In a
            # transcriber's note the speakers are named in lower case (« [christine rit] »).
            return "yes" if token.capitalised or in_note(text, token.start) else "no"
        if not token.capitalised or text[token.start : token.end].isupper():
            return "no"  # common use (« un petit commerce »), or shouting (« PETIT »)
        for k in (i - 1, i + 1):
            if 0 <= k < len(tokens):
                neighbour = tokens[k]
                pair = (neighbour, token) if k < i else (token, neighbour)
                glued = _adjacent(text, *pair)
                if glued and neighbour.capitalised and neighbour.key not in self.name_keys:
                    return "no"  # part of another proper noun: « Mont Blanc », « Petit Bateau »
        if token.key in NEVER_ALONE:
            return "no"  # « le marché de Noël »
        if not _sentence_initial(text, token.start):
            return "yes"
        # « Claire m'a dit… »: at the start of a sentence, a name is followed by its verb.
        following = tokens[i + 1].key if i + 1 < len(tokens) else ""
        if following in NAME_FOLLOWERS or _names_a_speaker(text, token.end):
            return "yes"
        return "maybe"


def single_in_compound(text: str, tokens: list[Token], first: int, last: int) -> bool:
    """The match is one piece of a hyphenated compound (« Jean » of « Jean-Pierre »)."""
    before = first > 0 and text[tokens[first - 1].end : tokens[first].start] == "-"
    after = last + 1 < len(tokens) and text[tokens[last].end : tokens[last + 1].start] == "-"
    return before or after


def _adjacent(text: str, left: Token, right: Token) -> bool:
    gap = text[left.end : right.start]
    return len(gap) <= 3 and _GAP.fullmatch(gap) is not None


def _names_a_speaker(text: str, end: int) -> bool:
    """The name alone on its line, or first of a list (« Augustin + Ozgur Kiliç »): how
    transcripts say who speaks (CFPP2000's « Turns » tier)."""
    rest = text[end:].split("\n", 1)[0]
    return rest.strip(" \t\u00a0.") == "" or re.match(r"[ \t\u00a0]*[+&]", rest) is not None


def _sentence_initial(text: str, start: int) -> bool:
    position = start
    while position > 0 and text[position - 1] in _OPENERS:
        position -= 1
    return position == 0 or text[position - 1] in _SENTENCE_END


@cache
def _common_words() -> frozenset[str]:
    return common_french_words()


def may_name_people(
    text: str, common: frozenset[str], names: frozenset[str] | set[str] = frozenset()
) -> bool:
    """Whether spaCy could find in `text` a person `Pseudonymizer` would hide.

    A person span it keeps is made of capitalised words other than titles and functions
    (`FUNCTIONS`): two or more of them, or one that is not a common word (`_person_span`), or a
    common word that is also a piece of a participant's name (folded `names`: spaCy confirms
    « Claire » opening a sentence). A text with none of these need not be read.
    """
    if text.lower() == text:
        return False
    previous_capitalised = False
    for m in WORD.finditer(text):
        token = m.group()
        key = fold_token(token)
        if key in FUNCTIONS:
            continue
        capitalised = token.lower() != token  # an upper-case letter anywhere in the word
        if capitalised and previous_capitalised:
            return True
        if (
            capitalised
            and len(token) >= 2
            and (key not in common or not token.isalpha() or key in names)
        ):
            return True
        previous_capitalised = capitalised
    return False


def _free(spans: Iterable[Span], start: int, end: int) -> bool:
    return all(end <= s or start >= e for s, e, _ in spans)


_CONTACT_HINT = re.compile(r"[\d@]")  # every contact has a digit or an @


def contact_spans(text: str) -> list[Span]:
    if _CONTACT_HINT.search(text) is None:
        return []
    return [
        (m.start(), m.end(), _CONTACT_PLACEHOLDERS[m.lastgroup or "email"])
        for m in _CONTACTS.finditer(text)
    ]


def is_contact(value: str) -> bool:
    """Whether the whole value is one e-mail address, phone number or postal address."""
    value = value.strip()
    return any(start == 0 and end == len(value) for start, end, _ in contact_spans(value))


@dataclass
class Pseudonymizer:
    """Replace real names by pseudonyms, other people by `[personne]`, contacts by placeholders.

    - participants: with `real_name` filled (`list_participants(conn, with_real_names=True)`);
    - extra_names: other people to hide (interviewers), shown as `[personne]`;
    - speaker_names: people named in speaker labels, shown as `[personne]` unless a participant
      has that name (then their pseudonym stays);
    - use_entities: also replace person names found by spaCy NER;
    - keep_names: real names kept (internal working documents); contact details still hidden;
    - hide_organisations: also replace the participants' organisations;
    - places: folded words of place names (territories) that need context like common words;
    - span_cache: the study's connection, to read the person spans `remember_person_spans` kept
      instead of running spaCy (read only: a pseudonymiser never writes to the study).
    """

    participants: Iterable[Participant]
    placeholder: str = PERSON_PLACEHOLDER
    extra_names: Iterable[str] = ()
    speaker_names: Iterable[str] = ()
    use_entities: bool = False
    keep_names: bool = False
    hide_organisations: bool = False
    places: Iterable[str] = ()
    span_cache: sqlite3.Connection | None = None
    index: NameIndex = field(init=False)
    pseudonyms: frozenset[str] = field(init=False)  # stored labels may already show them
    entity_reads: int = field(init=False, default=0)  # texts spaCy read: the costly part, for tests

    def __post_init__(self) -> None:
        places = frozenset(fold_aligned(p) for p in self.places)
        self.index = NameIndex(common=_common_words(), places=places)
        self.participants = list(self.participants)
        self.pseudonyms = frozenset(p.pseudonym for p in self.participants if p.pseudonym)
        for participant in self.participants:
            if participant.real_name.strip():
                self.index.add_name(participant.real_name, participant.pseudonym, places)
            if self.hide_organisations and participant.organisation.strip():
                tokens = [fold_aligned(p) for p in _pieces(participant.organisation)]
                self.index.add(tokens, ORGANISATION_PLACEHOLDER, single=False, ambiguous=False)
                self.index.anchors.update(tokens)
        for name in self.extra_names:
            self.index.add_name(name, self.placeholder, places)
        for name in self.speaker_names:
            self.index.add_name(name, self.placeholder, places, yielding=True)

    def __call__(self, text: str) -> str:
        return self.apply(text)

    def apply(self, text: str) -> str:
        if not text:
            return text
        return self.apply_many([text])[0]

    def apply_many(self, texts: Iterable[str]) -> list[str]:
        """Same as `apply` on each text; spaCy (if used) runs in batches."""
        texts = list(texts)
        return [
            _replace(text, spans) for text, spans in zip(texts, self._all_spans(texts), strict=True)
        ]

    def hide_speakers(self, labels: Iterable[str]) -> list[str]:
        """Speaker labels: names hidden as in verbatims, and then any capitalised word left that
        is no role (« Caroline », « Pierre-Fabien », a second interviewee the manifest does not
        list) is a person too: a label names a person or a role, nothing else."""
        labels = list(labels)
        hidden = []
        for label, spans in zip(labels, self._all_spans(labels), strict=True):
            if not self.keep_names:
                shown = [
                    (at, at + len(pseudonym), pseudonym)
                    for pseudonym in self.pseudonyms
                    if (at := label.find(pseudonym)) >= 0
                ]
                spans = spans + _unnamed_speaker(label, spans + shown, self.placeholder)
            hidden.append(_replace(label, spans))
        return hidden

    def _all_spans(self, texts: Sequence[str]) -> list[list[Span]]:
        found = [self._spans(text) for text in texts]
        if self.use_entities and not self.keep_names:
            common = self.index.common
            todo = [
                i for i, text in enumerate(texts) if found[i][1] or may_name_people(text, common)
            ]
            entities = self._person_entities([texts[i] for i in todo])
            for i, people in zip(todo, entities, strict=True):
                spans, pending = found[i]
                spans.extend(self._entity_spans(texts[i], people, spans, pending))
        return [spans for spans, _ in found]

    def _spans(self, text: str) -> tuple[list[Span], list[Span]]:
        spans = contact_spans(text)
        if self.keep_names or not text:
            return spans, []
        # Most texts hold no piece of any name nor any civility: checked word by word before
        # any token is built (the folding of each distinct word is cached).
        words = set(map(fold_token, WORD.findall(text)))
        named = not self.index.anchors.isdisjoint(words)
        titled = may_hold_civility(text, words)
        if not named and not titled:
            return spans, []
        tokens = tokenize(text)
        names, pending = self.index.find(text, tokens) if named else ([], [])
        names = [s for s in names if _free(spans, s[0], s[1])]  # not inside an e-mail address
        places = self.index.places
        for span in [*names, *listed_people(text, tokens, names, places, self.placeholder)]:
            if _free(spans, span[0], span[1]):
                spans.append(span)
        if titled:
            spans.extend(
                s
                for s in titled_people(text, tokens, places, self.placeholder)
                if _free(spans, s[0], s[1])
            )
        return spans, pending

    def _person_entities(self, texts: Sequence[str]) -> list[list[tuple[int, int]]]:
        """spaCy's person entities in each text: from the study's cache, else found now."""
        digests = [text_hash(text) for text in texts]
        known = cached_person_spans(self.span_cache, digests) if self.span_cache else {}
        missing = {d: t for d, t in zip(digests, texts, strict=True) if d not in known}
        self.entity_reads += len(missing)
        known.update(find_person_spans(missing))
        return [known[d] for d in digests]

    def _entity_spans(
        self, text: str, people: Sequence[tuple[int, int]], spans: list[Span], pending: list[Span]
    ) -> list[Span]:
        found: list[Span] = []
        # A sentence-initial « Claire » of the manifest is a name when spaCy sees a person there.
        confirmed = {(s, e): r for s, e, r in pending}
        for ent_start, ent_end in people:
            span = self._person_span(text, ent_start, ent_end)
            if span is None:
                continue
            start, end, needs_confirmation = span
            if needs_confirmation and (start, end) not in confirmed:
                continue
            if _free(spans + found, start, end):
                found.append((start, end, confirmed.get((start, end), self.placeholder)))
                continue
            # spaCy sees a longer name around a match (« Marie-Hélène Matera » around the
            # manifest's « Marie Helene »): the whole name goes, under the match's replacement.
            # Around several matches, it is a list of people (« Augustin + Ozgur Kiliç »).
            around = [s for s in spans if s[0] < end and start < s[1]]
            if (
                len(around) == 1
                and _free(found, start, end)
                and not any(s[2] in _CONTACT_PLACEHOLDERS.values() for s in around)
            ):
                for s in around:
                    spans.remove(s)
                low, high = min(start, *(s[0] for s in around)), max(end, *(s[1] for s in around))
                found.append((low, high, around[0][2]))
        return found

    def _person_span(self, text: str, start: int, end: int) -> tuple[int, int, bool] | None:
        """The name part of a PER entity (and whether it is only common words), or None when
        it names nobody."""
        if "[" in text[start:end] or "]" in text[start:end]:
            return None  # a placeholder already there
        if "\n" in text[start:end]:
            return None
        tokens = [t for t in tokenize(text[start:end]) if t.key not in FUNCTIONS]
        if not tokens or len(tokens) > 4 or not all(t.capitalised for t in tokens):
            return None
        if all(t.end - t.start < 2 for t in tokens):
            return None  # « H/F », initials alone
        only_common = len(tokens) < 2 and all(t.key in self.index.common for t in tokens)
        return start + tokens[0].start, start + tokens[-1].end, only_common


def _replace(text: str, spans: list[Span]) -> str:
    for start, end, replacement in sorted(spans, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text


def remember_person_spans(study: Study, *, progress: bool = True) -> int:
    """Find and keep the person spans of the study's texts and speaker labels that may name
    people and are not kept yet, so that pseudonymising them later (review export) reads them
    instead of running spaCy.

    Returns how many texts spaCy read.
    """
    common = _common_words()
    names = pseudonymizer_for(study).index.name_keys
    texts = [
        text
        for row in study.conn.execute("SELECT text, speaker FROM segments WHERE retired = 0")
        for text in row
        if text
    ]
    todo = {text_hash(t): t for t in texts if may_name_people(t, common, names)}
    return find_and_keep_person_spans(study, todo, progress=progress)


def _unnamed_speaker(label: str, spans: list[Span], placeholder: str) -> list[Span]:
    """The span of a speaker label's name words no pseudonymiser rule caught (outside `spans`:
    names hidden, pseudonyms shown), if any."""
    outside = [(m.start(), m.end()) for m in BRACKETED.finditer(label)]
    outside += [(start, end) for start, end, _ in spans]
    words = [
        m
        for m in WORD.finditer(label)
        if m.group()[0].isupper()
        and fold_token(m.group()) not in ROLE_WORDS
        and all(m.end() <= start or m.start() >= end for start, end in outside)
    ]
    if not words:
        return []
    return (
        [(words[0].start(), words[-1].end(), placeholder)]
        if _free(spans, words[0].start(), words[-1].end())
        else [(m.start(), m.end(), placeholder) for m in words]
    )


def pseudonymizer_for(
    study: Study | sqlite3.Connection,
    policy: Policy = Policy.VERBATIM,
    *,
    hide_organisations: bool = False,
    cached_entities: bool = False,
) -> Pseudonymizer:
    """The pseudonymiser every stage uses; `policy` says what the texts are.

    `cached_entities`: read the person spans kept in the study (`remember_person_spans`) rather
    than running spaCy on those texts; only for a pseudonymiser used in this process and thread.
    """
    conn = study.conn if isinstance(study, Study) else study
    participants = list_participants(conn, with_real_names=True)
    places: list[str] = []
    if isinstance(study, Study):
        places = [p for t in study.config.territories for p in _pieces(t.name)]
    return Pseudonymizer(
        participants,
        extra_names=[*interviewer_names(participants), *interviewer_labels(conn)],
        speaker_names=speaker_label_names(
            conn, frozenset(p.pseudonym for p in participants if p.pseudonym)
        ),
        use_entities=policy is Policy.VERBATIM,
        keep_names=policy is Policy.KEEP_NAMES,
        hide_organisations=hide_organisations,
        places=places,
        span_cache=conn if cached_entities else None,
    )
