"""`qualipipe territory …`: INSEE data, territorial portrait, cited actors (parse and print only)."""

from __future__ import annotations

from pathlib import Path

import click

from qualipipe import resolve
from qualipipe.cli.common import (
    CONTEXT,
    FrenchGroup,
    console,
    open_study_at,
    output_root_option,
    study_option,
    territory_option,
)
from qualipipe.synthesize.territory_section import PORTRAITS_FOLDER, write_portrait
from qualipipe.territory.actors_workbook import export_actor_workbook, import_actor_workbook
from qualipipe.territory.storage import LoadReport, load_insee_files


@click.group("territory", cls=FrenchGroup, context_settings=CONTEXT)
def territory_group() -> None:
    """Portrait du territoire (données INSEE) et acteurs cités à associer.

    Exemple : qualipipe territory load base_cc_comparateur.csv
    """


@territory_group.command("load")
@study_option
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    metavar="FICHIER.csv...",
)
def load_command(study: Path | None, files: tuple[Path, ...]) -> None:
    """Charger la « base du comparateur de territoires » de l'INSEE (fichier national ou
    extraits par département, séparateur ; ou ,, tout millésime).

    Seules les lignes des communes de l'étude (codes communes et EPCI de qualipipe.toml) et les
    totaux par département sont gardés. Tous les fichiers sont vérifiés avant d'enregistrer.

    Exemple : qualipipe territory load base_cc_comparateur_23.csv base_cc_comparateur_87.csv
    """
    with open_study_at(study) as opened, console.status("Lecture des fichiers INSEE…"):
        report = load_insee_files(opened, files)
    print_insee_load(report)


def print_insee_load(report: LoadReport) -> None:
    for name, vintage, rows in report.files:
        console.print(f"{name} : millésime {vintage}, {rows} communes lues.")
    for vintage, deps in report.departements.items():
        console.print(f"Millésime {vintage} : départements chargés {', '.join(deps)}.")
    for match in report.territories:
        line = f"{match.territory_id} : {len(match.communes)} commune(s) trouvée(s)"
        console.print(
            line + (f" ({', '.join(match.communes[:8])}…)" if len(match.communes) > 8 else "")
        )
        if match.missing_communes:
            console.print(
                f"  [yellow]Communes introuvables :[/] {', '.join(match.missing_communes)} "
                "(code INSEE erroné, ou département non chargé)."
            )
        if match.missing_epci:
            console.print(
                f"  [yellow]EPCI absent des fichiers :[/] {', '.join(match.missing_epci)} "
                "(vérifiez le SIREN dans qualipipe.toml)."
            )
        if match.epci_not_expanded:
            console.print(
                f"  EPCI {', '.join(match.epci_not_expanded)} non développé : ce fichier ne donne "
                "pas l'EPCI des communes ; seules les communes listées sont prises."
            )
    console.print(f"{report.communes_stored} ligne(s) de communes enregistrée(s) dans l'étude.")


@territory_group.command("portrait")
@study_option
@territory_option
@click.option(
    "--millesime",
    "vintage",
    type=int,
    default=None,
    help="Année du recensement (ex. 2019) ; par défaut le plus récent chargé.",
)
@output_root_option("le portrait va dans SORTIE/<étude>/portraits/<territoire>/")
def portrait_command(
    study: Path | None, territory: str | None, vintage: int | None, out_root: Path
) -> None:
    """Écrire le portrait du territoire seul (.xlsx, .docx, .md et graphiques).

    Exemple : qualipipe territory portrait -t sud-creuse --millesime 2019
    """
    with open_study_at(study) as opened:
        out_dir = resolve.output_dir(opened.root, root=out_root)
        chosen = (
            [opened.config.territory(territory)] if territory else list(opened.config.territories)
        )
        for t in chosen:
            with console.status(f"Portrait : {t.name}…"):
                files = write_portrait(opened, out_dir, t, vintage)
            console.print(f"{t.id} : {len(files)} fichiers → {out_dir / PORTRAITS_FOLDER / t.id}")


@territory_group.command("actors-export")
@study_option
@territory_option
@click.option(
    "--sortie",
    "output",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Fichier .xlsx à écrire (par défaut : outputs/<étude>/acteurs/acteurs_cites.xlsx).",
)
def actors_export_command(study: Path | None, territory: str | None, output: Path | None) -> None:
    """Écrire le classeur des acteurs cités, à marquer « déjà associé » ou « à contacter ».

    Exemple : qualipipe territory actors-export -t limoges-nord
    """
    with open_study_at(study) as opened, console.status("Recherche des organisations citées…"):
        path = output or resolve.output_dir(opened.root, "acteurs", "acteurs_cites.xlsx")
        result = export_actor_workbook(opened, path, territory=territory)
    console.print(
        f"Classeur écrit : [bold]{result.path}[/] ({result.rows} organisation(s)). Remplissez la "
        f"colonne « Suivi » puis « qualipipe territory actors-import {result.path.name} --coder NOM »."
    )


@territory_group.command("actors-import")
@study_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False), metavar="FICHIER.xlsx")
@click.option(
    "--coder",
    "--codeur",
    "coder",
    required=True,
    help="Nom de l'analyste qui a rempli le classeur.",
)
def actors_import_command(study: Path | None, file: Path, coder: str) -> None:
    """Importer le suivi des acteurs cités (« déjà associé » / « à contacter »).

    Le fichier est entièrement vérifié avant tout import ; l'historique est conservé.

    Exemple : qualipipe territory actors-import acteurs_cites.xlsx --coder Alice
    """
    with open_study_at(study) as opened:
        result = import_actor_workbook(opened, file, coder)
    console.print(
        f"{result.file} : {result.rows_read} ligne(s) lue(s), {result.added} suivi(s) "
        f"enregistré(s) au nom de {coder}, {result.unchanged} inchangé(s)."
    )
