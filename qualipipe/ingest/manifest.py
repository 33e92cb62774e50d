"""The participants manifest: who was interviewed, where, in which role, and which files.

CSV (`;` or `,`, UTF-8 or Windows-1252) or XLSX; headers are matched accent- and case-insensitively:
identifiant; nom; role; organisation; type_acteur; territoire; consentement; date_entretien;
enqueteur; fichier; jeton; type_source. Only identifiant and territoire are required: authors of
written contributions may be anonymous (no nom), and their role defaults to contributeur. Real names go to `participant_identities` only; everything else uses the
pseudonym, assigned once from the study's templates and never renumbered.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from qualipipe.config import StudyConfig
from qualipipe.errors import InputError, Problem
from qualipipe.ingest.tables import header_key, read_table
from qualipipe.records import SOURCE_KIND_WORDS, ActorType, Participant, Role, SourceKind
from qualipipe.store import (
    Study,
    get_meta,
    list_participants,
    participant_ids_by_key,
    set_meta,
    upsert_participant,
)
from qualipipe.study_names import name_piece_warnings
from qualipipe.text import fold_key

COLUMNS = (
    "identifiant",
    "nom",
    "role",
    "organisation",
    "type_acteur",
    "territoire",
    "consentement",
    "date_entretien",
    "enqueteur",
    "fichier",
    "jeton",
    "type_source",
)
REQUIRED = ("identifiant", "territoire")
ALIASES = {
    "id": "identifiant",
    "participant": "identifiant",
    "nom_prenom": "nom",
    "nom_de_famille": "nom",
    "first_name": "prenom",
    "prenom_nom": "nom",
    "structure": "organisation",
    "type": "type_acteur",
    "type_d_acteur": "type_acteur",
    "territory": "territoire",
    "consentement_obtenu": "consentement",
    "date": "date_entretien",
    "enquetrice": "enqueteur",
    "intervieweur": "enqueteur",
    "fichiers": "fichier",
    "transcription": "fichier",
    "jetons": "jeton",
    "token": "jeton",
    "code_d_acces": "jeton",
    "type_de_source": "type_source",
    "type_de_document": "type_source",
    "type_document": "type_source",
    "nature": "type_source",
    "source": "type_source",
}
YES = {"oui", "o", "1", "vrai", "true", "x", "yes", "y", ""}
NO = {"non", "n", "0", "faux", "false", "no"}
LINKS_META_KEY = "participant_links"


@dataclass(frozen=True)
class ManifestEntry:
    participant: Participant  # pseudonym empty until the manifest is applied to a study
    files: tuple[str, ...] = ()
    tokens: tuple[str, ...] = ()
    row: int = 0
    kind: SourceKind | None = None  # what the participant's files are, when the row says it


@dataclass(frozen=True)
class ManifestReport:
    path: str
    added: list[str] = field(default_factory=list)  # participant ids
    updated: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # how ambiguous name pieces are handled


def normalize_header(header: str) -> str:
    key = header_key(str(header or ""))
    return ALIASES.get(key, key)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]], str | None]:
    """Headers (normalised), (line number, cells) rows and sheet name of a CSV or XLSX file."""
    table = read_table(
        path,
        advice="réenregistrez-le",
        empty="aucune ligne d'en-tête ni de participant.",
        cell=_cell,
    )
    return [normalize_header(h) for h in table.headers], table.rows, table.sheet


# Words that tell an actor type where a column writes it its own way (consultation platforms:
# Grand Débat, Cap Collectif, Decidim; spreadsheets typed by hand). Tried in this order: « but
# non lucratif » before « but lucratif ». Folded; several words are matched as a phrase.
ACTOR_TYPE_WORDS = {
    ActorType.ESS: ("non lucratif", "association", "associatif", "associative"),
    ActorType.ENTREPRISE: ("lucratif", "entreprise"),
    ActorType.COLLECTIVITE: (
        "elu",
        "elue",
        "elus",
        "elues",
        "collectivite",
        "institution",
        "mairie",
    ),
    ActorType.CITOYEN: ("citoyen", "citoyenne", "habitant", "habitante", "particulier"),
}


def match_actor_type(value: str) -> str | None:
    """The actor type a manifest or a table's column writes: its name or key (accents, case and
    punctuation aside), or a word that tells it (« association », « Citoyen / Citoyenne »,
    « Élu / élue et Institution »); « autre » when empty; None when nothing tells it."""
    if not value:
        return ActorType.AUTRE.value
    folded = fold_key(value).strip()
    wanted = re.sub(r"[^a-z]", "", folded)
    for actor_type in ActorType:
        if (
            re.sub(r"[^a-z]", "", fold_key(actor_type.value)) == wanted
            or fold_key(actor_type.name) == wanted
        ):
            return actor_type.value
    words = set(re.findall(r"[a-z]+", folded))
    for actor_type, told_by in ACTOR_TYPE_WORDS.items():
        if any((word in folded) if " " in word else (word in words) for word in told_by):
            return actor_type.value
    return None


def match_source_kind(value: str) -> SourceKind | None:
    """« entretien », « contribution écrite », « Compte rendu », « atelier »… (accents, case)."""
    folded = re.sub(r"[^a-z]+", "-", fold_key(value)).strip("-")
    if folded in SOURCE_KIND_WORDS:
        return SOURCE_KIND_WORDS[folded]
    for prefix, kind in (
        ("entret", SourceKind.TRANSCRIPT),
        ("contrib", SourceKind.WRITTEN),
        ("compte", SourceKind.REPORT),
        ("atel", SourceKind.WORKSHOP),
    ):
        if folded.startswith(prefix):
            return kind
    return None


def _match_role(value: str) -> Role | None:
    folded = fold_key(value).strip()
    if folded.startswith(("contrib", "citoyen", "habitant")):
        return Role.CONTRIBUTOR
    for role in Role:
        if folded in (role.value, role.value + "rice", role.value + "s", role.name.lower()):
            return role
    if folded.startswith("fondat"):
        return Role.FOUNDER
    if folded.startswith("act"):
        return Role.ACTOR
    return None


def _split_list(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"[|\n]", value) if part.strip())


def read_manifest(path: Path, config: StudyConfig) -> list[ManifestEntry]:
    """Read and validate; every problem of the file is reported at once, with row and column."""
    path = Path(path)
    if not path.is_file():
        raise InputError(
            f"Manifeste introuvable : {path}",
            [
                Problem(
                    str(path), "le fichier n'existe pas ; vérifiez le chemin donné à --manifest."
                )
            ],
        )
    headers, rows, sheet = _read_rows(path)
    file = str(path)
    problems: list[Problem] = []
    missing = [c for c in REQUIRED if c not in headers]
    if missing:
        raise InputError(
            f"Le manifeste {path.name} n'a pas les colonnes obligatoires.",
            [
                Problem(
                    file,
                    f"colonne obligatoire « {column} » absente (en-têtes attendus : "
                    f"{'; '.join(COLUMNS)}).",
                    line=1,
                    sheet=sheet,
                )
                for column in missing
            ],
        )
    index = {h: i for i, h in reversed(list(enumerate(headers)))}
    ids: Counter[str] = Counter()
    entries: list[ManifestEntry] = []
    known_territories = ", ".join(t.id for t in config.territories) or "aucun"
    for line, row in rows:

        def get(column: str, row: list[str] = row) -> str:
            position = index.get(column)
            return row[position].strip() if position is not None and position < len(row) else ""

        def problem(column: str, message: str, line: int = line) -> None:
            problems.append(Problem(file, message, line=line, column=column, sheet=sheet))

        participant_id = get("identifiant")
        if not participant_id:
            problem("identifiant", "identifiant vide ; chaque participant a un identifiant unique.")
            continue
        # `SC-F01` and `sc-f01` are the same person typed twice.
        ids[participant_id.casefold()] += 1
        if ids[participant_id.casefold()] == 2:
            problem(
                "identifiant",
                f"identifiant « {participant_id} » en double ; chaque participant n'apparaît "
                "qu'une fois (séparez plusieurs fichiers par « | » dans la colonne fichier).",
            )
            continue
        if ids[participant_id.casefold()] > 2:
            continue
        # An optional "prenom" column is common in French spreadsheets: "Prénom" + "Nom".
        # No name at all is allowed: authors of written contributions may be anonymous.
        name = f"{get('prenom')} {get('nom')}".strip()
        kind = match_source_kind(get("type_source")) if get("type_source") else None
        if get("type_source") and kind is None:
            problem(
                "type_source",
                f"type de source « {get('type_source')} » inconnu ; valeurs possibles : "
                "entretien, contribution, compte-rendu, atelier.",
            )
        written = kind is not None and not kind.is_interview
        role = _match_role(get("role")) if get("role") or not written else Role.CONTRIBUTOR
        if role is None:
            problem(
                "role",
                f"rôle « {get('role')} » inconnu ; valeurs possibles : fondateur, acteur, "
                "contributeur.",
            )
        actor_type = match_actor_type(get("type_acteur"))
        if actor_type is None:
            problem(
                "type_acteur",
                f"type d'acteur « {get('type_acteur')} » inconnu ; valeurs possibles : "
                f"{', '.join(t.value for t in ActorType)}.",
            )
        found = config.find_territory(get("territoire"))
        territory = found.id if found else None
        if territory is None:
            problem(
                "territoire",
                f"territoire « {get('territoire')} » inconnu dans qualipipe.toml "
                f"(territoires connus : {known_territories}).",
            )
        consent_text = fold_key(get("consentement")).strip()
        if consent_text not in YES | NO:
            problem("consentement", f"consentement « {get('consentement')} » : écrivez oui ou non.")
        if role is None or actor_type is None or territory is None:
            continue
        entries.append(
            ManifestEntry(
                participant=Participant(
                    id=participant_id,
                    territory_id=territory,
                    role=role,
                    pseudonym="",
                    real_name=name,
                    organisation=get("organisation"),
                    actor_type=actor_type,
                    consent=consent_text not in NO,
                    interview_date=get("date_entretien"),
                    interviewer=get("enqueteur"),
                ),
                files=_split_list(get("fichier")),
                tokens=_split_list(get("jeton")),
                row=line,
                kind=kind,
            )
        )
    problems.extend(_files_listed_twice(entries, file, sheet))
    if problems:
        raise InputError(
            f"Le manifeste {path.name} contient {len(problems)} problème(s) ; rien n'a été importé :",
            problems,
        )
    return entries


def _files_listed_twice(
    entries: list[ManifestEntry], file: str, sheet: str | None
) -> list[Problem]:
    """A transcript belongs to one participant: the same file name on two rows is ambiguous."""
    owner: dict[str, ManifestEntry] = {}
    problems = []
    for entry in entries:
        for name in entry.files:
            key = fold_key(Path(name).name)
            first = owner.setdefault(key, entry)
            if first is not entry and first.participant.id != entry.participant.id:
                problems.append(
                    Problem(
                        file,
                        f"le fichier « {name} » est déjà attribué à {first.participant.id} "
                        f"(ligne {first.row}) ; un fichier n'appartient qu'à un participant.",
                        line=entry.row,
                        column="fichier",
                        sheet=sheet,
                    )
                )
    return problems


def _pseudonym(config: StudyConfig, participant: Participant, n: int) -> str:
    template = config.pseudonym_templates.get(participant.role.value, "{role} {n}")
    territory = config.territory(participant.territory_id)
    try:
        return template.format(
            n=n, territoire=territory.name, territoire_id=territory.id, role=participant.role.value
        )
    except (KeyError, IndexError, ValueError) as error:
        raise InputError(
            "Modèle de pseudonyme invalide dans qualipipe.toml.",
            [
                Problem(
                    str(config.root / "qualipipe.toml"),
                    f"[pseudonymes] {participant.role.value} = « {template} » : {error} ; "
                    "variables permises : {n}, {territoire}, {territoire_id}, {role}.",
                )
            ],
        ) from None


def assign_pseudonyms(
    config: StudyConfig, entries: list[ManifestEntry], existing: list[Participant]
) -> list[Participant]:
    """Keep every existing pseudonym; number newcomers after the others of their territory/role."""
    by_id = {p.id: p for p in existing}
    used = {p.pseudonym for p in existing}
    counts = Counter((p.territory_id, p.role) for p in existing)
    result = []
    for entry in entries:
        participant = entry.participant
        if participant.id in by_id:
            pseudonym = by_id[participant.id].pseudonym
        else:
            group = (participant.territory_id, participant.role)
            while True:
                counts[group] += 1
                pseudonym = _pseudonym(config, participant, counts[group])
                if pseudonym not in used:
                    break
            used.add(pseudonym)
        result.append(_with_pseudonym(participant, pseudonym))
    return result


def _with_pseudonym(participant: Participant, pseudonym: str) -> Participant:
    return replace(participant, pseudonym=pseudonym)


@dataclass(frozen=True)
class ParticipantLinks:
    """Files and LimeSurvey tokens of each participant, as given by the manifest."""

    files: dict[str, str]  # folded file name (with and without extension) -> participant id
    tokens: dict[str, str]  # token -> participant id
    kinds: dict[str, SourceKind] = field(
        default_factory=dict
    )  # participant id -> their files' kind

    def participant_for_file(self, path: Path) -> str | None:
        return self.files.get(fold_key(path.name)) or self.files.get(fold_key(path.stem))


def load_links(study: Study) -> ParticipantLinks:
    raw = get_meta(study.conn, LINKS_META_KEY, {}) or {}
    files: dict[str, str] = {}
    tokens: dict[str, str] = {}
    kinds: dict[str, SourceKind] = {}
    for participant_id, links in dict(raw).items():  # type: ignore[call-overload]
        if links.get("type"):
            kinds[participant_id] = SourceKind(links["type"])
        for name in links.get("fichiers", []):
            files[fold_key(Path(name).name)] = participant_id
            files[fold_key(Path(name).stem)] = participant_id
        for token in links.get("jetons", []):
            tokens[token] = participant_id
    return ParticipantLinks(files, tokens, kinds)


def _with_stored_ids(entries: list[ManifestEntry], stored: dict[str, str]) -> list[ManifestEntry]:
    """An identifier already in the study, typed with another case, keeps its stored spelling."""
    return [
        replace(
            entry,
            participant=replace(
                entry.participant,
                id=stored.get(entry.participant.id.casefold(), entry.participant.id),
            ),
        )
        for entry in entries
    ]


def apply_manifest(study: Study, path: Path) -> ManifestReport:
    """Load or update the participants of `path` into the study, in one transaction."""
    entries = read_manifest(path, study.config)
    report = ManifestReport(str(path), notes=name_piece_warnings(e.participant for e in entries))
    with study.transaction() as conn:
        entries = _with_stored_ids(entries, participant_ids_by_key(conn))
        existing = list_participants(conn)
        known = {p.id for p in existing}
        links = dict(get_meta(conn, LINKS_META_KEY, {}) or {})  # type: ignore[call-overload]
        for entry, participant in zip(
            entries, assign_pseudonyms(study.config, entries, existing), strict=True
        ):
            upsert_participant(conn, participant)
            (report.updated if participant.id in known else report.added).append(participant.id)
            links[participant.id] = {
                "fichiers": list(entry.files),
                "jetons": list(entry.tokens),
                "type": entry.kind.value if entry.kind else "",
            }
        set_meta(conn, LINKS_META_KEY, links)
    return report
