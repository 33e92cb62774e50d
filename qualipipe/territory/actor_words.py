"""Words and name tests for cited organisations: what is a body, a programme, a topic, an
event, a state or a person; the kind of organisation a bare name suggests.

Used by `qualipipe.territory.actors` (finding and grouping mentions).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

from qualipipe.nlp import common_french_words
from qualipipe.records import ActorType
from qualipipe.text import fold_aligned as fold
from qualipipe.text import fold_key

A = ActorType

# Programmes, labels and diplomas that the entity recogniser takes for organisations.
NOT_ORGANISATIONS = {
    "ptce", "pat", "haccp", "poec", "feader", "fse", "fonds social europeen", "ami", "ess",
    "qpv", "rsa", "bts", "cap", "iae", "anru", "npnru", "rgpd", "leader", "bac pro", "covid",
    # taxes, contracts and documents (Grand Débat reports)
    "tva", "ric", "cice", "cdd", "cdi", "cni", "isf", "ifi", "csg", "smic", "apl", "pib", "doc",
    "gdn", "ceta", "tafta", "mercosur", "ppe", "gafa", "gafam", "gafan", "tpe", "pme", "tpe-pme",
    "enr", "linky", "rmi", "tuc", "sto", "ehpad", "epad", "ue", "bepc",
    # anonymisation marks and speaker roles of transcribed corpora (ESLO's NPERS for a person's
    # name, CFPP2000's « (ENQ) » after an interviewer's name)
    "npers", "nville", "xxx", "enq",
    "etat", "bio", "oui", "non",
}  # fmt: skip
# First words of what is not a body: treaties, events, programmes (« Traité de Marrakech »,
# « Réunion Grand Débat »). Folded.
NOT_HEADS = {
    "traite", "scandale", "loi", "plan", "programme", "debat", "reunion", "projet",
    "certificat", "theme", "accord", "pacte", "reforme", "rapport", "revendications",
}  # fmt: skip
# An entity made only of common French words is a topic (« Organisation de l'État »,
# « Démocratie et citoyenneté », « Services publics » in Grand Débat reports) unless its first
# word names an institution (« Cour des comptes », « Secours populaire », « Office national des
# forêts »). Folded.
INSTITUTION_HEADS = {
    "academie", "agence", "amicale", "assemblee", "autorite", "banque", "bureau", "caisse",
    "centre", "chambre", "club", "collectif", "comite", "commission", "compagnie", "confederation",
    "conseil", "conservatoire", "cour", "direction", "eglise", "etablissement", "federation",
    "fondation", "foyer", "groupe", "groupement", "haut", "haute", "institut", "ligue", "maison",
    "maisons", "ministere", "mutuelle", "observatoire", "office", "parti", "radio", "reseau",
    "secours", "senat", "service", "societe", "syndicat", "theatre", "tribunal", "union",
    "education nationale", "restos", "emmaus", "croix",
}  # fmt: skip
# Where an entity recognised in unpunctuated speech runs on: hesitations and the start of the
# next clause (« l'Église euh vous aviez », « Certificat d'Études j'avais douze ans »).
# Lower-case only: « Le » inside a name (« Théâtre Le Colombier ») stays.
RUN_ON = re.compile(
    r"\s(?:euh|heu|hein|ben|bah|bon|oh|ah|hm|mm|machin|quoi|voilà|enfin|je|j'|j’|tu|il|elle|on|"
    r"nous|vous|ils|elles|c'|c’|ça|qui|que|qu'|qu’|dans|pour|avec|par|le|les|un|une|"
    r"notre|votre|leur|nos|vos|leurs|mon|ma|mes|son|sa|ses|ce|cet|cette|ces)(?![\w])"
)
# Separators that end a name: a list dash, quotes, brackets, a hashtag (a slash separates two
# names: `name_pieces`).
NAME_END = re.compile(r"[\n:!?;\"“”«»()#]|\s[-–—]\s")
ARTICLE = r"(?:(?i:(?:le|la|du|au|à la|de la)\s+|(?:de )?l['’]\s*))"  # not the « Le » of « Les »
# A capitalised word or a number, not a postal code nor the name of the Grand Débat meeting.
NAME_WORD = r"(?!\d{5}(?!\w)|Grand D[ée]bat|D[ée]bat(?!\w))[A-ZÉÈÀÂÎÔ0-9][\w'’-]*"
LINK = r"(?:de la|de l'|de l’|du|des|de|d'|d’|sur|en)"  # not « et »: « le lycée et France Travail » are two
SPACE = r"[^\S\n]"  # a name never runs over a line break (« Novallia\n\nDeux heures… »)
# Inside a name, « pour » links too (« l'association Agir pour l'Environnement »).
INNER_LINK = rf"(?:pour{SPACE}+(?:la|le|les){SPACE}+|pour{SPACE}*l['’]|pour{SPACE}+|{LINK}{SPACE}*)"
NAME_TAIL = rf"(?:{SPACE}+(?:{LINK}{SPACE}*)?{NAME_WORD}(?:{SPACE}+{INNER_LINK}?{NAME_WORD})*)"
# Kinds with many bodies on any territory: without a name (« le lycée »), no one to contact.
ONE_OF_MANY = {"lycée", "collège", "école", "université", "cantine"}
# Kinds that name a category, not one body, unless a name follows them directly.
GENERIC_KINDS = {"entreprise", "association", "coopérative", "fondation", "SCIC", "SCOP", "SIAE"}
STOP = {"de", "la", "le", "les", "du", "des", "d", "l", "sur", "en", "et", "au", "a"}
# Words (folded, whole words) that tell the type of a name found without an organisation word;
# the first that matches wins. Public operators and networks that interviews and meeting
# reports name most (« l'ANPE », « les ASSEDIC », « le Secours populaire », « la CPME »).
TYPE_WORDS = (
    ("habitat", A.ETAT),
    ("insertion", A.SIAE),
    ("scic", A.ESS),
    ("scop", A.ESS),
    ("asso|association|secours|emmaus|restos|croix.rouge|ligue|mutuelle|amicale", A.ESS),
    ("cooperative", A.ESS),
    ("mairie|ville de|commune de|epci|conseil departemental|conseil regional", A.COLLECTIVITE),
    (
        "anpe|assedic|pole emploi|france travail|urssaf|cpam|msa|ofpra|ants|onf|onema|caf|"
        "ministere|agence nationale|office national|cour des comptes|education nationale|"
        "prefecture|assemblee nationale|senat",
        A.ETAT,
    ),
    ("universite|institut|ecole|lycee|college|academie|crdp|ena|iut|greta|afpa", A.RECHERCHE),
    ("cpme|medef|u2p|conseil de developpement|codev|cfdt|cgt|cftc|fo|unsa", A.ACCOMPAGNEMENT),
    ("banque|bpi|bpifrance|fondation", A.FINANCEUR),
    ("sarl|sas|sa|groupe", A.ENTREPRISE),
)
TYPE_PATTERNS = [(re.compile(rf"(?<!\w)(?:{words})(?!\w)"), str(t)) for words, t in TYPE_WORDS]


def name_words(text: str, ignore: frozenset[str] = frozenset()) -> list[str]:
    return [w for w in re.split(r"[^\w]+", fold(text)) if w and w not in STOP and w not in ignore]


def _listed(word: str) -> bool:
    """A programme or mark of NOT_ORGANISATIONS, dotted or derived (« R.M.I. », « RMIstes »)."""
    letters = word.replace(".", "")
    compact = fold_key(letters)
    acronym = "." in word or letters[:3].isupper()  # not « Amicale » for « ami »
    return (
        compact in NOT_ORGANISATIONS
        or acronym
        and any(
            compact.startswith(n) and letters[len(n) :].islower()
            for n in NOT_ORGANISATIONS
            if len(n) >= 3 and n.isalpha()
        )
    )


def names_one(tail: str) -> bool:
    """After « une entreprise », « l'association », the words that make it one organisation:
    not a place (« l'entreprise de Soissons ») nor a capitalised common word starting the next
    item of a list (« entreprise Suppression de… »)."""
    words = tail.split()
    if re.match(rf"{LINK}(?![\w])", words[0]) or re.match(r"d['’]", words[0]):
        return False
    return len(words) > 1 or fold_key(words[0]) not in common_french_words()


def looks_like_organisation(name: str) -> bool:
    """A name without an organisation word is kept when it is an acronym (« ENEDIS »,
    « B.N.P. »), carries a proper name (« Monoprix », « France Inter »), or starts with an
    institution word (« Cour des comptes »); not a topic made of common words (« Démocratie et
    citoyenneté », « Services publics ») nor a capitalised common word (« POURSUIVRE »)."""
    common = common_french_words()
    words = re.findall(r"[\w’'-]+", name)
    folded = [fold_key(w.strip("'’-")) for w in words]
    if not words:
        return False
    head = folded[0]
    if head in NOT_HEADS or any(_listed(w) for w in name.split()):
        return False  # « Traité de Marrakech », « Démocratie RIC », « R.M.Istes », « S.T.O. »
    letters = re.sub(r"[\W_]", "", name)
    if " " not in name.strip() and letters.isupper() and 2 <= len(letters) <= 8:
        # « CRÉANT » is a word in capitals; « ENA », « PLIE » are short enough to be acronyms
        return len(letters) <= 4 or fold_key(letters) not in common
    if head in INSTITUTION_HEADS or " ".join(folded[:2]) in INSTITUTION_HEADS:
        return True
    return any(
        (w[:1].isupper() and len(f) >= 3 and f not in common)
        or (w.isupper() and len(w) >= 2 and f not in common)
        for w, f in zip(words, folded, strict=True)
    )


# ---------------------------------------------------------------------------------------------
# Events, states, proper names written as common words, persons
# ---------------------------------------------------------------------------------------------

# A word that makes a name an event, not a body (« French Fab Tour », « Forum des
# associations », « Fête de la Science »). Folded, whole words between spaces.
EVENT_WORDS = {
    "tour", "festival", "salon", "forum", "fete", "foire", "journee", "journees", "semaine",
    "rencontres", "trophees", "concours", "marathon", "colloque", "exposition", "challenge",
}  # fmt: skip
# « Union soviétique », « République française », « Royaume-Uni »: a state, not a local body.
STATE_HEADS = {"union", "republique", "royaume", "empire", "etats"}
NATIONALITY = re.compile(r"(?:ique|aise|ais|ienne|ien|aine|ain|ande|and|oise|ois|uni|unis)$")
# Scope adjectives after a body's head word: « Église catholique », « Église de France » and
# « l'Église » are one body when the bare head is cited too.
SCOPE_WORDS = {
    "catholique", "protestante", "orthodoxe", "francaise", "francais", "france", "nationale",
    "national",
}  # fmt: skip
# Before a capitalised common word, what makes it a proper name: a preposition without article
# (« à Carrefour », « chez Leclerc ») or the slash of a list (« Monsanto/Bayer »).
PROPER_AFTER = re.compile(r"(?:(?<!\w)(?i:à|chez|comme|avec|contre|par)\s+|/\s*)$")
# What opens a sentence before a capital: « Le Glyphosate : », « Les Vegan sont… ».
OPENING_ARTICLE = re.compile(r"(?:(?<!\w)(?i:le|la|les|l['’]|un|une|des|du|au|aux)\s*)$")
LOWER_WORD = re.compile(r"(?<![\w’'-])[a-zà-öø-ÿ][\w’'-]*")


def is_event_or_state(name: str) -> bool:
    """« French Fab Tour », « Forum des associations », « Union Soviétique »."""
    words = [fold_key(w) for w in name.split()]
    if any(w in EVENT_WORDS for w in words):
        return True
    rest = [w for w in words[1:] if w not in {"de", "des", "du", "d"}]
    return (
        bool(words)
        and words[0] in STATE_HEADS
        and len(rest) == 1
        and bool(NATIONALITY.search(rest[0]))
    )


def opens_sentence(text: str, start: int) -> bool:
    """Whether `start` is the first word of a line or sentence, its article aside."""
    before = OPENING_ARTICLE.sub("", text[:start]).rstrip()
    return not before or before[-1] in ".!?…:-\n•*"


def named_by_position(text: str, start: int) -> bool:
    """A capitalised word right after « à », « chez », « / » is a proper name even when it is
    also a common word (« à Carrefour », « Monsanto/Bayer »)."""
    return bool(PROPER_AFTER.search(text[max(0, start - 8) : start]))


def lowercase_words(texts: Iterable[str]) -> frozenset[str]:
    """Words the texts write in lower case somewhere (folded): « le glyphosate » tells that
    « Le Glyphosate » at a sentence start is the same common noun."""
    return frozenset(fold_key(w) for t in texts for w in LOWER_WORD.findall(t))


def surnames(names: Iterable[str]) -> frozenset[str]:
    """Last words of persons' names of two words or more (« Dominique Voynet » → voynet) that
    are no common word: alone, they still name the person, not an organisation."""
    common = common_french_words()
    found = set()
    for name in names:
        words = name.split()
        if len(words) >= 2 and words[-1][:1].isupper():
            last = fold_key(words[-1])
            if len(last) >= 3 and last not in common:
                found.add(last)
    return frozenset(found)


def scope_reduced(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    """(kind, core) -> (kind, core without scope adjectives), for the cores whose reduced form
    is also cited alone or shared by another variant (« église catholique », « église france »
    and « église » → « église »). « Radio France » alone stays itself."""
    reduced: dict[tuple[str, str], tuple[str, str]] = {}
    for kind, core in keys:
        head, *rest = core.split() or [""]
        kept = [w for w in rest if w not in SCOPE_WORDS]
        if head and len(kept) < len(rest):
            reduced[(kind, core)] = (kind, " ".join([head, *kept]))
    keys = set(keys)
    shared = Counter(reduced.values())
    return {k: r for k, r in reduced.items() if r in keys or shared[r] > 1}


OPENING_ARTICLE_START = re.compile(r"^(?i:le|la|les|l['’]|un|une|des|du|au|aux)(?:\s+|(?<=['’]))")
# « le Ministère de l'Éducation nationale du Ministère de l'Économie »: two bodies.
SECOND_HEAD = re.compile(r"\s+(?:du|de la|de l['’]|des|de|d['’])\s*(?=([A-ZÉÈ][\w’'-]*))")


def name_pieces(text: str, start: int, end: int) -> list[tuple[int, str]]:
    """The names in an entity span: cut where a name ends (NAME_END), at each slash
    (« Monsanto/Bayer ») and before a second institution head (« Ministère de X du Ministère
    de Y »); each piece with its start in `text`."""
    span = NAME_END.split(text[start:end])[0]
    pieces = []
    for part in re.finditer(r"[^/]+", span):
        piece, at = part.group(0), start + part.start()
        lead = len(piece) - len(piece.lstrip())
        piece, at = piece.strip(), at + lead
        cut = next(
            (m for m in SECOND_HEAD.finditer(piece) if fold_key(m.group(1)) in INSTITUTION_HEADS),
            None,
        )
        if cut is not None:
            pieces += [(at, piece[: cut.start()]), (at + cut.end(), piece[cut.end() :])]
        elif piece:
            pieces.append((at, piece))
    return pieces


def cut_restart(raw: str) -> str:
    """Speech restarting the name: « l'Église catholique l'Église… » → « l'Église catholique »
    (its head word again, with or without article, ends the name)."""
    bare = OPENING_ARTICLE_START.sub("", raw)
    head = re.match(r"[\w-]+", bare)
    if head is None:
        return raw
    again = re.search(
        rf"\s+(?:(?i:le|la|les|l['’])\s*)?{re.escape(head.group(0))}(?!\w)",
        raw[len(raw) - len(bare) + head.end() :],
        re.IGNORECASE,
    )
    if again is None:
        return raw
    return raw[: len(raw) - len(bare) + head.end() + again.start()]
