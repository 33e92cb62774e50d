"""One resolver per kind of name the analyst types: territory, instrument, output folder.

Every command goes through these, so `-t AUXOIS`, `-t auxois` and `-t "Auxois-Morvan"` mean the
same thing everywhere, and an unknown value always lists the valid ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from qualipipe import resources
from qualipipe.errors import StudyError
from qualipipe.records import Territory
from qualipipe.text import fold_key

INSTRUMENT_SUFFIXES = (".yaml", ".yml")
OUTPUTS = Path("outputs")  # the default root of every output folder, relative to the current one


def name_key(text: str) -> str:
    """How two names typed by a person are compared: case, accents and outer spaces ignored."""
    return " ".join(fold_key(text).split())


def find_territory(territories: Iterable[Territory], value: str) -> Territory | None:
    """The territory whose id or name is `value` (case and accents ignored), or None."""
    wanted = name_key(value)
    for territory in territories:
        if wanted in (name_key(territory.id), name_key(territory.name)):
            return territory
    return None


def territory(territories: Iterable[Territory], value: str, *, where: str) -> Territory:
    """The territory named `value`; an unknown value lists the study's territories."""
    known = tuple(territories)
    found = find_territory(known, value)
    if found is not None:
        return found
    listing = ", ".join(f"{t.id} ({t.name})" if t.name != t.id else t.id for t in known)
    raise StudyError(
        f"Territoire « {value} » inconnu dans {where}. Territoires de l'étude : "
        f"{listing or 'aucun'}. Indiquez l'un de ces identifiants (option --territory / -t)."
    )


def instrument_names(study_root: Path | None = None) -> list[str]:
    """Instruments available by name: the study's own `surveys/` folder, then the shipped ones."""
    names = {path.stem for path in resources.shipped_instruments()}
    if study_root is not None and (study_root / "surveys").is_dir():
        names.update(
            path.stem
            for path in (study_root / "surveys").iterdir()
            if path.suffix in INSTRUMENT_SUFFIXES
        )
    return sorted(names)


def instrument(value: str, *, study_root: Path | None = None) -> Path:
    """An instrument given as a YAML path or a name like « priorisation_enjeux ».

    A name is looked up in the study's own `surveys/` folder first (a study may adapt an
    instrument), then among the instruments shipped with qualipipe.
    """
    candidate = Path(value)
    if candidate.suffix in INSTRUMENT_SUFFIXES or candidate.is_file():
        if not candidate.is_file():
            raise StudyError(
                f"Questionnaire introuvable : {candidate}. Vérifiez le chemin, ou donnez un nom "
                f"parmi : {', '.join(instrument_names(study_root))}."
            )
        return candidate
    wanted = name_key(value)
    folders = [study_root / "surveys"] if study_root is not None else []
    for folder in folders:
        for suffix in INSTRUMENT_SUFFIXES:
            path = folder / f"{value}{suffix}"
            if path.is_file():
                return path
    for path in resources.shipped_instruments():
        if name_key(path.stem) == wanted:
            return path
    for folder in folders:
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix in INSTRUMENT_SUFFIXES and name_key(path.stem) == wanted:
                    return path
    raise StudyError(
        f"Questionnaire « {value} » inconnu. Questionnaires disponibles : "
        f"{', '.join(instrument_names(study_root)) or 'aucun'} ; ou donnez le chemin d'un "
        f"fichier .yaml."
    )


def output_dir(study_root: Path, *parts: str, root: Path = OUTPUTS) -> Path:
    """Where a study's outputs go, for every command: `outputs/<study folder>/<parts…>` relative
    to the current folder (the study folder's real name, even when given as « . »)."""
    return Path(root, study_root.resolve().name, *parts)
