"""Génère les notes de l'atelier 1 de la démo (outil de fabrication, pas une étape de qualipipe).

- `ateliers/postits__sud-creuse.xlsx` : les post-its de Sud Creuse saisis dans le modèle écrit
  par « qualipipe report atelier-modele » (une ligne par post-it) ;
- `questionnaires/atelier_vision__limoges-nord.csv` : les réponses de Limoges Nord au
  questionnaire `surveys/atelier_vision.yaml` rempli sur téléphone (export LimeSurvey : UTF-8
  avec BOM, « ; », champs entre guillemets, CRLF).

- `preconisations/preconisations__<territoire>.xlsx` : les préconisations des analystes,
  saisies dans le modèle écrit par « qualipipe report template » (il faut une étude déjà
  traitée, par exemple la copie de `qualipipe demo` : option --etude outputs/demo/etude).

Usage (depuis la racine du dépôt) :
    python examples/etude-demo/outils/generer_ateliers.py [--etude outputs/demo/etude]
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from openpyxl import load_workbook

from qualipipe.config import load_config
from qualipipe.ingest.workshop import POSTIT_SHEET, write_postit_template
from qualipipe.report import preconisation_template
from qualipipe.report.preconisations import SHEET as PRECONISATION_SHEET
from qualipipe.store import open_study
from qualipipe.surveys.instruments import load_instrument

HERE = Path(__file__).resolve().parent
STUDY = HERE.parent
REPO = STUDY.parents[1]
FIXED = ["id", "submitdate", "lastpage", "startlanguage", "seed", "token", "startdate", "datestamp"]

# (groupe, catégorie, thème, texte) — atelier du 14 avril 2026 à Felletin, 4 tables.
POSTITS_SUD_CREUSE = [
    ("Table 1", "Atouts", "Alimentation", "Des producteurs bio nombreux autour de Felletin"),
    ("Table 1", "Atouts", "Alimentation", "Une conserverie qui sait transformer les légumes"),
    (
        "Table 1",
        "Atouts",
        "Emploi et insertion",
        "Le chantier d'insertion en maraîchage existe déjà",
    ),
    ("Table 1", "Faiblesses", "Mobilité", "Pas de transport pour aller travailler sans voiture"),
    ("Table 1", "Faiblesses", "Alimentation", "Pas d'outil pour laver et éplucher les légumes"),
    ("Table 1", "Opportunités", "Alimentation", "La loi Egalim pousse les cantines vers le local"),
    (
        "Table 1",
        "Menaces",
        "Transition écologique",
        "Les sécheresses et les restrictions d'irrigation",
    ),
    (
        "Table 1",
        "Vision à 10 ans",
        "",
        "Les cantines du sud Creuse servent des légumes d'ici, lavés et coupés à la légumerie",
    ),
    (
        "Table 2",
        "Atouts",
        "Coopération entre acteurs",
        "Tout le monde se connaît, on se parle facilement",
    ),
    ("Table 2", "Atouts", "Tissu économique", "Un tissu d'artisans et de petites entreprises"),
    ("Table 2", "Faiblesses", "Emploi et insertion", "Les employeurs ont du mal à recruter"),
    (
        "Table 2",
        "Faiblesses",
        "Logement",
        "Peu de logements à louer pour les saisonniers et les jeunes",
    ),
    (
        "Table 2",
        "Faiblesses",
        "Coopération entre acteurs",
        "Le pôle n'a pas de salarié pour l'animation",
    ),
    ("Table 2", "Opportunités", "Emploi et insertion", "Des emplois à créer dans la légumerie"),
    (
        "Table 2",
        "Opportunités",
        "Alimentation",
        "L'idée de Martine Lavaud : une légumerie partagée pour la restauration collective",
    ),
    (
        "Table 2",
        "Menaces",
        "Tissu économique",
        "Des départs en retraite sans repreneur dans les fermes",
    ),
    ("Table 2", "Vision à 10 ans", "", "Un territoire où les jeunes peuvent rester travailler"),
    (
        "Table 3",
        "Atouts",
        "Transition écologique",
        "Des terres agricoles et de l'eau, pour l'instant",
    ),
    (
        "Table 3",
        "Faiblesses",
        "Accès aux services",
        "Les services publics s'éloignent, le médecin est à 30 km",
    ),
    ("Table 3", "Faiblesses", "Mobilité", "Le permis de conduire coûte trop cher pour les jeunes"),
    (
        "Table 3",
        "Opportunités",
        "Transition écologique",
        "Récupérer l'eau de pluie pour le maraîchage",
    ),
    (
        "Table 3",
        "Opportunités",
        "Coopération entre acteurs",
        "Le lycée agricole veut travailler avec le pôle",
    ),
    ("Table 3", "Menaces", "Accès aux services", "La fermeture de l'épicerie du bourg"),
    (
        "Table 3",
        "Menaces",
        "Transition écologique",
        "Manque d'eau l'été : les maraîchers arrêtent d'arroser",
    ),
    (
        "Table 3",
        "Vision à 10 ans",
        "",
        "Une alimentation de qualité accessible aux familles modestes",
    ),
    (
        "Table 4",
        "Atouts",
        "Alimentation",
        "L'épicerie sociale de Felletin connaît les familles en difficulté",
    ),
    (
        "Table 4",
        "Faiblesses",
        "Accès aux services",
        "La précarité alimentaire est cachée dans les villages",
    ),
    ("Table 4", "Opportunités", "Tissu économique", "Le financement de la phase 2 de l'AMI"),
    ("Table 4", "Menaces", "Emploi et insertion", "La baisse des aides aux chantiers d'insertion"),
    (
        "Table 4",
        "Vision à 10 ans",
        "",
        "Le pôle est reconnu par les élus comme l'outil de la filière alimentaire",
    ),
]

THEMES = [
    "EMPLOI",
    "MOBILITE",
    "ALIMENT",
    "TRANSITION",
    "ECONOMIE",
    "SERVICES",
    "LOGEMENT",
    "COOPERATION",
]

# Limoges Nord, atelier du 2 avril 2026 à la Fabrique : réponses sur téléphone.
# (jeton, A01, A02, table, {(question, thème): texte}, vision V05, rôle du pôle V06)
LIMOGES_NORD = [
    (
        "3M4Fz6Hq2AK7EGH",
        "MEMB",
        "SIAE",
        "G1",
        {
            ("V01", "EMPLOI"): "La régie emploie des habitants du quartier",
            ("V02", "LOGEMENT"): "Des logements à 34 °C l'été, mal isolés",
            ("V03", "TRANSITION"): "Débitumer la dalle pour faire des îlots de fraîcheur",
            ("V04", "EMPLOI"): "Les fins de contrats aidés",
        },
        "Des quartiers plus verts et plus frais, où les habitants travaillent près de chez eux.",
        "Le pôle porte les chantiers de végétalisation avec les habitants.",
    ),
    (
        "ZbKoXi0d9TH4QgT",
        "MEMB",
        "ESS",
        "G1",
        {
            ("V01", "ECONOMIE"): "La ressourcerie et ses trois boutiques",
            ("V01", "COOPERATION"): "Le tiers-lieu la Fabrique, ouvert à tous",
            ("V02", "ECONOMIE"): "Le modèle économique du pôle reste fragile",
            ("V03", "TRANSITION"): "Le réemploi des matériaux du bâtiment",
        },
        "Une économie circulaire de quartier, du réemploi au bâtiment.",
        "",
    ),
    (
        "T79IqJzQtJZPGSE",
        "COLL",
        "COLL",
        "G2",
        {
            ("V01", "SERVICES"): "Des équipements publics présents dans les quartiers",
            ("V02", "MOBILITE"): "Les bus du soir sont rares à Beaubreuil",
            ("V03", "LOGEMENT"): "Le programme de rénovation urbaine",
            ("V04", "SERVICES"): "La fermeture de la permanence CAF",
        },
        "Des quartiers reliés au centre-ville, avec des services ouverts le soir.",
        "",
    ),
    (
        "Z4zBms1racjP4M9",
        "ACTR",
        "ETAT",
        "G2",
        {
            ("V01", "EMPLOI"): "Des structures d'insertion qui se connaissent",
            ("V02", "EMPLOI"): "Les jeunes sans diplôme ne viennent pas à l'agence",
            ("V02", "MOBILITE"): "Sans permis, pas d'emploi dans la zone nord",
            ("V03", "EMPLOI"): "Les recrutements du bâtiment et de la logistique",
        },
        "Un taux de chômage des jeunes divisé par deux.",
        "",
    ),
    (
        "DZH7Fx6mqSFDGX0",
        "FINAN",
        "FINAN",
        "G3",
        {
            ("V01", "COOPERATION"): "Un pôle qui existe depuis 2016, reconnu",
            ("V02", "ECONOMIE"): "Trop dépendant des subventions",
            ("V04", "ECONOMIE"): "La relève des fondateurs n'est pas préparée",
        },
        "",
        "Le pôle a trouvé un modèle économique, avec des recettes propres.",
    ),
    (
        "",
        "ACTR",
        "CITOY",
        "G3",
        {
            ("V02", "SERVICES"): "On ne sait pas à qui s'adresser quand on a un problème",
            ("V03", "ALIMENT"): "Une épicerie solidaire au pied des immeubles",
            (
                "V04",
                "TRANSITION",
            ): "Les canicules, les personnes âgées seules dans les appartements",
        },
        "Un quartier où on se sent bien, même l'été.",
        "",
    ),
    (
        "",
        "ACTR",
        "ESS",
        "G4",
        {
            ("V01", "ALIMENT"): "Les jardins partagés de Vigenal",
            ("V03", "ALIMENT"): "Une cantine solidaire au tiers-lieu",
            ("V04", "LOGEMENT"): "Les bailleurs qui retardent les travaux d'isolation",
        },
        "",
        "",
    ),
]


def write_postits() -> Path:
    config = load_config(STUDY)
    territory = config.territory("sud-creuse")
    path = STUDY / "ateliers" / "postits__sud-creuse.xlsx"
    write_postit_template(path, territory, groups=4)
    workbook = load_workbook(path)
    ws = workbook[POSTIT_SHEET]
    for row, values in enumerate(POSTITS_SUD_CREUSE, start=2):
        for column, value in enumerate(values, start=1):
            ws.cell(row=row, column=column, value=value or None)
    workbook.save(path)
    return path


def write_answers() -> Path:
    instrument = load_instrument(REPO / "surveys" / "atelier_vision.yaml")
    columns = [c.name for c in instrument.export_columns()]
    rows = []
    for number, (token, a01, a02, table, ideas, vision, role) in enumerate(LIMOGES_NORD, start=1):
        when = f"2026-04-02 {10 + number // 3:02d}:{(number * 7) % 60:02d}:00"
        values = {"A01": a01, "A02": a02, "A03": table, "V05": vision, "V06": role}
        values |= {f"{question}[{theme}]": text for (question, theme), text in ideas.items()}
        fixed = [str(number), when, "3", "fr", str(1000 + number), token, when, when]
        rows.append(fixed + [values.get(c, "") for c in columns])
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", quoting=csv.QUOTE_ALL, lineterminator="\r\n")
    writer.writerow(FIXED + columns)
    writer.writerows(rows)
    path = STUDY / "questionnaires" / "atelier_vision__limoges-nord.csv"
    path.write_bytes(("\ufeff" + buffer.getvalue()).encode("utf-8"))
    return path


# (texte, enjeux traités, acteurs à associer, horizon, moyens, indicateur de suivi)
PRECONISATIONS = {
    "sud-creuse": [
        (
            "Lancer l'étude de faisabilité de la légumerie partagée et signer une première "
            "convention d'approvisionnement avec deux établissements scolaires.",
            [
                "ENJ_ALIMENTATION — Alimentation et agriculture",
                "BES_LOCAUX_FONCIER — Locaux et foncier",
            ],
            ["Communauté de communes Creuse Grand Sud", "Type : collectivité"],
            "court terme",
            "Phase 2 de l'AMI ; appui du DLA pour le plan de financement.",
            "Convention signée ; volumes de légumes livrés par mois.",
        ),
        (
            "Recruter une personne à l'animation du pôle, partagée entre les trois structures "
            "fondatrices.",
            ["BES_ANIMATION — Animation et coordination", "BES_FINANCEMENT — Financement"],
            ["SCIC Les Paniers de la Creuse", "Type : financeur"],
            "court terme",
            "Poste à mi-temps financé par l'AMI puis par les adhésions.",
            "Poste pourvu ; nombre de réunions du pôle animées.",
        ),
        (
            "Construire avec le lycée agricole et les employeurs un parcours vers les métiers de "
            "la légumerie, avec une solution de mobilité pour les salarié·es en insertion.",
            ["ENJ_EMPLOI_INSERTION — Emploi et insertion", "ENJ_MOBILITE — Mobilité"],
            ["Lycée agricole d'Ahun (EPLEFPA de la Creuse)", "Type : État/opérateur public"],
            "moyen terme",
            "Groupe de travail emploi ; covoiturage solidaire à étudier.",
            "Personnes formées et embauchées à la légumerie.",
        ),
        (
            "Préparer le maraîchage du territoire aux sécheresses : récupération d'eau de pluie, "
            "calendrier d'irrigation partagé.",
            ["ENJ_TRANSITION_ECOLOGIQUE — Transition écologique"],
            ["Chambre d'agriculture de la Creuse", "Autre : syndicat de rivière"],
            "long terme",
            "",
            "",
        ),
    ],
}


def write_preconisations(study_dir: Path) -> list[Path]:
    written = []
    with open_study(study_dir) as study:
        for territory, rows in PRECONISATIONS.items():
            path = STUDY / "preconisations" / f"preconisations__{territory}.xlsx"
            preconisation_template(study, territory, path)
            workbook = load_workbook(path)
            ws = workbook[PRECONISATION_SHEET]
            for line, (text, issues, actors, horizon, means, indicator) in enumerate(rows, start=2):
                values = [text, *issues, *[""] * (3 - len(issues)), *actors]
                values += [""] * (3 - len(actors)) + [horizon, means, indicator]
                for column, value in enumerate(values, start=2):
                    ws.cell(row=line, column=column, value=value or None)
            workbook.save(path)
            written.append(path)
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--etude", type=Path, help="étude traitée, pour les préconisations")
    arguments = parser.parse_args()
    written = [write_postits(), write_answers()]
    if arguments.etude:
        written += write_preconisations(arguments.etude)
    for path in written:
        print(f"écrit : {path.relative_to(REPO)}")
