"""Cited actors on the kind of text real corpora bring: Grand Débat meeting reports (themes in
capitals, lists with dashes, titles over blank lines) and unpunctuated interview transcripts
(« euh », repeats, clauses running on). Real spaCy model, real SQLite study, the shared
codebook's « acteurs cités » expressions.

The sentences are modelled on lines of ../shared/data (Grand Débat reports, CFPP2000, ESLO1).
What a reader must not find in « acteurs à associer »: topics, places, programmes, fragments.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qualipipe.codebook.model import load_codebook
from qualipipe.person_spans import find_and_keep_person_spans
from qualipipe.pseudonymize import pseudonymizer_for
from qualipipe.territory.actors import ActorInputs, CitedActors, TextSegment, cited_actors

REPO = Path(__file__).resolve().parents[1]

TEXTS = [
    "Réunion Grand Débat National sur l'Organisation de l'Etat et des services publics.",
    "Thèmes abordés : Démocratie et citoyenneté, Transition écologique, Services Publics.",
    "SIMPLIFIER les démarches administratives et POURSUIVRE la numérisation tout en CRÉANT des "
    "postes d'agents publics.",
    "Linky - Utilisation des données des usagers par ENEDIS sans leur accord.",
    "Réunion organisée par l'Association Novallia\n\nDeux heures d'échanges pendant lesquels "
    "tous ont pu s'exprimer.",
    "on dit que euh il y a la région de Beauce et le département du Loiret c'est une terre forte",
    "à l'abri de l'Eglise euh vous aviez euh tout le service scolaire de l'enseignement",
    "il y avait le Secours populaire il y avait la CNL il y avait les éducateurs",
    "je faisais mes courses à Monoprix à la Croix de Chavaux en voiture",
    "Une entreprise de Soissons a fermé l'an dernier, cent emplois perdus.",
    "le foyer était abonné aux journaux, Les Echos comme journal économique",
    "Le débat a eu lieu dans une salle mise à disposition par la Mairie d'Oyonnax le 12 février.",
    "vous êtes tout seul isolé dans votre coin avec le R.M.I. un R.M.Iste comme on disait",
    "Le rapport de la Cour des Comptes sur les dépenses publiques a été discuté.",
    "Il faut voir ce que donneront le Traité de Marrakech et le CETA pour nos agriculteurs.",
    "Ne pas réserver à l'ENA les postes de hauts fonctionnaires, le PLIE aide les chômeurs.",
    "j'ai fait arts plastiques au lycée puis à l'université après le lycée Pothier",
    "Turns : Mat Pires (ENQ) + Valentine (ENQ)",
    # Organisations whose name is also a common word, and a name linked by « pour ».
    "Ne pas se soumettre aux pressions de Monsanto/Bayer. Plus de cantines bio.",
    "donc après vous allez à Carrefour à la Porte de Montreuil où là vous avez les yaourts",
    "On s'est retrouvés au carrefour de la mairie après la réunion.",
    "Projet mené avec la participation de l'association Agir pour l'Environnement.",
    # A person named in full once, then by surname alone (ORG for the recogniser there).
    "peut-être avec maintenant Dominique Voynet peut-être qu'elle va faire plus",
    "non ça c'est les Verts maintenant c'est euh Voynet qui",
    # A state, an event, common nouns opening a sentence, an unnamed canteen.
    "je savais faire la différence entre Cuba et l'Union Soviétique à l'époque",
    "Nous avons accueilli le French Fab Tour dans la zone d'activités.",
    "Interdire définitivement le glyphosate. Le Glyphosate : il y en a partout.",
    "Les Vegan sont des extrémistes qui s'attaquent aux boucheries.",
    "le petit il mange à la cantine tous les midis",
    # One Church under several scopes; two ministries in one breath.
    "l'Eglise catholique l'Eglise enfin elle a changé et l'Eglise de France aussi",
    "Rapprocher le Ministère de l'Education nationale du Ministère de l'Economie.",
]
# Topics, places, programmes and fragments the texts above contain.
NOT_ACTORS = [
    "organisation de l'etat",
    "democratie",
    "citoyennete",
    "services publics",
    "simplifier",
    "poursuivre",
    "creant",
    "linky",
    "deux",
    "beauce",
    "loiret",
    "euh",
    "soissons",
    "s echos",
    "r.m.i",
    "traite",
    "ceta",
    "debat national",
    "enq",
    "voynet",
    "union sovietique",
    "french fab",
    "glyphosate",
    "vegan",
]
# Named once, the school is listed; « au lycée », « à l'université » alone are not.
UNNAMED = ["lycee", "universite", "cantine"]  # fmt: skip
ACTORS = [
    "ENEDIS", "Association Novallia", "Secours populaire", "CNL", "Monoprix", "Mairie d'Oyonnax",
    "Cour des Comptes", "ENA", "PLIE", "Bayer", "Carrefour", "Agir pour l'Environnement",
    "Ministère de l'Education nationale", "Ministère de l'Economie",
]  # fmt: skip


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> CitedActors:
    from qualipipe.store import open_study, text_hash

    root = tmp_path_factory.mktemp("acteurs")
    (root / "qualipipe.toml").write_text(
        '[etude]\nnom = "Acteurs"\n\n[[territoires]]\nid = "aisne"\nnom = "Aisne"\n',
        encoding="utf-8",
    )
    study = open_study(root)
    try:
        # what `qualipipe code` keeps for the pseudonymiser: the persons spaCy finds
        find_and_keep_person_spans(study, {text_hash(t): t for t in TEXTS}, progress=False)
        inputs = ActorInputs(
            territory=study.config.territories[0],
            segments=[TextSegment(i, f"P{i}", i, t) for i, t in enumerate(TEXTS, start=1)],
            participants=[],
            codebook_codes=list(load_codebook(REPO / "codebooks" / "ptce.yaml").codes),
        )
        with study.transaction() as conn:
            return cited_actors(conn, inputs, pseudonymizer_for(study))
    finally:
        study.close()


def shown(actor) -> str:
    from qualipipe.text import fold_key

    return fold_key(" | ".join([actor.name, *actor.variants]))


def test_topics_places_programmes_and_fragments_are_not_listed(found: CitedActors) -> None:
    listed = [shown(a) for a in found.actors]
    for words in NOT_ACTORS:
        assert not [a for a in listed if words in a], (words, listed)


def test_an_unnamed_school_is_not_listed_a_named_one_is(found: CitedActors) -> None:
    listed = [shown(a) for a in found.actors]
    for kind in UNNAMED:
        assert kind not in listed and f"{kind} | {kind}" not in listed, listed
    assert any("lycee pothier" in a for a in listed), listed


def test_real_organisations_stay_listed_under_their_name(found: CitedActors) -> None:
    names = [a.name for a in found.actors]
    for name in ACTORS:
        assert any(name.lower() == n.lower() or name in n for n in names), (name, names)
    for actor in found.actors:
        assert "\n" not in actor.name and actor.name != "[personne]", actor


def test_the_type_of_a_name_without_organisation_word_is_guessed_from_known_words(
    found: CitedActors,
) -> None:
    types = {a.name: a.actor_type for a in found.actors}
    assert types["Secours populaire"] == "structure de l'ESS"
    assert types["Cour des Comptes"] == "État/opérateur public"
    assert types["ENA"] == "recherche/formation"
    assert types["Monoprix"] == "autre"  # nothing in the name says it: left to the analyst


def test_one_body_cited_under_several_scopes_is_one_row_two_bodies_are_two(
    found: CitedActors,
) -> None:
    churches = [a for a in found.actors if shown(a).startswith("eglise")]
    assert len(churches) == 1, [a.name for a in churches]
    assert {"eglise catholique", "eglise de france"} <= {v.lower() for v in churches[0].variants}
    ministries = [a.name for a in found.actors if a.name.startswith("Ministère")]
    assert sorted(ministries) == ["Ministère de l'Economie", "Ministère de l'Education nationale"]
