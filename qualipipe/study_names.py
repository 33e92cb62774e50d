"""Who a study knows by name, and the words that are never names, for the pseudonymiser.

The study names people in three places: the manifest (`nom`, `enqueteur`) and the speaker
labels of its transcripts (« Mat Pires (ENQ) », « Benoît du Breuil-de-Pont-en-Auge »,
« Christine »). `qualipipe.pseudonymize` hides every one of them wherever they are written.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Iterable

from qualipipe.nlp import common_french_words
from qualipipe.records import Participant
from qualipipe.text import fold_aligned

# Civilities kept out of single-piece rules: « M. Petit » is a name, « Petit » alone may not be.
TITLES = frozenset(
    {"m", "mme", "mlle", "mr", "mrs", "monsieur", "madame", "mademoiselle", "dr", "docteur",
     "pr", "professeur", "me", "maitre"}
)  # fmt: skip
# Functions and titles: an entity made only of these (and articles) is not a person.
FUNCTIONS = TITLES | frozenset(
    {"le", "la", "les", "l", "de", "du", "des", "d", "maire", "adjoint", "adjointe", "president",
     "presidente", "prefet", "prefete", "depute", "deputee", "senateur", "senatrice", "ministre",
     "directeur", "directrice", "conseiller", "conseillere", "elu", "elue", "madame", "monsieur",
     "bonjour", "merci", "cher", "chere", "chers", "cheres", "mesdames", "messieurs", "sous",
     "vice", "general", "generale", "delegue", "deleguee", "secretaire", "tresorier",
     "tresoriere", "commissaire", "enqueteur", "enquetrice", "intervenant", "intervenante"}
)  # fmt: skip
# Role markers written beside or instead of a name in speaker labels, and the names of the
# Praat tiers that are no speaker (CFPP2000: « Turns », « Comments », « Sections »).
ROLE_WORDS = FUNCTIONS | frozenset(
    {"enq", "enquete", "int", "interviewer", "intervieweur", "intervieweuse", "animateur",
     "animatrice", "question", "q", "spk", "speaker", "locuteur", "locutrice", "acteur",
     "actrice", "fondateur", "fondatrice", "participant", "participante", "interviewe",
     "interviewee", "repondant", "repondante", "temoin", "reponse", "r", "personne", "homme",
     "femme", "public", "salle", "intervention", "inconnu", "inconnue", "turns", "x",
     "comments", "sections", "tous", "mere", "pere", "interlocuteur", "interlocutrice"}
)  # fmt: skip
# Lower-case words joining the pieces of a place name (Saint-Trojan-les-Bains, Vic-sur-Seille).
PLACE_JOINERS = frozenset({"les", "sur", "sous", "en", "lès", "aux", "le", "la", "de", "du"})
BRACKETED = re.compile(r"\[[^\]]*\]|\([^)]*\)")
_PIECE = re.compile(r"[^\W_]+")


def listed_interviewers(value: str) -> list[str]:
    """The names a manifest's « enqueteur » cell lists (« A | B », « A et B », « OU »)."""
    return [n.strip() for n in re.split(r"[|;,/]|\bet\b", value) if n.strip()]


def interviewer_names(participants: Iterable[Participant]) -> list[str]:
    """People named in the manifest's « enqueteur » column, as names to hide: initials (« OU »)
    are too short to be looked for in texts."""
    return sorted(
        {
            name
            for p in participants
            for name in listed_interviewers(p.interviewer)
            if len(name) >= 3
        }
    )


def interviewer_labels(conn: sqlite3.Connection) -> list[str]:
    """Names in the speaker labels of interviewer turns (« Mat Pires (ENQ) » -> « Mat Pires »):
    an interviewer the manifest does not list is hidden all the same."""
    return label_names(conn, "is_interviewer = 1", frozenset())


def speaker_label_names(conn: sqlite3.Connection, pseudonyms: frozenset[str]) -> list[str]:
    """Names in the speaker labels of the other turns: the second person of a two-person
    interview, named again in the text (« [rire de Katia] »). Labels stored with a
    participant's pseudonym (ingest may write them so) name nobody."""
    return label_names(conn, "is_interviewer = 0", pseudonyms)


def label_names(conn: sqlite3.Connection, which: str, pseudonyms: frozenset[str]) -> list[str]:
    names = set()
    for (label,) in conn.execute(
        f"SELECT DISTINCT speaker FROM segments WHERE {which} AND speaker != ''"
    ):
        name = BRACKETED.sub(" ", str(label))
        for pseudonym in pseudonyms:
            name = name.replace(pseudonym, " ")
        if found := name_in_label(name):
            names.add(found)
    return sorted(names)


def name_in_label(label: str) -> str:
    """The name a speaker label holds, written as in the texts (« Sonia Branca enq » -> « Sonia
    Branca »), or "" for a role alone (« Enquêtrice », « la mère », « speaker#2 »).

    Role words are dropped where they frame the name; a lower-case particle inside it stays
    (« Benoît du Breuil-de-Pont-en-Auge », « Lucie da Silva »): the text writes it so."""
    words = [w for w in label.split() if _PIECE.search(w)]
    roles = [all(fold_aligned(p) in ROLE_WORDS for p in _PIECE.findall(w)) for w in words]
    named = [i for i, (w, role) in enumerate(zip(words, roles, strict=True)) if not role]
    if not named:
        return ""
    kept = [
        w
        for i, (w, role) in enumerate(zip(words, roles, strict=True))
        if named[0] <= i <= named[-1] and (not role or w.islower())
    ]
    pieces = [p for w in kept for p in _PIECE.findall(w) if fold_aligned(p) not in ROLE_WORDS]
    if not any(len(p) >= 2 and p[0].isupper() for p in pieces):
        return ""
    return " ".join(kept)


def is_place_like(name: str) -> bool:
    """« Saint-Trojan-les-Bains »: a hyphenated name joined by lower-case words is a place."""
    return any(
        "-" in part and any(j in PLACE_JOINERS for j in part.lower().split("-")[1:-1])
        for part in name.split()
    )


def name_piece_warnings(participants: Iterable[Participant]) -> list[str]:
    """French notes on name pieces that are also common words or place names, for the analyst."""
    common = common_french_words()
    words: dict[str, set[str]] = defaultdict(set)
    places: set[str] = set()
    for participant in participants:
        names = [participant.real_name, *interviewer_names([participant])]
        for name in filter(None, (n.strip() for n in names)):
            if is_place_like(name):
                places.add(name)
                continue
            for piece in _PIECE.findall(name):
                if len(piece) >= 3 and fold_aligned(piece) in common:
                    words[fold_aligned(piece)].add(piece.capitalize())
    notes = []
    if words:
        shown = ", ".join(f"« {min(v)} »" for _, v in sorted(words.items()))
        notes.append(
            f"{len(words)} élément(s) de nom sont aussi des mots courants ({shown}) : ils ne "
            "sont remplacés que dans un nom complet, après une civilité (M., Mme…) ou avec une "
            "majuscule en milieu de phrase ; leur emploi ordinaire (« un petit commerce ») est "
            "gardé."
        )
    if places:
        notes.append(
            f"{len(places)} nom(s) ressemblent à des noms de lieu (ex. « {min(places)} ») : seul "
            "le nom complet est remplacé, jamais ses morceaux (« les », « sur »…)."
        )
    return notes
