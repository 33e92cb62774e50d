"""What may be suggested where: the codebook's scopes and the analysts' run of rejections.

Scopes: a family or code may say where it applies (`s_applique_a` in the codebook: allow-lists
of participant roles and source kinds). A code without its own scope takes its nearest
ancestor's; without any, it applies everywhere. A segment outside a code's scope never gets that
code suggested (MOT, the founders' motivations, is not suggested on a citizen's contribution).

Rejections: when analysts reject a code's suggestions again and again, the code is suggested
less (its threshold rises with each rejection in a row), then not at all after
REJECTIONS_TO_MUTE rejections in a row, until an analyst accepts or adds it again. Only the
code's latest decisions count, in the order they were made, across coders, with codes followed
through renames and merges.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import yaml

from qualipipe.codebook.model import SCOPE_KEY
from qualipipe.coding.base import CodeIndex
from qualipipe.records import Action, Scope
from qualipipe.store import code_redirect_map

REJECTIONS_TO_MUTE = 5
MUTED = 1.01  # a threshold no probability reaches


@dataclass(frozen=True)
class Placement:
    """Where a segment comes from, as scopes see it."""

    role: str | None  # the participant's role; None without a participant
    kind: str  # the source kind (records.SourceKind value)


def stored_scopes(
    conn: sqlite3.Connection, version_id: int, codes: CodeIndex
) -> list[Scope | None]:
    """Scope of each codable code (column order) from the codebook document loaded in the study.

    The scope lives only in the YAML document (the `codes` table has no column for it). The
    document was checked when it was loaded, so it is read here with the fast C loader, without
    line numbers; a document that is not a YAML codebook (e.g. written by a program) gives no
    scopes.
    """
    row = conn.execute(
        "SELECT document FROM codebook_versions WHERE id = ?", (version_id,)
    ).fetchone()
    if row is None or SCOPE_KEY not in row[0]:
        return [None] * len(codes.codes)
    try:
        document = yaml.load(row[0], Loader=_LOADER)
    except yaml.YAMLError:
        return [None] * len(codes.codes)
    declared = declared_scopes(document)
    return [resolved_scope(code.id, codes, declared) for code in codes.codes]


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def declared_scopes(document: object) -> dict[str, Scope]:
    """`s_applique_a` of each family and code of a parsed codebook document."""
    declared: dict[str, Scope] = {}
    families = document.get("familles") if isinstance(document, dict) else None
    for family in families if isinstance(families, list) else []:
        if not isinstance(family, dict):
            continue
        for entry in [family, *(family.get("codes") or [])]:
            if isinstance(entry, dict) and isinstance(entry.get(SCOPE_KEY), dict):
                scope = entry[SCOPE_KEY]
                declared[str(entry.get("id"))] = Scope(
                    roles=_values(scope.get("roles")), sources=_values(scope.get("sources"))
                )
    return declared


def _values(value: object) -> tuple[str, ...] | None:
    return tuple(str(v) for v in value) if isinstance(value, list) else None


def resolved_scope(code_id: str, codes: CodeIndex, declared: dict[str, Scope]) -> Scope | None:
    for candidate in [code_id, *codes.ancestors(code_id)]:
        if candidate in declared:
            return declared[candidate]
    return None


def scope_mask(scopes: Sequence[Scope | None], placements: Sequence[Placement]) -> np.ndarray:
    """(segments, codes) True where the code may be suggested on the segment."""
    # Few distinct placements (roles × kinds): decide once per placement, then spread.
    distinct = list(dict.fromkeys(placements))
    index = {p: i for i, p in enumerate(distinct)}
    rows = np.array([index[p] for p in placements], dtype=np.int64)
    per_placement = np.array(
        [[scope is None or scope.allows(p.role, p.kind) for scope in scopes] for p in distinct],
        dtype=bool,
    ).reshape(len(distinct), len(scopes))
    return per_placement[rows]


def rejection_streaks(conn: sqlite3.Connection) -> dict[str, int]:
    """Per code: rejections in a row since it was last accepted or added (0 if none)."""
    redirects = code_redirect_map(conn)
    streaks: dict[str, int] = {}
    for code_id, action in conn.execute(
        "SELECT code_id, action FROM decisions WHERE code_id IS NOT NULL ORDER BY id"
    ):
        code = redirects.get(code_id, code_id)
        if action == Action.REJECT.value:
            streaks[code] = streaks.get(code, 0) + 1
        elif action in (Action.ACCEPT.value, Action.ADD.value):
            streaks[code] = 0
    return streaks


def after_rejections(
    thresholds: dict[str, float], streaks: dict[str, int]
) -> tuple[dict[str, float], list[str]]:
    """Thresholds raised by runs of rejections, and the codes muted (no suggestion at all).

    Each rejection in a row closes a share 1/REJECTIONS_TO_MUTE of the gap between the threshold
    and 1: after 2 rejections a 0.5 threshold becomes 0.7; after REJECTIONS_TO_MUTE, nothing
    passes.
    """
    adjusted: dict[str, float] = {}
    muted: list[str] = []
    for code, threshold in thresholds.items():
        streak = streaks.get(code, 0)
        if streak >= REJECTIONS_TO_MUTE:
            adjusted[code] = MUTED
            muted.append(code)
        else:
            adjusted[code] = round(threshold + (1.0 - threshold) * streak / REJECTIONS_TO_MUTE, 4)
    return adjusted, muted
