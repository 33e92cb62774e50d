"""init and status: create a study, show its progress."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from qualipipe.cli.common import (
    console,
    open_study_at,
    study_option,
)
from qualipipe.status import territory_statuses
from qualipipe.store import RunState, run_history
from qualipipe.study import init_study


@click.command("init")
@click.argument("folder", type=click.Path(path_type=Path), metavar="DOSSIER")
@click.option("--nom", "name", default="Diagnostic territorial partagé", help="Nom de l'étude.")
@click.option("--region", default="", help="Région de la CRESS.")
def init_command(folder: Path, name: str, region: str) -> None:
    """Créer une étude : un dossier avec qualipipe.toml et la base study.db.

    Exemple : qualipipe init mon-etude --nom "Diagnostics PTCE 2026" --region "Occitanie"
    """

    root = init_study(folder, name=name, region=region)
    console.print(
        f"Étude créée dans [bold]{root}[/]. Décrivez vos territoires dans {root / 'qualipipe.toml'}."
    )


@click.command("status")
@study_option
@click.option(
    "--codes",
    "per_code",
    is_flag=True,
    help="Ajouter, par code, les décisions et la précision/le rappel estimés des suggestions "
    "(validation croisée : quelques secondes de calcul).",
)
def status_command(study: Path | None, per_code: bool) -> None:
    """Afficher l'avancement de l'étude, par territoire.

    Participants par rôle, sources, segments, part des segments revus, taux de réponse aux
    questionnaires ; avec --codes, la qualité des suggestions de chaque code.

    Exemple : qualipipe status --codes
    """

    with open_study_at(study) as opened:
        table = Table(title=f"Étude « {opened.config.name} »")
        statuses = territory_statuses(opened)
        # Studies of written contributions have contributors, not founders and actors.
        people = [("Fondateurs", "founders"), ("Acteurs", "actors")]
        if any(s.contributors for s in statuses):
            people.append(("Contributeurs", "contributors"))
        headers = (
            "Territoire",
            *(header for header, _ in people),
            "Sources",
            "Segments",
            "Revus",
            "Réponses questionnaires",
        )
        for header in headers:
            table.add_column(header)
        for s in statuses:
            rate = str(s.responses_total) if s.responses_total else "—"
            if s.response_rate is not None:
                # Registered in LimeSurvey (mailed or given their link), not necessarily mailed.
                rate = f"{s.responses_total} ; inscrits : {s.responses}/{s.invited} ({s.response_rate:.0%})"
            reviewed = f"{s.reviewed_segments} ({s.reviewed_share:.0%})"
            table.add_row(
                s.name,
                *(str(getattr(s, field)) for _, field in people),
                str(s.sources),
                str(s.segments),
                reviewed,
                rate,
            )
        console.print(table)
        _print_interrupted_steps(run_history(opened.conn, limit=20))
        if per_code:
            # Start-up: scikit-learn (about 1.5 s to import) only when the codes are asked for.
            from qualipipe.coding.evaluate import code_quality_table, render_code_quality

            with console.status("Validation croisée des suggestions sur les décisions…"):
                quality = code_quality_table(opened)
            if quality:
                console.print(render_code_quality(quality))
            else:
                console.print(
                    "Aucun codebook chargé : chargez-en un avec « qualipipe codebook load »."
                )


def _print_interrupted_steps(runs: list[RunState]) -> None:
    """Steps killed mid-way (kill -9, power cut): nothing of them was kept, say it."""
    interrupted = [r for r in runs if r.state == "interrompue"]
    for run in interrupted[:5]:
        console.print(
            f"[yellow]Étape « {run.step} » du {run.started_at} interrompue[/] (processus arrêté "
            "avant la fin) : ce qu'elle n'avait pas enregistré est perdu, l'étude est cohérente ; "
            "relancez-la si besoin.",
            highlight=False,
        )
