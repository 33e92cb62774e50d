"""Génère les exports LimeSurvey (CSV, codes des questions, réponses courtes) de la démo.

Outil de fabrication des exemples (pas une étape de qualipipe). Les colonnes viennent des
instruments `surveys/priorisation_enjeux.yaml` et `surveys/evaluation_diagnostic.yaml` : l'export
a exactement l'en-tête que LimeSurvey produit (« Exporter les réponses » → CSV, « Code de la
question », « Réponses courtes »), encodé en UTF-8 avec BOM, séparateur « ; », chaque champ entre
guillemets, fins de ligne CRLF.

Usage (depuis la racine du dépôt) :
    python examples/etude-demo/outils/generer_questionnaires.py
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from qualipipe.surveys.instruments import load_instrument

HERE = Path(__file__).resolve().parent
STUDY = HERE.parent
REPO = STUDY.parents[1]
FIXED = ["id", "submitdate", "lastpage", "startlanguage", "seed", "token", "startdate", "datestamp"]

ISSUES = [
    "EMPLOI",
    "MOBILITE",
    "ALIMENT",
    "TRANSITION",
    "REVITAL",
    "VIEILLIS",
    "LOGEMENT",
    "SERVICES",
]
ACTORS = ["COLL", "ETAT", "ENTR", "ESS", "FINAN", "RECH", "CITOY"]

# --------------------------------------------------------------------------------------------
# Priorisation des enjeux (atelier 2). Importance (P04) et capacité d'agir (P05) dans l'ordre
# de ISSUES ; P07 = 10 points ; P08 = horizon (C/M/L) dans l'ordre de ISSUES.
# --------------------------------------------------------------------------------------------
HORIZON = {"C": "COURT", "M": "MOYEN", "L": "LONG"}


def priorisation(
    token: str,
    when: str,
    p01: str,
    p02: str,
    importance: str,
    capacity: str,
    ranking: list[str],
    points: dict[str, int],
    horizon: str,
    actions: str,
    mobilise: str,
    group: list[str] | None,
    missing: str,
    agreement: str,
    comment: str,
    p01_other: str = "",
    complete: bool = True,
) -> dict[str, str]:
    assert sum(points.values()) == 10, points
    row: dict[str, str] = {"token": token, "_when": when, "_complete": "Y" if complete else ""}
    row["P01"] = p01
    row["P01[other]"] = p01_other
    row["P02"] = p02
    for index, issue in enumerate(ISSUES):
        row[f"P04[{issue}]"] = importance[index]
        row[f"P05[{issue}]"] = capacity[index] if capacity else ""
    if not complete:
        return row
    for rank, code in enumerate(ranking, 1):
        row[f"P06[{rank}]"] = code
    for issue in ISSUES:
        row[f"P07[{issue}]"] = str(points.get(issue, 0))
    for index, issue in enumerate(ISSUES):
        row[f"P08[{issue}]"] = HORIZON.get(horizon[index], "")
    row["P09"] = actions
    for actor in ACTORS:
        row[f"P10[{actor}]"] = "Y" if actor in mobilise.split() else ""
    row["P11"] = "Y" if group else "N"
    for issue in ISSUES:
        row[f"P12[{issue}]"] = "Y" if group and issue in group else ""
    row["P13"] = missing
    row["P14"] = agreement
    row["P15"] = comment
    return row


# Compact rows: one respondent per call, read like a table.
# fmt: off
PRIORISATION = {
    "sud-creuse": [
        priorisation(
            "huG8GP38g4o5MNJ", "2026-05-12 18:02:11", "MEMB", "ESS",
            "54543323", "42532211", ["ALIM", "EMPL", "MOB", "TRANS", "VIEIL"],
            {"ALIMENT": 4, "EMPLOI": 3, "MOBILITE": 1, "TRANSITION": 2}, "CMCMLMLM",
            "Lancer l'étude de faisabilité de la légumerie avant l'été, et signer une première "
            "convention d'approvisionnement avec le collège de Felletin et le lycée d'Ahun.",
            "COLL ESS FINAN RECH", ["ALIMENT", "EMPLOI"], "La gestion de l'eau",
            "4", "Merci à l'équipe de la CRESS, l'atelier a permis de se parler vraiment.",
        ),
        priorisation(
            "AYKJ1UXXFWXLCpa", "2026-05-12 18:05:40", "MEMB", "SIAE",
            "55452313", "53432111", ["EMPL", "ALIM", "TRANS", "MOB", "SERV"],
            {"EMPLOI": 4, "ALIMENT": 3, "TRANSITION": 2, "MOBILITE": 1}, "CCMMLMLM",
            "Créer des postes en insertion sur la légumerie, avec une formation qualifiante "
            "d'agent de transformation montée avec le CFPPA.",
            "COLL ETAT ESS RECH", ["EMPLOI", "TRANSITION"],
            "L'eau et la sécheresse : sans irrigation il n'y a pas de maraîchage",
            "4", "",
        ),
        priorisation(
            "Nfhs0gCa05RFRun", "2026-05-12 18:07:02", "MEMB", "ENTR",
            "54544353", "43421221", ["ALIM", "EMPL", "LOGT", "TRANS", "REVIT"],
            {"ALIMENT": 4, "EMPLOI": 2, "LOGEMENT": 3, "TRANSITION": 1}, "CCMMMLMM",
            "Trouver le bâtiment : racheter l'ancienne laiterie avec la communauté de communes "
            "et monter le plan de financement des travaux.",
            "COLL ENTR FINAN", ["ALIMENT", "LOGEMENT"], "Le tourisme et les débouchés l'été",
            "3",
            "On n'a pas assez parlé du logement des salariés : je n'arrive pas à loger les gens que je recrute.\n"
            "Martine Lavaud l'a dit aussi, il faut que ça remonte dans les priorités.",
        ),
        priorisation(
            "zqw7wZyVGOeUvfJ", "2026-05-12 18:09:55", "COLL", "COLL",
            "45445455", "33322121", ["SERV", "ALIM", "MOB", "LOGT", "EMPL"],
            {"SERVICES": 3, "ALIMENT": 2, "MOBILITE": 2, "LOGEMENT": 2, "EMPLOI": 1}, "MCMLMMMC",
            "Intégrer la légumerie dans le projet alimentaire territorial et des clauses locales "
            "dans le marché de restauration scolaire.",
            "COLL ETAT ENTR FINAN", None, "La santé, l'installation des médecins",
            "4", "",
        ),
        priorisation(
            "IssDj4PTTKtb2Tx", "2026-05-12 18:11:30", "ACTR", "CHAMB",
            "43552212", "32531111", ["ALIM", "TRANS", "EMPL", "MOB", "VIEIL"],
            {"ALIMENT": 5, "TRANSITION": 4, "EMPLOI": 1}, "MMCCLLLL",
            "Planifier les cultures avec les producteurs sur trois ans, avec des volumes et des "
            "prix garantis, et un volet économies d'eau (paillage, goutte-à-goutte, retenues).",
            "COLL ENTR RECH", ["ALIMENT", "TRANSITION"],
            "Sécheresse et ressource en eau agricole",
            "3",
            "Le logement n'est pas un enjeu pour le pôle, il y a des maisons vides partout. "
            "L'eau, par contre, devrait être un enjeu à part entière.",
        ),
        priorisation(
            "xDBfz5LJF3hBGZW", "2026-05-12 18:12:48", "ACTR", "RECH",
            "44542313", "42531131", ["ALIM", "EMPL", "TRANS", "MOB", "SERV"],
            {"ALIMENT": 5, "EMPLOI": 3, "TRANSITION": 2}, "CMCMLMLM",
            "Un essai d'approvisionnement de la cantine du lycée chaque semaine à la rentrée, et "
            "des projets tutorés des BTS sur l'étude de marché.",
            "ESS RECH", ["ALIMENT"], "", "5", "",
        ),
        priorisation(
            "", "2026-05-12 18:15:20", "ACTR", "ESS",
            "35433554", "22312221", ["VIEIL", "MOB", "LOGT", "ALIM", "SERV"],
            {"VIEILLIS": 4, "MOBILITE": 3, "LOGEMENT": 2, "ALIMENT": 1}, "MCMLMCMM",
            "Du portage de repas avec les produits du pôle pour les personnes âgées isolées.",
            "COLL ESS CITOY", ["VIEILLIS"], "L'accès aux soins", "4", "",
        ),
        priorisation(
            "", "2026-05-12 18:16:03", "-oth-", "AUTRE",
            "43552222", "31521111", ["ALIM", "TRANS", "EMPL", "MOB", "REVIT"],
            {"ALIMENT": 5, "TRANSITION": 5}, "CMCCLLLL",
            "Garantir des prix aux producteurs et une aide pour les forages et les retenues d'eau.",
            "COLL ENTR", None, "L'eau, encore l'eau", "2",
            "Trop de temps passé sur le social, pas assez sur les problèmes des producteurs.",
            p01_other="Producteur, fournisseur des Paniers",
        ),
        priorisation(
            "", "2026-05-12 18:20:37", "ACTR", "CITOY",
            "35434515", "22312111", ["MOB", "VIEIL", "SERV", "ALIM", "EMPL"],
            {"MOBILITE": 4, "VIEILLIS": 3, "SERVICES": 2, "ALIMENT": 1}, "CCMLMMLC",
            "Une épicerie mobile qui passe dans les hameaux, avec les légumes du pôle.",
            "COLL ESS CITOY", ["MOBILITE", "VIEILLIS"], "", "4", "",
        ),
    ],
    "limoges-nord": [
        priorisation(
            "3M4Fz6Hq2AK7EGH", "2026-05-19 19:01:44", "MEMB", "SIAE",
            "55344443", "52333241", ["EMPL", "MOB", "LOGT", "TRANS", "VIEIL"],
            {"EMPLOI": 5, "MOBILITE": 2, "LOGEMENT": 2, "TRANSITION": 1}, "CCMMMMLM",
            "Des chantiers d'insertion pour végétaliser la dalle du Vigenal et débitumer les "
            "pieds d'immeubles, avec le bailleur et la Métropole.",
            "COLL ETAT ENTR ESS", ["EMPLOI", "TRANSITION"],
            "Les fortes chaleurs l'été dans les logements", "4", "",
        ),
        priorisation(
            "ZbKoXi0d9TH4QgT", "2026-05-19 19:03:12", "MEMB", "ESS",
            "44353444", "41543131", ["TRANS", "EMPL", "LOGT", "SERV", "VIEIL"],
            {"TRANSITION": 4, "EMPLOI": 3, "LOGEMENT": 2, "SERVICES": 1}, "CMMCMMMM",
            "Monter la plateforme de réemploi des matériaux du bâtiment avec Ranoux Bâtiment et "
            "les bailleurs.",
            "COLL ENTR ESS FINAN", ["TRANSITION"],
            "La canicule et l'eau dans les quartiers", "5",
            "La transition écologique et le social, dans nos quartiers, c'est la même chose.",
        ),
        priorisation(
            "NBEjE4o24hOSDRE", "2026-05-19 19:05:30", "MEMB", "ENTR",
            "55343353", "53433141", ["EMPL", "LOGT", "TRANS", "MOB", "SERV"],
            {"EMPLOI": 5, "LOGEMENT": 3, "TRANSITION": 2}, "CMCMMLMM",
            "Un parcours insertion-bâtiment de la Régie jusqu'au CDI, avec une préparation "
            "opérationnelle à l'emploi collective.",
            "ENTR ESS ETAT", ["EMPLOI", "LOGEMENT"], "", "4", "",
        ),
        priorisation(
            "T79IqJzQtJZPGSE", "2026-05-19 19:06:02", "COLL", "COLL",
            "54324454", "32222231", ["EMPL", "MOB", "SERV", "VIEIL", "LOGT"],
            {"EMPLOI": 4, "MOBILITE": 2, "SERVICES": 2, "VIEILLIS": 2}, "CMLMMLMC",
            "Une convention pluriannuelle d'objectifs qui sécurise l'animation du pôle.",
            "COLL ETAT ESS", None, "La tranquillité publique", "4", "",
        ),
        priorisation(
            "Z4zBms1racjP4M9", "2026-05-19 19:08:47", "FINAN", "ETAT",
            "55314343", "52212121", ["EMPL", "MOB", "SERV", "LOGT", "ALIM"],
            {"EMPLOI": 6, "MOBILITE": 3, "SERVICES": 1}, "CCLMLMMC",
            "Des sessions de recrutement sans CV à la Fabrique, tous les trimestres, avec les "
            "entreprises de la zone nord.",
            "ETAT ENTR ESS", ["EMPLOI"], "La santé des demandeurs d'emploi", "3",
            "La transition, c'est important, mais ce n'est pas la priorité du quartier : d'abord l'emploi.",
        ),
        priorisation(
            "DZH7Fx6mqSFDGX0", "2026-05-19 19:10:10", "FINAN", "FINAN",
            "43454333", "42552121", ["TRANS", "EMPL", "REVIT", "LOGT", "ALIM"],
            {"TRANSITION": 4, "EMPLOI": 3, "REVITAL": 3}, "MMMCLMLM",
            "Construire un modèle économique sur une activité de réemploi qui dégage des recettes.",
            "ENTR ESS FINAN", None, "", "4", "",
        ),
        priorisation(
            "FZBJQ6c1suD6ZgC", "2026-05-19 19:12:29", "ACTR", "ACCOM",
            "44424444", "32322231", ["EMPL", "SERV", "VIEIL", "REVIT", "MOB"],
            {"EMPLOI": 3, "SERVICES": 3, "VIEILLIS": 2, "REVITAL": 2}, "CMMLMMMC",
            "Mutualiser les fonctions support des petites associations du quartier au sein du pôle.",
            "COLL ESS FINAN", ["SERVICES"], "La vie associative", "4", "",
        ),
        priorisation(
            "", "2026-05-19 19:14:51", "ACTR", "CITOY",
            "45315554", "32214121", ["LOGT", "VIEIL", "EMPL", "MOB", "SERV"],
            {"LOGEMENT": 4, "VIEILLIS": 3, "EMPLOI": 3}, "CMLLMCCM",
            "Réparer les ascenseurs et isoler les immeubles avant de parler d'autre chose.",
            "COLL CITOY", None, "La sécurité", "2",
            "On parle beaucoup, mais au dernier étage de la tour il fait 34 degrés l'été et personne ne bouge.",
        ),
        priorisation(
            "", "2026-05-19 19:16:05", "ACTR", "ESS",
            "44454443", "32542231", ["TRANS", "EMPL", "ALIM", "VIEIL", "SERV"],
            {"TRANSITION": 3, "EMPLOI": 3, "ALIMENT": 2, "VIEILLIS": 2}, "CMMCMMLM",
            "Des îlots de fraîcheur et des jardins partagés arrosés par récupération d'eau de pluie.",
            "COLL ESS CITOY", ["TRANSITION", "ALIMENT"], "Les îlots de chaleur", "5", "",
        ),
        priorisation(
            "", "", "ACTR", "ESS", "54354443", "", [], {"EMPLOI": 10}, "", "", "", None, "", "", "",
            complete=False,
        ),
    ],
}
# fmt: on

# --------------------------------------------------------------------------------------------
# Évaluation du diagnostic (quelques semaines après la restitution).
# E04 dans l'ordre OBJECTIFS ANIMATION ECOUTE OUTILS DOCUMENTS CALENDRIER ;
# E06 dans l'ordre TERRIT VISION ENJEUX ACTEURS BESOINS FEUILLE.
# --------------------------------------------------------------------------------------------
STEPS = ["CADRAGE", "ENTRETIEN", "ATELIER1", "ATELIER2", "RESTIT", "LIVRABLE"]
E04 = ["OBJECTIFS", "ANIMATION", "ECOUTE", "OUTILS", "DOCUMENTS", "CALENDRIER"]
E06 = ["TERRIT", "VISION", "ENJEUX", "ACTEURS", "BESOINS", "FEUILLE"]
E09 = ["PARTEN", "MEMBRES", "PROJET", "FINANCE", "GOUV", "ELUS", "AUCUN"]


def evaluation(
    token: str,
    when: str,
    e01: str,
    steps: str,
    satisfaction: str,
    organisation: str,
    fidelity: str,
    usefulness: list[str],
    use: str,
    recommend: str,
    effects: str,
    change: str,
    strengths: str,
    improve: str,
    recontact: str,
    effects_other: str = "",
) -> dict[str, str]:
    row: dict[str, str] = {"token": token, "_when": when, "_complete": "Y", "E01": e01}
    for step in STEPS:
        row[f"E02[{step}]"] = "Y" if step in steps.split() else ""
    row["E03"] = satisfaction
    for index, item in enumerate(E04):
        row[f"E04[{item}]"] = organisation[index]
    row["E05"] = fidelity if {"LIVRABLE", "RESTIT"} & set(steps.split()) else ""
    for index, item in enumerate(E06):
        row[f"E06[{item}]"] = usefulness[index]
    row["E07"] = use
    row["E08"] = recommend
    for effect in E09:
        row[f"E09[{effect}]"] = "Y" if effect in effects.split() else ""
    row["E09[other]"] = effects_other
    row["E10"] = change
    row["E11"] = strengths
    row["E12"] = improve
    row["E13"] = recontact
    return row


# fmt: off
EVALUATION = {
    "sud-creuse": [
        evaluation(
            "huG8GP38g4o5MNJ", "2026-09-15 09:12:40", "FOND", "CADRAGE ENTRETIEN ATELIER1 ATELIER2 RESTIT LIVRABLE",
            "5", "454435", "LARGE", ["ASSEZ", "TOUT", "TOUT", "ASSEZ", "TOUT", "ASSEZ"], "DEJA", "9",
            "PARTEN PROJET FINANCE",
            "Le diagnostic nous a servi à déposer la demande de phase 2 de l'AMI : les enjeux "
            "prioritaires et les besoins du pôle étaient écrits noir sur blanc.",
            "L'écoute pendant les entretiens, et l'atelier où producteurs et élus ont parlé de l'eau ensemble.",
            "Le calendrier était serré entre les deux ateliers, en pleine période de plantation.",
            "Y",
        ),
        evaluation(
            "AYKJ1UXXFWXLCpa", "2026-09-16 14:30:02", "FOND", "ENTRETIEN ATELIER1 ATELIER2 RESTIT",
            "4", "444334", "LARGE", ["ASSEZ", "ASSEZ", "TOUT", "ASSEZ", "ASSEZ", "PEU"], "BIENT", "8",
            "PARTEN PROJET",
            "Un groupe de travail sur l'emploi a démarré avec le lycée agricole et France Travail.",
            "La neutralité de la CRESS, qui a permis de mettre les désaccords sur la table.",
            "Il faudrait une feuille de route plus opérationnelle, avec qui fait quoi et quand.",
            "Y",
        ),
        evaluation(
            "Nfhs0gCa05RFRun", "2026-09-18 20:05:51", "FOND", "ENTRETIEN ATELIER2 RESTIT LIVRABLE",
            "4", "443343", "PART", ["PEU", "ASSEZ", "ASSEZ", "TOUT", "ASSEZ", "PEU"], "PEUT", "7",
            "PARTEN ELUS",
            "J'ai rencontré la chambre de commerce et deux restaurateurs d'Aubusson.",
            "Les rencontres avec des acteurs qu'on ne connaissait pas.",
            "Le logement des salariés n'apparaît presque pas dans le livrable, alors qu'on en a parlé.",
            "Y",
        ),
        evaluation(
            "IssDj4PTTKtb2Tx", "2026-09-21 11:47:19", "ACTR", "ENTRETIEN ATELIER2 RESTIT",
            "4", "544434", "LARGE", ["ASSEZ", "ASSEZ", "TOUT", "TOUT", "PEU", "ASSEZ"], "BIENT", "8",
            "PARTEN",
            "Une convention entre la chambre d'agriculture et le pôle est en préparation.",
            "La place donnée à la question de l'eau et de la sécheresse.",
            "Associer davantage les agriculteurs conventionnels dès le début.",
            "Y",
        ),
        evaluation(
            "xDBfz5LJF3hBGZW", "2026-09-22 16:20:44", "ACTR", "ENTRETIEN ATELIER2",
            "5", "555454", "", ["TOUT", "ASSEZ", "TOUT", "TOUT", "ASSEZ", "ASSEZ"], "DEJA", "10",
            "PROJET",
            "La cantine du lycée reçoit des légumes du pôle chaque semaine depuis la rentrée.",
            "Des ateliers concrets, bien préparés.",
            "",
            "Y",
        ),
        evaluation(
            "", "2026-10-02 08:58:13", "MEMB", "ATELIER1 ATELIER2",
            "3", "433322", "", ["PEU", "ASSEZ", "ASSEZ", "ASSEZ", "NSP", "PEU"], "PEUT", "6",
            "AUCUN",
            "",
            "",
            "Les ateliers tombaient en semaine à 17 h, impossible pour les producteurs en saison.",
            "N",
        ),
    ],
    "limoges-nord": [
        evaluation(
            "3M4Fz6Hq2AK7EGH", "2026-09-14 10:01:27", "FOND", "CADRAGE ENTRETIEN ATELIER1 ATELIER2 RESTIT LIVRABLE",
            "4", "444434", "LARGE", ["ASSEZ", "TOUT", "TOUT", "ASSEZ", "TOUT", "ASSEZ"], "DEJA", "8",
            "GOUV ELUS PROJET",
            "Le conseil d'administration a voté le lancement de l'accompagnement DLA pour le "
            "passage en SCIC.",
            "Avoir enfin des données sur ce que le pôle apporte au quartier.",
            "Les habitants étaient trop peu nombreux aux ateliers.",
            "Y",
        ),
        evaluation(
            "ZbKoXi0d9TH4QgT", "2026-09-15 18:22:06", "FOND", "ENTRETIEN ATELIER1 ATELIER2 RESTIT LIVRABLE",
            "5", "555444", "TOTAL", ["TOUT", "TOUT", "TOUT", "ASSEZ", "TOUT", "ASSEZ"], "DEJA", "9",
            "PARTEN PROJET FINANCE",
            "Le projet de plateforme de réemploi des matériaux a été présenté à France Active et à "
            "deux bailleurs.",
            "La restitution devant les élus, la première fois que Coop'Nord était présenté en tant que pôle.",
            "Donner plus de place aux fortes chaleurs : c'est revenu dans tous les ateliers, mais "
            "il n'y a pas de case pour ça dans les enjeux.",
            "Y",
        ),
        evaluation(
            "NBEjE4o24hOSDRE", "2026-09-17 07:45:39", "FOND", "ENTRETIEN ATELIER2 RESTIT",
            "4", "434343", "LARGE", ["ASSEZ", "ASSEZ", "TOUT", "ASSEZ", "ASSEZ", "ASSEZ"], "BIENT", "8",
            "MEMBRES",
            "Deux entreprises du club de la zone nord ont demandé à adhérer au pôle.",
            "Des priorités claires, enfin.",
            "Moins de réunions, plus de décisions.",
            "Y",
        ),
        evaluation(
            "T79IqJzQtJZPGSE", "2026-09-23 12:10:58", "COLL", "CADRAGE ENTRETIEN ATELIER1 ATELIER2 RESTIT LIVRABLE",
            "4", "444455", "LARGE", ["ASSEZ", "ASSEZ", "TOUT", "ASSEZ", "ASSEZ", "TOUT"], "DEJA", "9",
            "ELUS FINANCE",
            "Le livrable a servi de base à la convention pluriannuelle d'objectifs présentée en "
            "commission.",
            "Des éléments objectivés, utiles pour défendre le pôle en interne.",
            "",
            "Y",
        ),
        evaluation(
            "Z4zBms1racjP4M9", "2026-09-24 15:33:21", "ACTR", "ENTRETIEN ATELIER2",
            "3", "343332", "", ["PEU", "ASSEZ", "ASSEZ", "ASSEZ", "PEU", "PEU"], "PEUT", "6",
            "AUCUN",
            "",
            "Les échanges avec les entreprises pendant l'atelier.",
            "La priorisation a donné trop de poids à la transition au détriment de l'emploi.",
            "N",
        ),
        evaluation(
            "DZH7Fx6mqSFDGX0", "2026-09-29 09:40:12", "FINAN", "ENTRETIEN RESTIT",
            "4", "444434", "LARGE", ["ASSEZ", "PEU", "TOUT", "ASSEZ", "TOUT", "ASSEZ"], "BIENT", "8",
            "FINANCE",
            "Nous instruisons une demande de financement pour la plateforme de réemploi.",
            "Un diagnostic partagé, pas un audit : les structures se sont livrées.",
            "Ajouter un volet sur le modèle économique du pôle lui-même.",
            "Y",
        ),
        evaluation(
            "FZBJQ6c1suD6ZgC", "2026-10-01 17:02:45", "ACTR", "ENTRETIEN ATELIER1 ATELIER2 RESTIT LIVRABLE",
            "5", "545444", "LARGE", ["TOUT", "TOUT", "TOUT", "TOUT", "TOUT", "ASSEZ"], "DEJA", "9",
            "GOUV PROJET",
            "Un accompagnement collectif DLA sur la gouvernance démarre en novembre.",
            "La méthode, reproductible dans d'autres pôles.",
            "Prévoir l'évaluation dès le départ, avec des indicateurs suivis dans le temps.",
            "Y",
            effects_other="Une fiche de poste de coordination réécrite",
        ),
    ],
}
# fmt: on


def write_export(
    instrument_name: str, territory: str, rows: list[dict[str, str]], start_id: int
) -> Path:
    instrument = load_instrument(REPO / "surveys" / f"{instrument_name}.yaml")
    columns = [c.name for c in instrument.export_columns()]
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(FIXED + columns)
    for offset, row in enumerate(rows):
        unknown = set(row) - set(columns) - {"token", "_when", "_complete"}
        assert not unknown, unknown
        complete = row["_complete"] == "Y"
        started = row["_when"] or "2026-05-19 19:20:00"
        fixed = [
            str(start_id + offset),
            row["_when"] if complete else "",
            str(len(instrument.groups)) if complete else "2",
            "fr",
            str(1_000_000_000 + (hash_seed(instrument_name, territory, offset))),
            row["token"],
            started,
            started,
        ]
        writer.writerow(fixed + [row.get(column, "") for column in columns])
    target = STUDY / "questionnaires" / f"{instrument_name}__{territory}.csv"
    target.write_bytes(b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8"))
    return target


def hash_seed(*parts: object) -> int:
    import zlib

    return zlib.crc32(":".join(map(str, parts)).encode()) % 1_000_000_000


def main() -> None:
    for name, data in (
        ("priorisation_enjeux", PRIORISATION),
        ("evaluation_diagnostic", EVALUATION),
    ):
        for territory, rows in data.items():
            # LimeSurvey numbers responses per survey: one survey per territory here.
            path = write_export(name, territory, rows, start_id=1)
            print(f"{path.relative_to(REPO)} : {len(rows)} réponses")


if __name__ == "__main__":
    main()
