"""`qualipipe synthesize`: tables, figures and documents for the livrable."""

from __future__ import annotations

from pathlib import Path

import click

from qualipipe import resolve
from qualipipe.cli.common import (
    console,
    open_study_at,
    output_root_option,
    progress_task,
    study_option,
    territory_option,
)
from qualipipe.synthesize import SynthesisReport, synthesize_study


@click.command("synthesize")
@study_option
@territory_option
@click.option(
    "--all",
    "all_territories",
    is_flag=True,
    help="Tous les territoires, plus la comparaison entre territoires (dossier comparaison/).",
)
@click.option(
    "--validated-only",
    is_flag=True,
    help="Ne compter que les codages validés par un·e analyste (sans les suggestions non revues).",
)
@click.option(
    "--seuil-partage",
    "share_threshold",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Enjeu partagé : nombre minimal de participants de plusieurs types d'acteurs.",
)
@click.option(
    "--noms-reels",
    "keep_names",
    is_flag=True,
    help="Garder les noms réels (document de travail interne : à ne pas diffuser).",
)
@click.option(
    "--figures/--sans-figures",
    "with_figures",
    default=True,
    help="Figures et nuages de mots (par défaut) ; --sans-figures : tableaux seulement, plus rapide.",
)
@output_root_option("la synthèse va dans SORTIE/<dossier de l'étude>/<territoire>/")
def synthesize_command(
    study: Path | None,
    territory: str | None,
    all_territories: bool,
    validated_only: bool,
    share_threshold: int,
    keep_names: bool,
    with_figures: bool,
    out_root: Path,
) -> None:
    """Écrire la synthèse du diagnostic : tableaux (.xlsx, .docx, .md), cartographie des
    acteurs, nuages de mots, priorités de l'atelier 2 et évaluation, par territoire.

    Sans --territory : tous les territoires. --all ajoute la comparaison entre territoires.

    Exemple : qualipipe synthesize --study mon-etude --territory auxois --validated-only
    """

    if territory and all_territories:
        raise click.UsageError("Choisissez --territory OU --all, pas les deux.")
    with open_study_at(study) as opened:
        out_dir = resolve.output_dir(opened.root, root=out_root)
        with progress_task("Synthèse") as progress:
            report = synthesize_study(
                opened,
                out_dir,
                territory=territory,
                include_comparison=all_territories,
                validated_only=validated_only,
                share_threshold=share_threshold,
                keep_names=keep_names,
                with_figures=with_figures,
                on_step=progress.describe,
                on_territory=lambda done, total, name: progress.named(name, done, total),
            )
    print_synthesis(report, with_comparison=all_territories, keep_names=keep_names)


def print_synthesis(
    report: SynthesisReport, *, with_comparison: bool, keep_names: bool = False
) -> None:
    out_dir = report.out_dir
    if len(report.territories) <= 10:
        for territory_id in report.territories:
            counts = report.counts[territory_id]
            console.print(
                f"{territory_id} : {counts['tableaux']} tableaux, {counts['figures']} figures "
                f"→ {out_dir / territory_id}"
            )
    if with_comparison:
        console.print(f"Comparaison des territoires → {out_dir / 'comparaison'}")
    for warning in report.warnings[:10]:
        console.print(f"[yellow]Attention :[/] {warning}")
    if len(report.warnings) > 10:
        console.print(
            f"[yellow]Attention :[/] {len(report.warnings) - 10} autre(s) avertissement(s)."
        )
    if keep_names:
        console.print(
            "[yellow]Noms réels conservés : ces fichiers ne doivent pas être diffusés.[/]"
        )
    figures = sum(c["figures"] for c in report.counts.values())
    console.print(
        f"Synthèse : {len(report.territories)} territoire(s) en {report.seconds:.0f} s "
        f"({report.seconds / max(1, len(report.territories)):.1f} s par territoire) — "
        f"{len(report.files)} fichiers dont {figures} figures, "
        f"{report.size_bytes() / 1e6:.1f} Mo, sous {out_dir}."
    )
