"""Study settings read from `qualipipe.toml` (French keys: analysts edit this file).

Example::

    [etude]
    nom = "Diagnostics PTCE 2026"
    region = "Bourgogne-Franche-Comté"

    [[territoires]]
    id = "auxois"             # the only required key
    nom = "Auxois-Morvan"     # defaults to the id
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
from collections import defaultdict
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
    "contributeur": "Contributeur·rice {n} — {territoire}",
}


@dataclass(frozen=True)
class StudyConfig:
    """`qualipipe.toml`, validated: the study's name, region, territories and pseudonym templates."""

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


OPTIONAL_CHOICES = {"type": PTCE_TYPES, "stade": STAGES, "milieu": SETTINGS}


def _parse_territory(raw: dict[str, Any], index: int, issues: dict[str, list[str]]) -> Territory:
    """Only `id` is required; `nom` defaults to the id; PTCE keys may be absent or empty (a
    study of written contributions is not a PTCE diagnostic). Problems are collected per kind
    in `issues` (message -> territory ids) so that 50 territories give one line, not 50."""
    territory_id = str(raw.get("id", "")).strip()
    where = f"« {territory_id} »" if territory_id else f"n°{index + 1} (sans id)"
    if not territory_id:
        issues["la clé « id » est obligatoire et ne peut pas être vide"].append(where)
    values = {
        key: str(raw.get(key, "") or "").strip() for key in ("nom", "ptce", *OPTIONAL_CHOICES)
    }
    for key, allowed in OPTIONAL_CHOICES.items():
        if values[key] and values[key] not in allowed:
            message = (
                f'« {key} = "{values[key]}" » n\'est pas permis ; valeurs possibles : '
                f"{', '.join(allowed)} (ou laissez la clé vide)"
            )
            issues[message].append(where)
    return Territory(
        id=territory_id,
        name=values["nom"] or territory_id,
        ptce_name=values["ptce"],
        ptce_type=values["type"],
        stage=values["stade"],
        setting=values["milieu"],
        communes=_text_list(raw.get("communes")),
        epci_siren=_text_list(raw.get("epci_siren")),
    )


def _territory_problems(file: str, issues: dict[str, list[str]]) -> list[Problem]:
    problems = []
    for message, where in issues.items():
        shown = ", ".join(where[:10]) + (
            f" et {len(where) - 10} autre(s)" if len(where) > 10 else ""
        )
        plural = "territoires" if len(where) > 1 else "territoire"
        problems.append(Problem(file, f"[[territoires]] {plural} {shown} : {message}."))
    return problems


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
    issues: dict[str, list[str]] = defaultdict(list)
    territories = [
        _parse_territory(item, index, issues)
        for index, item in enumerate(raw.get("territoires", []))
    ]
    problems.extend(_territory_problems(file, issues))
    ids = [t.id for t in territories if t.id]
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
contributeur = "Contributeur·rice {{n}} — {{territoire}}"

# Un bloc [[territoires]] par territoire diagnostiqué. Seul « id » est obligatoire ;
# « nom » vaut l'id s'il manque ; ptce, type, stade et milieu peuvent rester vides
# (une étude de contributions écrites n'est pas forcément un diagnostic de PTCE).
# [[territoires]]
# id = "mon-territoire"
# nom = "Mon territoire"
# ptce = "Nom du PTCE"     # facultatif
# type = "généraliste"     # filière | généraliste (facultatif)
# stade = "émergent"       # émergent | existant (facultatif)
# milieu = "urbain"        # rural | urbain (facultatif)
# communes = ["75056"]     # codes INSEE, en texte
# epci_siren = ["200054781"]
"""
