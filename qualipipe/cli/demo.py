"""`qualipipe demo`: every stage on a fresh copy of the example study, printed step by step."""

from __future__ import annotations

from functools import singledispatch
from pathlib import Path

import click

from qualipipe.cli.codebook import print_codebook_load
from qualipipe.cli.coding import print_code_report, print_themes
from qualipipe.cli.common import console
from qualipipe.cli.ingest import print_ingest_report
from qualipipe.cli.report import (
    print_bilan,
    print_livrable,
    print_postit_import,
    print_preconisation_import,
)
from qualipipe.cli.review import (
    print_agreement,
    print_disagreements_file,
    print_review_export,
    print_review_import,
)
from qualipipe.cli.synthesize import print_synthesis
from qualipipe.cli.territory import print_insee_load
from qualipipe.codebook.changes import CodebookLoad
from qualipipe.coding.suggest import CodingReport
from qualipipe.coding.themes import ThemesResult
from qualipipe.demo import (
    BilanFile,
    DemoReport,
    DisagreementsFile,
    PostitsImport,
    run_demo,
)
from qualipipe.ingest import IngestReport
from qualipipe.report.livrable import LivrableReport
from qualipipe.report.preconisations import ImportResult as PreconisationResult
from qualipipe.review.agreement import AgreementReport
from qualipipe.review.common import ExportResult, ImportResult
from qualipipe.synthesize import SynthesisReport
from qualipipe.territory.storage import LoadReport


@click.command("demo")
@click.option(
    "--sortie",
    "out_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=Path("outputs") / "demo",
    show_default=True,
    help="Dossier où écrire l'étude copiée et toutes les sorties.",
)
def demo_command(out_dir: Path) -> None:
    """Démonstration : toutes les étapes sur une copie de l'étude d'exemple.

    Copie l'étude d'exemple livrée avec qualipipe dans SORTIE/etude, charge le codebook, importe
    manifeste, entretiens et questionnaires, suggère les codes, importe les décisions de
    l'analyste, recode, écrit le classeur de revue, l'accord entre codeurs, les thèmes émergents et
    les synthèses par territoire. Fonctionne depuis n'importe quel dossier.

    Exemple : qualipipe demo
    """

    def step(title: str) -> None:
        console.rule(f"[bold]{title}")

    study_db = out_dir / "etude" / "study.db"
    show.register(IngestReport, lambda report: print_ingest_report(report, study_db))
    show.register(CodebookLoad, lambda result: print_codebook_load(result, study_db.parent))
    report = run_demo(out_dir, on_step=step, on_result=show)
    print_summary(report)


@singledispatch
def show(result: object) -> None:
    """Print one step's result as the stand-alone command prints it."""


show.register(CodingReport, print_code_report)
show.register(ImportResult, print_review_import)
show.register(ExportResult, print_review_export)
show.register(AgreementReport, print_agreement)
show.register(DisagreementsFile, lambda written: print_disagreements_file(written.path))
show.register(BilanFile, lambda written: print_bilan(written.path))
show.register(PostitsImport, lambda done: print_postit_import(done.file, done.change))
show.register(PreconisationResult, print_preconisation_import)
show.register(LivrableReport, print_livrable)
show.register(ThemesResult, print_themes)
show.register(LoadReport, print_insee_load)
show.register(SynthesisReport, lambda report: print_synthesis(report, with_comparison=True))


def print_summary(report: DemoReport) -> None:
    plan = report.plan
    console.rule("[bold]Résumé")
    console.print(
        f"Étude d'exemple copiée et traitée dans [bold]{plan.study_dir}[/] "
        f"(base : {plan.study_dir / 'study.db'})."
    )
    folders: dict[Path, int] = {}
    for path in report.files:
        folders[path.parent] = folders.get(path.parent, 0) + 1
    for folder, count in sorted(folders.items()):
        console.print(f"  {folder} : {count} fichier(s)")
    console.print(
        f"{len(report.files)} fichiers écrits sous [bold]{plan.out_dir}[/] en "
        f"{report.seconds:.0f} s. Ouvrez par exemple "
        f"{plan.out_dir / report.first_territory / 'synthese.docx'}."
    )
