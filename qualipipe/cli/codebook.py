"""`qualipipe codebook …`: check, load, export, import the shared codebook."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from qualipipe import resolve
from qualipipe.cli.common import (
    comma_list,
    command_group,
    console,
    open_study_at,
    output_file_option,
    study_option,
)
from qualipipe.codebook.changes import CodebookLoad, load_into_study
from qualipipe.codebook.exchange import export_codebook, import_qdc_to_yaml
from qualipipe.codebook.model import load_codebook, study_codebook


@command_group("codebook")
def codebook_group() -> None:
    """Grille de codage : vérifier, charger dans l'étude, échanger (REFI-QDA, Excel, Word).

    Le format des fichiers est décrit dans docs/codebook.md.
    """


def _code_pairs(option: str, values: tuple[str, ...]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old.strip() or not new.strip() or "," in new:
            raise click.BadParameter(
                f"« {value} » : écrivez ANCIEN=NOUVEAU, par exemple {option} BES_LOCAUX=BES_FONCIER.",
                param_hint=option,
            )
        pairs[old.strip()] = new.strip()
    return pairs


def _code_splits(values: tuple[str, ...]) -> dict[str, list[str]]:
    splits: dict[str, list[str]] = {}
    for value in values:
        old, sep, new = value.partition("=")
        targets = comma_list(new)
        if not sep or not old.strip() or len(targets) < 2:
            raise click.BadParameter(
                f"« {value} » : écrivez ANCIEN=CODE1,CODE2 (au moins deux codes ; "
                f"le premier reçoit les décisions existantes).",
                param_hint="--scission",
            )
        splits[old.strip()] = targets
    return splits


@codebook_group.command("check")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), metavar="FICHIER")
def codebook_check_command(path: Path) -> None:
    """Vérifier un codebook YAML : tous les problèmes, avec leur ligne, en une fois.

    Exemple : qualipipe codebook check codebooks/ptce.yaml
    """

    codebook = load_codebook(path)
    families = sum(1 for code in codebook.codes if code.parent is None)
    console.print(
        f"[green]✓[/] {path} : « {codebook.name} » version {codebook.version}, {families} "
        f"familles, {len(codebook.codable())} codes codables, aucun problème."
    )


@codebook_group.command("load")
@click.argument(
    "path", type=click.Path(path_type=Path, dir_okay=False), required=False, metavar="[FICHIER]"
)
@study_option
@click.option(
    "--fusion",
    "merges",
    multiple=True,
    metavar="ANCIEN=NOUVEAU",
    help="ANCIEN disparaît, ses décisions rejoignent NOUVEAU (répétable).",
)
@click.option(
    "--scission",
    "splits",
    multiple=True,
    metavar="ANCIEN=CODE1,CODE2",
    help="ANCIEN est scindé ; ses décisions suivent CODE1, à revoir pour les autres (répétable).",
)
@click.option(
    "--renommage",
    "renames",
    multiple=True,
    metavar="ANCIEN=NOUVEAU",
    help="L'identifiant ANCIEN devient NOUVEAU, avec ses décisions (répétable).",
)
@click.option(
    "--destination",
    "destinations",
    multiple=True,
    metavar="ANCIEN=CODE",
    help="ANCIEN est supprimé ; ses décisions vont à CODE (répétable).",
)
@click.option("--essai", is_flag=True, help="Montrer les changements sans rien modifier.")
def codebook_load_command(
    path: Path | None,
    study: Path | None,
    merges: tuple[str, ...],
    splits: tuple[str, ...],
    renames: tuple[str, ...],
    destinations: tuple[str, ...],
    essai: bool,
) -> None:
    """Charger un codebook dans l'étude, en montrant ce qui change, sans perdre de décision.

    Par défaut FICHIER est le codebook indiqué dans qualipipe.toml. Un code qui porte des
    décisions ne peut disparaître que si vous dites où vont ses décisions.

    Exemple : qualipipe codebook load codebooks/ptce.yaml --fusion BES_LOCAUX=BES_LOCAUX_FONCIER
    """

    with open_study_at(study) as opened:
        if path is None:
            if not opened.config.codebook:
                raise click.UsageError(
                    "indiquez le fichier du codebook, ou la clé « codebook » dans qualipipe.toml."
                )
            path = opened.root / opened.config.codebook
        result = load_into_study(
            opened,
            path,
            merges=_code_pairs("--fusion", merges),
            splits=_code_splits(splits),
            renames=_code_pairs("--renommage", renames),
            destinations=_code_pairs("--destination", destinations),
            dry_run=essai,
        )
    print_codebook_load(result, opened.root, trial=essai)


def print_codebook_load(result: CodebookLoad, study_root: Path, *, trial: bool = False) -> None:
    path = result.path
    if result.changes and result.previous is not None:
        table = Table(title=f"Changements du codebook ({path})")
        for header in ("Changement", "Code", "Détail", "Décisions"):
            table.add_column(header)
        for change in result.changes:
            table.add_row(change.kind, change.code_id, escape(change.detail), str(change.decisions))
        console.print(table)
    counts = ", ".join(
        f"{result.count(kind)} {kind}(s)"
        for kind in ("ajouté", "renommé", "déplacé", "fusionné", "scindé", "supprimé", "modifié")
        if result.count(kind)
    )
    first_or_none = "premier chargement" if result.previous is None else "aucun code changé"
    if trial:
        console.print(f"Essai : {counts or 'aucun changement'} ; rien n'a été modifié.")
    elif not result.new_version:
        console.print(f"Codebook identique à celui de l'étude : rien à charger ({path}).")
    else:
        console.print(
            f"Codebook « {result.codebook.name} » version {result.codebook.version} chargé dans "
            f"{study_root} (version n°{result.version_id}) : {counts or first_or_none}. "
            f"{result.decisions_kept} décision(s) d'analystes conservées ; "
            f"{result.suggestions_dropped} suggestion(s) de codes retirés effacées."
        )


@codebook_group.command("export")
@click.argument(
    "path", type=click.Path(path_type=Path, dir_okay=False), required=False, metavar="[FICHIER]"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["qdc", "xlsx", "docx"]),
    default="qdc",
    show_default=True,
    help="qdc = REFI-QDA (NVivo, ATLAS.ti, MAXQDA, QualCoder) ; xlsx / docx = à lire et imprimer.",
)
@output_file_option("Fichier à écrire.")
@study_option
def codebook_export_command(
    path: Path | None, fmt: str, output: Path | None, study: Path | None
) -> None:
    """Exporter un codebook (le FICHIER YAML donné, sinon celui chargé dans l'étude).

    Sortie par défaut : outputs/<étude>/codebook/<nom>.<format>.

    Exemple : qualipipe codebook export codebooks/ptce.yaml --format qdc --sortie ptce.qdc
    """

    if path is not None:
        codebook = load_codebook(path)
        default = Path("outputs") / "codebook" / f"{path.stem}.{fmt}"
    else:
        with open_study_at(study) as opened:
            codebook = study_codebook(opened)
            default = resolve.output_dir(opened.root, "codebook", f"codebook.{fmt}")
    written = export_codebook(codebook, fmt, output or default)
    console.print(
        f"Codebook « {codebook.name} » ({len(codebook.codable())} codes codables) exporté en "
        f"{fmt} : {written}"
    )


@codebook_group.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False), metavar="FICHIER.qdc")
@output_file_option("Codebook YAML à écrire (par défaut : à côté du .qdc, extension .yaml).")
@click.option("--ecraser", is_flag=True, help="Remplacer le fichier de sortie s'il existe.")
def codebook_import_command(path: Path, output: Path | None, ecraser: bool) -> None:
    """Lire un codebook REFI-QDA (.qdc) d'un autre logiciel et l'écrire en YAML qualipipe.

    Exemple : qualipipe codebook import grille_nvivo.qdc --sortie codebooks/grille.yaml
    """

    target = output or path.with_suffix(".yaml")
    result = import_qdc_to_yaml(path, target, overwrite=ecraser)
    for warning in result.warnings:
        console.print(f"[yellow]À vérifier :[/] {escape(warning)}", highlight=False)
    console.print(
        f"{len(result.codebook.codes)} codes lus dans {path}, codebook écrit dans {target}. "
        f"Vérifiez-le : qualipipe codebook check {target}"
    )
