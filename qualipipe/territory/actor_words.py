"""Words and name tests for cited organisations: what is a body, a programme, a topic, an
event, a state or a person; the kind of organisation a bare name suggests.

Used by `qualipipe.territory.actors` (finding and grouping mentions).
"""

from __future__ import annotations

import re

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
# Separators that end a name: a list dash, quotes, brackets, a hashtag, a slash.
NAME_END = re.compile(r"[\n:!?;\"“”«»()#/]|\s[-–—]\s")
ARTICLE = r"(?:(?i:(?:le|la|du|au|à la|de la)\s+|(?:de )?l['’]\s*))"  # not the « Le » of « Les »
# A capitalised word or a number, not a postal code nor the name of the Grand Débat meeting.
NAME_WORD = r"(?!\d{5}(?!\w)|Grand D[ée]bat|D[ée]bat(?!\w))[A-ZÉÈÀÂÎÔ0-9][\w'’-]*"
LINK = r"(?:de la|de l'|de l’|du|des|de|d'|d’|sur|en)"  # not « et »: « le lycée et France Travail » are two
SPACE = r"[^\S\n]"  # a name never runs over a line break (« Novallia\n\nDeux heures… »)
NAME_TAIL = (
    rf"(?:{SPACE}+(?:{LINK}{SPACE}*)?{NAME_WORD}(?:{SPACE}+(?:{LINK}{SPACE}*)?{NAME_WORD})*)"
)
# Kinds with many bodies on any territory: without a name (« le lycée »), no one to contact.
ONE_OF_MANY = {"lycée", "collège", "école", "université"}
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
