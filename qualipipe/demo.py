"""The demo pipeline: every stage, in order, on a fresh copy of the example study.

The example study ships with qualipipe (package data, see `qualipipe.resources`), so the demo runs
from any folder, from a wheel as from a source checkout. `run_demo` copies it into
`<out_dir>/etude/` (the shipped copy stays untouched) and writes every output under `out_dir`.
Each step's result is handed to `on_result`, so that the command line prints it exactly as the
stand-alone command would.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qualipipe import resources
from qualipipe.codebook.changes import load_into_study
from qualipipe.coding.suggest import suggest_codes
from qualipipe.coding.themes import find_themes
from qualipipe.ingest import ingest_paths
from qualipipe.ingest.reconcile import SourceChange
from qualipipe.report import (
    LivrableWriter,
    import_postits,
    import_preconisation_workbook,
    write_bilan,
)
from qualipipe.review.agreement import agreement, export_disagreements
from qualipipe.review.common import ReviewFilter
from qualipipe.review.export import export_review
from qualipipe.review.importer import import_decisions
from qualipipe.store import Study, open_study
from qualipipe.synthesize import synthesize_study
from qualipipe.territory.storage import load_insee_files


@dataclass(frozen=True)
class SurveyExport:
    """A response export shipped with the example study, and the survey it answers."""

    path: Path
    instrument: Path  # the survey YAML the export was answered with
    territory_id: str


@dataclass(frozen=True)
class DemoPlan:
    """Where every input of the demo is, and where every output goes."""

    study_dir: Path
    out_dir: Path
    codebook: Path
    manifest: Path
    transcripts: Path
    survey_exports: tuple[SurveyExport, ...]
    decisions: Path
    review_workbook: Path
    disagreements: Path
    insee_files: tuple[Path, ...] = ()  # INSEE comparateur rows of the example's territories


@dataclass(frozen=True)
class DisagreementsFile:
    """The demo step that wrote the coders' disagreements workbook (its type tells the CLI what to
    print).
    """

    path: Path


@dataclass(frozen=True)
class BilanFile:
    """The demo step that wrote the cross-territory bilan (its type tells the CLI what to print)."""

    path: Path


@dataclass(frozen=True)
class PostitsImport:
    """The demo step that imported one territory's workshop post-its, with what changed."""

    file: Path
    change: SourceChange


@dataclass
class DemoReport:
    """What the demo ran and wrote, for the summary the CLI prints at the end."""

    plan: DemoPlan
    files: list[Path] = field(default_factory=list)
    first_territory: str = ""
    seconds: float = 0.0


def _survey_exports(example: Path) -> tuple[SurveyExport, ...]:
    # Export files are named <instrument>__<territory id>.csv.
    shipped = {path.stem: path for path in resources.shipped_instruments()}
    exports = []
    for path in sorted((example / "questionnaires").glob("*.csv")):
        instrument, _, territory_id = path.stem.partition("__")
        if territory_id and instrument in shipped:
            exports.append(
                SurveyExport(path=path, instrument=shipped[instrument], territory_id=territory_id)
            )
    return tuple(exports)


def prepare_demo(out_dir: Path) -> DemoPlan:
    """Copy the shipped example study into `out_dir/etude/` (replacing an earlier demo run)."""
    study_dir = out_dir / "etude"
    if study_dir.exists():
        shutil.rmtree(study_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copytree(
        resources.example_study(),
        study_dir,
        ignore=shutil.ignore_patterns("study.db*", "README.md", "__pycache__"),
    )
    return DemoPlan(
        study_dir=study_dir,
        out_dir=out_dir,
        codebook=resources.shipped_codebook(),
        manifest=study_dir / "participants.csv",
        transcripts=study_dir / "entretiens",
        survey_exports=_survey_exports(study_dir),
        decisions=study_dir / "revue" / "decisions_analyste.csv",
        review_workbook=out_dir / "revue" / "revue_a_faire.xlsx",
        disagreements=out_dir / "accord" / "desaccords.xlsx",
        insee_files=tuple(sorted((study_dir / "insee").glob("*.csv"))),
    )


def written_files(out_dir: Path) -> list[Path]:
    """Outputs of the demo (the study copy itself excluded), sorted."""
    study_dir = out_dir / "etude"
    return sorted(p for p in out_dir.rglob("*") if p.is_file() and study_dir not in p.parents)


def _steps(plan: DemoPlan) -> list[tuple[str, Callable[[Study], object]]]:
    def surveys(study: Study) -> list[object]:
        return [
            ingest_paths(study, [e.path], instrument=e.instrument, territory=e.territory_id)
            for e in plan.survey_exports
        ]

    def learn(study: Study) -> list[object]:
        return [import_decisions(study, plan.decisions), suggest_codes(study)]

    def review_and_agreement(study: Study) -> list[object]:
        exported = export_review(
            study, ReviewFilter(not_reviewed=True), output=plan.review_workbook
        )
        report = agreement(study)
        written = export_disagreements(study, report, plan.disagreements)
        return [exported, report, DisagreementsFile(written)]

    def workshops(study: Study) -> list[object]:
        # Workshop 1 typed from post-its (one workbook per territory, named postits__<id>.xlsx).
        return [
            PostitsImport(path, import_postits(study, path, path.stem.partition("__")[2]))
            for path in sorted((plan.study_dir / "ateliers").glob("postits__*.xlsx"))
        ]

    def livrables(study: Study) -> list[object]:
        results: list[object] = [
            import_preconisation_workbook(study, path, path.stem.partition("__")[2])
            for path in sorted((plan.study_dir / "preconisations").glob("preconisations__*.xlsx"))
        ]
        writer = LivrableWriter(study, plan.out_dir)
        results += [writer.write(t.id) for t in study.config.territories]
        results.append(
            BilanFile(write_bilan(study, plan.out_dir, snapshot=writer.context.snapshot))
        )
        return results

    return [
        ("1. Codebook", lambda study: load_into_study(study, plan.codebook)),
        (
            "2. Participants et entretiens",
            lambda study: ingest_paths(study, [plan.transcripts], manifest=plan.manifest),
        ),
        (
            "2 bis. Données INSEE des territoires (portrait)",
            lambda study: load_insee_files(study, plan.insee_files),
        ),
        ("3. Réponses aux questionnaires (exports LimeSurvey)", surveys),
        ("3 bis. Post-its de l'atelier 1", workshops),
        ("4. Suggestions de codes", lambda study: suggest_codes(study)),
        ("5. Décisions de l'analyste, puis nouvelles suggestions apprises de ces décisions", learn),
        ("6. Classeur de revue et accord entre codeurs", review_and_agreement),
        ("7. Thèmes émergents", lambda study: find_themes(study)),
        (
            "8. Synthèses pour le livrable",
            lambda study: synthesize_study(study, plan.out_dir, include_comparison=True),
        ),
        ("9. Préconisations, livrables et bilan", livrables),
    ]


def run_demo(
    out_dir: Path,
    *,
    on_step: Callable[[str], None] = lambda title: None,
    on_result: Callable[[object], None] = lambda result: None,
) -> DemoReport:
    """Run every stage on a fresh copy of the example study; results go to `on_result`."""
    started = time.perf_counter()
    plan = prepare_demo(out_dir)
    report = DemoReport(plan=plan)
    with open_study(plan.study_dir) as study:
        for title, step in _steps(plan):
            on_step(title)
            result = step(study)
            for item in result if isinstance(result, list) else [result]:
                on_result(item)
        report.first_territory = study.config.territories[0].id
    report.files = written_files(out_dir)
    report.seconds = time.perf_counter() - started
    return report
