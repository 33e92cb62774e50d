"""`qualipipe demo`: every stage on a fresh copy of the example study.

The example study (`examples/etude-demo/`) and the shared codebook and survey files live in the
repository, beside the package. The demo copies the study into `outputs/demo/etude/` so that the
original stays untouched, and writes every output under `outputs/demo/`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from qualipipe.errors import StudyError

EXAMPLE_NAME = "etude-demo"


@dataclass(frozen=True)
class SurveyExport:
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


def find_repository(start: Path | None = None) -> Path:
    """The folder holding `examples/etude-demo`, `codebooks/` and `surveys/`.

    Looked for from the current folder upwards, then beside the installed package (editable
    installs and source checkouts).
    """
    candidates = []
    here = (start or Path.cwd()).resolve()
    candidates.extend([here, *here.parents])
    candidates.append(Path(__file__).resolve().parents[1])
    for folder in candidates:
        if (folder / "examples" / EXAMPLE_NAME / "qualipipe.toml").is_file() and (
            folder / "codebooks" / "ptce.yaml"
        ).is_file():
            return folder
    raise StudyError(
        "Étude d'exemple introuvable : lancez « qualipipe demo » depuis le dossier de qualipipe "
        "(celui qui contient examples/ et codebooks/), ou indiquez-le avec --depot."
    )


def _survey_exports(example: Path, surveys_dir: Path) -> tuple[SurveyExport, ...]:
    # Export files are named <instrument>__<territory id>.csv.
    exports = []
    for path in sorted((example / "questionnaires").glob("*.csv")):
        instrument, _, territory_id = path.stem.partition("__")
        yaml_path = surveys_dir / f"{instrument}.yaml"
        if territory_id and yaml_path.is_file():
            exports.append(SurveyExport(path=path, instrument=yaml_path, territory_id=territory_id))
    return tuple(exports)


def prepare_demo(repository: Path, out_dir: Path) -> DemoPlan:
    """Copy the example study into `out_dir/etude/` (replacing an earlier demo run)."""
    example = repository / "examples" / EXAMPLE_NAME
    study_dir = out_dir / "etude"
    if study_dir.exists():
        shutil.rmtree(study_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    # Helper scripts of the example are not study material.
    shutil.copytree(
        example, study_dir, ignore=shutil.ignore_patterns("outils", "study.db*", "README.md")
    )
    return DemoPlan(
        study_dir=study_dir,
        out_dir=out_dir,
        codebook=repository / "codebooks" / "ptce.yaml",
        manifest=study_dir / "participants.csv",
        transcripts=study_dir / "entretiens",
        survey_exports=_survey_exports(study_dir, repository / "surveys"),
        decisions=study_dir / "revue" / "decisions_analyste.csv",
        review_workbook=out_dir / "revue" / "revue_a_faire.xlsx",
        disagreements=out_dir / "accord" / "desaccords.xlsx",
        insee_files=tuple(sorted((study_dir / "insee").glob("*.csv"))),
    )


def written_files(out_dir: Path) -> list[Path]:
    """Outputs of the demo (the study copy itself excluded), sorted."""
    study_dir = out_dir / "etude"
    return sorted(p for p in out_dir.rglob("*") if p.is_file() and study_dir not in p.parents)
