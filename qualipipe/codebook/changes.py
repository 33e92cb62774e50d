"""Loading a (changed) codebook into a study without losing any analyst decision.

Decisions are append-only and keep the code id they were written with. A change of codebook is
recorded as redirects (`code_redirects`: old code → new code, with the kind of change), and
`store.current_coding()` follows them. What we compute here:

- the change between the study's current codebook and the new file (added, removed, renamed,
  moved, merged, split, modified codes), with the number of decisions each change touches;
- the analyst's instructions for codes that disappear (`--fusion`, `--destination`,
  `--renommage`, `--scission`), checked before anything is written;
- a refusal when a code that carries decisions would disappear without a destination.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from qualipipe.codebook.model import codebook_from_text, read_codebook_text
from qualipipe.errors import InputError, Problem
from qualipipe.records import Code, Codebook
from qualipipe.store import (
    Study,
    code_redirect_map,
    current_codebook,
    finish_run,
    get_meta,
    now_iso,
    save_codebook_version,
    set_meta,
    start_run,
)

RENAMED = "renommé"
MERGED = "fusionné"
SPLIT = "scindé"
REMOVED = "supprimé"
ADDED = "ajouté"
MOVED = "déplacé"
MODIFIED = "modifié"

# Order in which changes are listed to the analyst.
CHANGE_ORDER = (ADDED, RENAMED, MOVED, MERGED, SPLIT, REMOVED, MODIFIED)

OPTION_OF_CHANGE = {
    RENAMED: "--renommage",
    MERGED: "--fusion",
    SPLIT: "--scission",
    REMOVED: "--destination",
}


@dataclass(frozen=True)
class CodeMapping:
    """Where the decisions of an old code go: `targets[0]` receives them."""

    old: str
    targets: tuple[str, ...]
    change: str  # RENAMED | MERGED | SPLIT | REMOVED

    @property
    def option(self) -> str:
        return f"{OPTION_OF_CHANGE[self.change]} {self.old}={','.join(self.targets)}"


@dataclass(frozen=True)
class CodeChange:
    kind: str  # one of CHANGE_ORDER
    code_id: str
    detail: str  # French, shown to the analyst
    decisions: int = 0  # decisions currently attached to the code concerned


@dataclass(frozen=True)
class CodebookLoad:
    """What `load_into_study` found and (unless it was a trial) applied."""

    codebook: Codebook
    path: str
    previous: Codebook | None
    changes: tuple[CodeChange, ...]
    mappings: tuple[CodeMapping, ...]
    applied: bool
    version_id: int | None = None
    new_version: bool = False
    suggestions_dropped: int = 0
    decisions_kept: int = 0  # analysts' decisions in the study after the load (all kept)

    def count(self, kind: str) -> int:
        return sum(1 for change in self.changes if change.kind == kind)


def build_mappings(
    *,
    renames: Mapping[str, str] | None = None,
    merges: Mapping[str, str] | None = None,
    splits: Mapping[str, Sequence[str]] | None = None,
    destinations: Mapping[str, str] | None = None,
) -> list[CodeMapping]:
    mappings = [CodeMapping(old, (new,), RENAMED) for old, new in (renames or {}).items()]
    mappings += [CodeMapping(old, (new,), MERGED) for old, new in (merges or {}).items()]
    mappings += [CodeMapping(old, tuple(new), SPLIT) for old, new in (splits or {}).items()]
    mappings += [CodeMapping(old, (new,), REMOVED) for old, new in (destinations or {}).items()]
    return mappings


def decision_counts(conn: sqlite3.Connection) -> Counter[str]:
    """Decisions per current code (old ids resolved through the redirects)."""
    redirects = code_redirect_map(conn)
    counts: Counter[str] = Counter()
    for row in conn.execute(
        "SELECT code_id, COUNT(*) AS n FROM decisions WHERE code_id IS NOT NULL GROUP BY code_id"
    ):
        counts[redirects.get(row["code_id"], row["code_id"])] += int(row["n"])
    return counts


def check_mappings(
    old: Codebook | None,
    new: Codebook,
    mappings: Sequence[CodeMapping],
    counts: Mapping[str, int],
    redirects: Mapping[str, str],
    file_label: str,
) -> list[Problem]:
    """Every reason to refuse this change; an empty list means it can be applied."""
    old_codes = old.by_id() if old else {}
    new_codes = new.by_id()
    problems: list[Problem] = []

    def refuse(message: str) -> None:
        problems.append(Problem(file=file_label, message=message))

    seen: set[str] = set()
    for mapping in mappings:
        option = mapping.option
        if mapping.old in seen:
            refuse(f"{option} : le code {mapping.old} reçoit deux instructions ; gardez-en une.")
        seen.add(mapping.old)
        if mapping.old not in old_codes:
            refuse(
                f"{option} : {mapping.old} n'est pas un code du codebook actuel de l'étude "
                f"(vérifiez l'identifiant)."
            )
        keeps_old = mapping.old in new_codes
        if keeps_old and mapping.change == SPLIT and mapping.old in mapping.targets[1:]:
            refuse(
                f"{option} : {mapping.old} reste dans le codebook, il garde donc ses décisions ; "
                f"citez-le en premier : --scission {mapping.old}="
                f"{','.join([mapping.old, *(t for t in mapping.targets if t != mapping.old)])}."
            )
        elif keeps_old and not (mapping.change == SPLIT and mapping.old in mapping.targets):
            refuse(
                f"{option} : {mapping.old} est toujours dans {file_label} ; retirez-le du "
                f"fichier, ou n'utilisez pas {OPTION_OF_CHANGE[mapping.change]} pour lui."
            )
        if not mapping.targets or any(not target for target in mapping.targets):
            refuse(f"{option} : indiquez le ou les codes de destination après « = ».")
        for target in mapping.targets:
            if target and target not in new_codes:
                refuse(f"{option} : le code de destination {target} n'est pas dans {file_label}.")
            elif target and not new_codes[target].codable:
                refuse(
                    f"{option} : {target} est une famille ou un code non codable ; choisissez "
                    f"un code qui s'applique aux extraits."
                )
        if mapping.change == RENAMED and mapping.targets[0] in old_codes:
            refuse(
                f"{option} : {mapping.targets[0]} existe déjà dans le codebook actuel ; pour "
                f"réunir deux codes existants, utilisez --fusion {mapping.old}={mapping.targets[0]}."
            )
    for code in new.codes:
        if code.id in redirects and code.id not in old_codes:
            refuse(
                f"le code {code.id} a déjà été remplacé par {redirects[code.id]} dans cette étude "
                f"(ses anciennes décisions suivent {redirects[code.id]}) ; donnez un autre "
                f"identifiant au nouveau code."
            )
    for code_id, code in old_codes.items():
        if code_id in new_codes or code_id in seen or counts.get(code_id, 0) == 0:
            continue
        refuse(
            f"le code {code_id} (« {code.label} ») porte {counts[code_id]} décision(s) et n'est "
            f"plus dans {file_label} ; dites où vont ses décisions : --fusion {code_id}=CODE, "
            f"--destination {code_id}=CODE, --renommage {code_id}=NOUVEL_ID ou --scission "
            f"{code_id}=CODE1,CODE2."
        )
    return problems


def diff_codebooks(
    old: Codebook | None,
    new: Codebook,
    mappings: Sequence[CodeMapping] = (),
    counts: Mapping[str, int] | None = None,
) -> list[CodeChange]:
    """The change from `old` to `new`, as the analyst should read it."""
    counts = counts or {}
    old_codes = old.by_id() if old else {}
    new_codes = new.by_id()
    by_old = {mapping.old: mapping for mapping in mappings}
    rename_targets = {m.targets[0] for m in mappings if m.change == RENAMED}
    changes: list[CodeChange] = []
    for code in new.codes:
        if code.id not in old_codes:
            if code.id not in rename_targets:
                changes.append(CodeChange(ADDED, code.id, f"nouveau code « {code.label} »"))
            continue
        changes.extend(_same_id_changes(old_codes[code.id], code, counts.get(code.id, 0)))
    for code_id, code in old_codes.items():
        n = counts.get(code_id, 0)
        mapping = by_old.get(code_id)
        if mapping is not None:
            changes.append(CodeChange(mapping.change, code_id, _mapping_detail(mapping, n), n))
        elif code_id not in new_codes:
            changes.append(
                CodeChange(REMOVED, code_id, f"« {code.label} » retiré (aucune décision)", n)
            )
    rank = {kind: index for index, kind in enumerate(CHANGE_ORDER)}
    return sorted(changes, key=lambda change: rank[change.kind])


def _same_id_changes(before: Code, after: Code, decisions: int) -> list[CodeChange]:
    changes = []
    if before.label != after.label:
        changes.append(
            CodeChange(
                RENAMED,
                after.id,
                f"libellé « {before.label} » → « {after.label} » (décisions conservées)",
                decisions,
            )
        )
    if before.parent != after.parent:
        changes.append(
            CodeChange(
                MOVED,
                after.id,
                f"parent {before.parent} → {after.parent} (décisions conservées)",
                decisions,
            )
        )
    fields = [
        name
        for name, old_value, new_value in (
            ("définition", before.definition, after.definition),
            ("quand l'utiliser", before.include, after.include),
            ("quand ne pas l'utiliser", before.exclude, after.exclude),
            ("expressions", before.expressions, after.expressions),
            ("exemples", before.examples, after.examples),
            ("couleur", before.color, after.color),
            ("codable", before.codable, after.codable),
        )
        if old_value != new_value
    ]
    if fields:
        changes.append(CodeChange(MODIFIED, after.id, ", ".join(fields) + " modifié(s)", decisions))
    return changes


def _mapping_detail(mapping: CodeMapping, decisions: int) -> str:
    target = mapping.targets[0]
    if mapping.change == RENAMED:
        return f"identifiant changé en {target} ({decisions} décision(s) suivent)"
    if mapping.change == MERGED:
        return f"fusionné dans {target} ({decisions} décision(s) rejoignent {target})"
    if mapping.change == REMOVED:
        return f"retiré ; ses {decisions} décision(s) vont à {target}"
    others = [code for code in mapping.targets if code != target]
    keeper = "restent sur" if target == mapping.old else "suivent"
    review = f" ; revoyez-les pour {', '.join(others)}" if others else ""
    return f"scindé en {', '.join(mapping.targets)} : {decisions} décision(s) {keeper} {target}{review}"


def load_into_study(
    study: Study,
    path: Path | str,
    *,
    renames: Mapping[str, str] | None = None,
    merges: Mapping[str, str] | None = None,
    splits: Mapping[str, Sequence[str]] | None = None,
    destinations: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> CodebookLoad:
    """Validate `path`, compute the change against the study's codebook and apply it.

    Nothing is written when `dry_run` is true, or when any check fails (`InputError` listing every
    problem). Decisions are never rewritten: codes that disappear are redirected.
    """
    path = Path(path)
    text = read_codebook_text(path)
    new = codebook_from_text(text, str(path))
    mappings = build_mappings(
        renames=renames, merges=merges, splits=splits, destinations=destinations
    )
    with study.transaction() as conn:
        old = current_codebook(conn)
        counts = decision_counts(conn)
        problems = check_mappings(old, new, mappings, counts, code_redirect_map(conn), str(path))
        if problems:
            raise InputError(
                f"Codebook non chargé : {len(problems)} problème(s), l'étude est inchangée.",
                problems,
            )
        changes = diff_codebooks(old, new, mappings, counts)
        if dry_run:
            return CodebookLoad(new, str(path), old, tuple(changes), tuple(mappings), False)
        return _apply(conn, new, text, str(path), old, changes, mappings)


def _apply(
    conn: sqlite3.Connection,
    new: Codebook,
    text: str,
    path: str,
    old: Codebook | None,
    changes: list[CodeChange],
    mappings: list[CodeMapping],
) -> CodebookLoad:
    previous_id = conn.execute("SELECT MAX(id) FROM codebook_versions").fetchone()[0]
    run_id = start_run(conn, "codebook load", {"fichier": path})
    version_id = save_codebook_version(conn, new, text)
    for mapping in mappings:
        if mapping.targets[0] == mapping.old:
            continue  # a split that keeps the old code: its decisions stay where they are
        conn.execute(
            """INSERT INTO code_redirects (codebook_version_id, old_code, new_code, change,
                                           created_at) VALUES (?, ?, ?, ?, ?)""",
            (version_id, mapping.old, mapping.targets[0], mapping.change, now_iso()),
        )
    splits = [m for m in mappings if m.change == SPLIT]
    if splits:
        stored = get_meta(conn, "codebook_scissions", [])
        recorded = list(stored) if isinstance(stored, list) else []
        recorded += [
            {"ancien": m.old, "codes": list(m.targets), "version": version_id} for m in splits
        ]
        set_meta(conn, "codebook_scissions", recorded)
    codable = [code.id for code in new.codable()]
    placeholders = ",".join("?" for _ in codable) or "''"
    dropped = conn.execute(
        f"DELETE FROM suggestions WHERE code_id NOT IN ({placeholders})", codable
    ).rowcount
    finish_run(
        conn,
        run_id,
        {"version": version_id, "changements": len(changes), "suggestions_retirees": dropped},
    )
    return CodebookLoad(
        codebook=new,
        path=path,
        previous=old,
        changes=tuple(changes),
        mappings=tuple(mappings),
        applied=True,
        version_id=version_id,
        new_version=version_id != previous_id,
        suggestions_dropped=dropped,
        decisions_kept=conn.execute("SELECT COUNT(*) FROM decisions").fetchone()[0],
    )
