"""`qualipipe demo`: every stage on a fresh copy of the example study."""

from __future__ import annotations

import time
from pathlib import Path

import click

from qualipipe.cli.codebook import codebook_load_command
from qualipipe.cli.coding import code_command, themes_command
from qualipipe.cli.common import (
    console,
)
from qualipipe.cli.ingest import ingest_command
from qualipipe.cli.report import import_command, postit_import_command
from qualipipe.cli.review import agreement_command, review_export_command, review_import_command
from qualipipe.cli_territory import load_command as territory_load_command
from qualipipe.demo import find_repository, prepare_demo, written_files
from qualipipe.report import write_bilan, write_livrable
from qualipipe.store import open_study
from qualipipe.synthesize import synthesize_study


@click.command("demo")
@click.option(
    "--sortie",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("outputs") / "demo",
    show_default=True,
    help="Dossier où écrire l'étude copiée et toutes les sorties.",
)
@click.option(
    "--depot",
    "repository",
    type=click.Path(path_type=Path, file_okay=False, exists=True),
    default=None,
    help="Dossier de qualipipe contenant examples/, codebooks/ et surveys/ (par défaut : trouvé seul).",
)
@click.pass_context
def demo_command(ctx: click.Context, out_dir: Path, repository: Path | None) -> None:
    """Démonstration : toutes les étapes sur une copie de l'étude d'exemple.

    Copie examples/etude-demo dans SORTIE/etude, charge le codebook, importe manifeste, entretiens
    et questionnaires, suggère les codes, importe les décisions de l'analyste, recode, écrit le
    classeur de revue, l'accord entre codeurs, les thèmes émergents et les synthèses par territoire.

    Exemple : qualipipe demo
    """

    started = time.perf_counter()
    plan = prepare_demo(repository or find_repository(), out_dir)
    study = plan.study_dir

    def step(title: str) -> None:
        console.rule(f"[bold]{title}")

    step("1. Codebook")
    ctx.invoke(codebook_load_command, path=plan.codebook, study=study)
    step("2. Participants et entretiens")
    ctx.invoke(
        ingest_command,
        paths=(plan.transcripts,),
        study=study,
        manifest=plan.manifest,
        instrument=None,
        territory=None,
    )
    step("2 bis. Données INSEE des territoires (portrait)")
    ctx.invoke(territory_load_command, study=study, files=plan.insee_files)
    step("3. Réponses aux questionnaires (exports LimeSurvey)")
    for export in plan.survey_exports:
        ctx.invoke(
            ingest_command,
            paths=(export.path,),
            study=study,
            manifest=None,
            instrument=str(export.instrument),
            territory=export.territory_id,
        )
    for postits in sorted((study / "ateliers").glob("postits__*.xlsx")):  # workshop 1 (issue 19)
        ctx.invoke(postit_import_command, file=postits, study=study, territory=postits.stem[9:])
    step("4. Suggestions de codes")
    ctx.invoke(code_command, study=study)
    step("5. Décisions de l'analyste, puis nouvelles suggestions apprises de ces décisions")
    ctx.invoke(review_import_command, study=study, file=plan.decisions)
    ctx.invoke(code_command, study=study)
    step("6. Classeur de revue et accord entre codeurs")
    ctx.invoke(review_export_command, study=study, not_reviewed=True, output=plan.review_workbook)
    ctx.invoke(agreement_command, study=study, output=plan.disagreements)
    step("7. Thèmes émergents")
    ctx.invoke(themes_command, study=study)
    step("8. Synthèses pour le livrable")

    with open_study(study) as opened, console.status("Synthèses, figures et nuages de mots…"):
        report = synthesize_study(opened, plan.out_dir, include_comparison=True)
    for warning in report.warnings:
        console.print(f"[yellow]Attention :[/] {warning}")
    step("9. Préconisations, livrables et bilan")
    for workbook in sorted((study / "preconisations").glob("preconisations__*.xlsx")):
        ctx.invoke(
            import_command, file=workbook, study=study, territory=workbook.stem[16:], coder=""
        )
    with open_study(study) as opened, console.status("Livrables et bilan…"):
        for territory in report.territories:
            write_livrable(opened, plan.out_dir, territory)
        write_bilan(opened, plan.out_dir)

    files = written_files(plan.out_dir)
    console.rule("[bold]Résumé")
    console.print(
        f"Étude d'exemple copiée et traitée dans [bold]{study}[/] (base : {study / 'study.db'})."
    )
    folders: dict[Path, int] = {}
    for path in files:
        folders[path.parent] = folders.get(path.parent, 0) + 1
    for folder, count in sorted(folders.items()):
        console.print(f"  {folder} : {count} fichier(s)")
    console.print(
        f"{len(files)} fichiers écrits sous [bold]{plan.out_dir}[/] en {time.perf_counter() - started:.0f} s. "
        f"Ouvrez par exemple {plan.out_dir / report.territories[0] / 'synthese.docx'}."
    )
