"""Study settings read from `qualipipe.toml` (French keys: analysts edit this file).

Example::

    [etude]
    nom = "Diagnostics PTCE 2026"
    region = "Bourgogne-Franche-Comté"

    [[territoires]]
    id = "auxois"
    nom = "Auxois-Morvan"
    ptce = "Pôle Alimentaire de l'Auxois"
    type = "filière"          # filière | généraliste
    stade = "émergent"        # émergent | existant
    milieu = "rural"          # rural | urbain
    communes = ["21425", "21038"]   # codes INSEE, en texte
    epci_siren = ["242100410"]

LimeSurvey credentials never live here: they come from the environment.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qualipipe import resolve
from qualipipe.errors import InputError, Problem, StudyError
from qualipipe.records import Territory

CONFIG_NAME = "qualipipe.toml"
DB_NAME = "study.db"

PTCE_TYPES = ("filière", "généraliste")
STAGES = ("émergent", "existant")
SETTINGS = ("rural", "urbain")

DEFAULT_PSEUDONYM_TEMPLATES = {
    "fondateur": "Fondateur·rice {n} — {territoire}",
    "acteur": "Acteur·rice {n} — {territoire}",
}


@dataclass(frozen=True)
class StudyConfig:
    root: Path
    name: str
    region: str
    territories: tuple[Territory, ...]
    codebook: str = ""  # path relative to the study folder, optional
    pseudonym_templates: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_PSEUDONYM_TEMPLATES)
    )
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    def territory(self, value: str) -> Territory:
        """The territory with this id or name (case and accents ignored); unknown → StudyError."""
        return resolve.territory(self.territories, value, where=str(self.root / CONFIG_NAME))

    def find_territory(self, value: str) -> Territory | None:
        return resolve.find_territory(self.territories, value)


def _text_list(value: Any) -> tuple[str, ...]:
    # INSEE codes and SIREN must stay text: "01004" and "2A004" are not numbers.
    if value is None:
        return ()
    if isinstance(value, (str, int)):
        value = [value]
    return tuple(str(item) for item in value)


def _parse_territory(
    raw: dict[str, Any], index: int, file: str, problems: list[Problem]
) -> Territory | None:
    where = f"[[territoires]] n°{index + 1}"

    def need(key: str, allowed: tuple[str, ...] | None = None) -> str:
        value = str(raw.get(key, "")).strip()
        if not value:
            problems.append(Problem(file, f"{where} : la clé « {key} » est obligatoire."))
        elif allowed and value not in allowed:
            problems.append(
                Problem(
                    file,
                    f'{where} : « {key} = "{value}" » n\'est pas permis ; '
                    f"valeurs possibles : {', '.join(allowed)}.",
                )
            )
        return value

    territory = Territory(
        id=need("id"),
        name=need("nom"),
        ptce_name=need("ptce"),
        ptce_type=need("type", PTCE_TYPES),
        stage=need("stade", STAGES),
        setting=need("milieu", SETTINGS),
        communes=_text_list(raw.get("communes")),
        epci_siren=_text_list(raw.get("epci_siren")),
    )
    return territory


def load_config(root: Path) -> StudyConfig:
    """Read and validate `root/qualipipe.toml`; raise a French error naming what is wrong."""
    root = Path(root)
    if not root.is_dir():
        raise StudyError(
            f"Le dossier d'étude « {root} » n'existe pas. Créez-le avec « qualipipe init {root} »."
        )
    path = root / CONFIG_NAME
    if not path.is_file():
        raise StudyError(
            f"Aucun fichier {CONFIG_NAME} dans « {root} » : ce dossier n'est pas une étude qualipipe. "
            f"Créez-en une avec « qualipipe init DOSSIER » ou indiquez-la avec --study."
        )
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise StudyError(f"{path} est illisible ({error}). Corrigez la syntaxe TOML.") from None

    file = str(path)
    problems: list[Problem] = []
    study = raw.get("etude", {})
    if not isinstance(study, dict) or not str(study.get("nom", "")).strip():
        problems.append(Problem(file, 'la section [etude] doit contenir « nom = "…" ».'))
        study = study if isinstance(study, dict) else {}
    territories = []
    for index, item in enumerate(raw.get("territoires", [])):
        territory = _parse_territory(item, index, file, problems)
        if territory:
            territories.append(territory)
    ids = [t.id for t in territories]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(
            Problem(file, f"l'identifiant de territoire « {duplicate} » est utilisé deux fois.")
        )
    if problems:
        raise InputError(
            f"Le fichier {CONFIG_NAME} contient {len(problems)} problème(s) :", problems
        )

    templates = dict(DEFAULT_PSEUDONYM_TEMPLATES)
    templates.update({k: str(v) for k, v in raw.get("pseudonymes", {}).items() if k in templates})
    return StudyConfig(
        root=root,
        name=str(study["nom"]).strip(),
        region=str(study.get("region", "")).strip(),
        territories=tuple(territories),
        codebook=str(study.get("codebook", "")),
        pseudonym_templates=templates,
        raw=raw,
    )


CONFIG_TEMPLATE = """\
# Étude qualipipe : un diagnostic territorial partagé (un ou plusieurs territoires).
[etude]
nom = "{name}"
region = "{region}"
# codebook = "codebooks/ptce.yaml"   # grille de codage, relative à ce dossier

[pseudonymes]
# {{n}} : numéro d'ordre dans le territoire ; {{territoire}} : nom du territoire
fondateur = "Fondateur·rice {{n}} — {{territoire}}"
acteur = "Acteur·rice {{n}} — {{territoire}}"

# Un bloc [[territoires]] par territoire diagnostiqué.
# [[territoires]]
# id = "mon-territoire"
# nom = "Mon territoire"
# ptce = "Nom du PTCE"
# type = "généraliste"     # filière | généraliste
# stade = "émergent"       # émergent | existant
# milieu = "urbain"        # rural | urbain
# communes = ["75056"]     # codes INSEE, en texte
# epci_siren = ["200054781"]
"""
