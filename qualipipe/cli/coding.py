"""`qualipipe code` and `qualipipe themes`: code suggestions and emergent themes."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from qualipipe.cli.common import (
    console,
    open_study_at,
    study_option,
    territory_option,
)
from qualipipe.codebook import drafts
from qualipipe.coding import themes
from qualipipe.coding.policy import REJECTIONS_TO_MUTE
from qualipipe.coding.suggest import CodingReport, suggest_codes

# -- code (issue 6, suggestions) ----------------------------------------------------------------


@click.command("code")
@study_option
@territory_option
@click.option(
    "--nouveaux-seulement",
    "only_new",
    is_flag=True,
    help="Ne traiter que les segments jamais codés (les suggestions existantes restent).",
)
@click.option(
    "--processus",
    "n_process",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="Processus spaCy en parallèle pour l'analyse des textes nouveaux (gros corpus).",
)
def code_command(study: Path | None, territory: str | None, only_new: bool, n_process: int) -> None:
    """Suggérer des codes pour chaque segment, avec leur justification.

    Combine le lexique du codebook, la proximité de sens avec chaque code et un modèle appris
    sur vos décisions (réentraîné à chaque lancement). Ne modifie jamais vos décisions. Les
    segments de l'enquêteur ne sont pas codés. Relancer après une séance de revue ne réanalyse
    pas les textes inchangés.

    Exemple : qualipipe code --territory auxois
    """

    with open_study_at(study) as opened:
        report = suggest_codes(
            opened, territory=territory, only_new=only_new, n_process=n_process, progress=True
        )
    print_code_report(report)


def print_code_report(report: CodingReport) -> None:
    where = f" (territoire {report.territory})" if report.territory else ""
    console.print(
        f"Codage terminé{where} en {report.seconds:.1f} s : {report.segments_processed} segments "
        f"traités ({report.words} mots ; {report.texts_analysed} textes analysés par spaCy, "
        f"les autres lus dans le cache), {report.skipped_interviewer} segments d'enquêteur ignorés."
    )
    console.print(
        f"Appris sur {report.reviewed_segments} segments revus ; score {report.combination}."
    )
    if report.muted_codes:
        console.print(
            f"Codes rejetés {REJECTIONS_TO_MUTE} fois de suite, plus suggérés jusqu'à ce qu'un "
            f"analyste les accepte de nouveau : {', '.join(report.muted_codes)}."
        )
    if report.out_of_scope:
        console.print(
            f"{report.out_of_scope} suggestions écartées : le codebook dit que ces codes ne "
            f"s'appliquent pas à ces segments (champ s_applique_a)."
        )
    table = Table(title="Suggestions enregistrées par famille")
    table.add_column("Famille")
    table.add_column("Suggestions", justify="right")
    for family, count in report.suggestions_per_family.items():
        table.add_row(family, str(count))
    table.add_row("Total", str(report.suggestions))
    console.print(table)
    console.print(
        "Suggestions enregistrées dans study.db ; exportez-les pour la revue avec "
        "« qualipipe review ». Modèle : " + report.model_version
    )


# -- themes (issue 6, emergent themes) ---------------------------------------------------------


@click.command("themes")
@study_option
@territory_option
@click.option(
    "--nombre",
    "-k",
    "n_themes",
    type=click.IntRange(1, 30),
    default=None,
    help="Nombre de thèmes voulu (par défaut : celui dont les mots sont les plus cohérents, de 2 à 8).",
)
@click.option(
    "--score-max",
    type=click.FloatRange(0.0, 1.0),
    default=0.5,
    show_default=True,
    help="Un segment est « peu couvert » si sa meilleure suggestion de code est sous ce score.",
)
@click.option(
    "--vers-code",
    "to_code",
    type=int,
    default=None,
    metavar="N",
    help="Ajouter le thème n°N au codebook, comme code brouillon à relire.",
)
@click.option(
    "--codebook",
    "codebook_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Codebook YAML à compléter avec --vers-code (par défaut : celui chargé dans l'étude).",
)
@click.option(
    "--famille",
    "family",
    default="TRANS",
    show_default=True,
    help="Famille du codebook qui reçoit le code brouillon (--vers-code).",
)
def themes_command(
    study: Path | None,
    territory: str | None,
    n_themes: int | None,
    score_max: float,
    to_code: int | None,
    codebook_path: Path | None,
    family: str,
) -> None:
    """Thèmes émergents : ce que le codebook ne couvre pas encore.

    Sur les segments sans code accepté et sans suggestion convaincante (hors questions de
    l'enquêteur), dégage des thèmes récurrents : mots caractéristiques, libellé proposé, extraits
    représentatifs (pseudonymisés), répartition par territoire et type d'acteur. Les thèmes sont
    enregistrés dans l'étude ; --vers-code N en fait un code brouillon dans le codebook.

    \b
    Exemple : qualipipe themes --territory auxois
    puis :    qualipipe themes --vers-code 3 --codebook codebooks/ptce.yaml
    """

    with open_study_at(study) as opened:
        if to_code is not None:
            path = codebook_path or drafts.default_codebook_path(opened)
            draft = themes.append_draft_code(opened, to_code, path, family=family)
            console.print(
                f"Code brouillon [bold]{draft.code_id}[/] (« {draft.label} ») ajouté à la famille "
                f"{draft.family} de {draft.codebook_path}, ligne {draft.line}. Relisez-le, passez "
                f"« codable » à oui, puis rechargez le codebook (qualipipe codebook load)."
            )
            return
        result = themes.find_themes(
            opened, territory=territory, n_themes=n_themes, score_max=score_max
        )
    print_themes(result)


def print_themes(result: themes.ThemesResult) -> None:
    console.print(themes.render_themes(result))
    console.print("Extraits représentatifs :")
    for line in themes.excerpt_lines(result):
        console.print(line, highlight=False)
    console.print(themes.summary_line(result))
