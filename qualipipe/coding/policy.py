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

from qualipipe.codebook import parse_codebook
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

    The scope lives only in the YAML document (the `codes` table has no column for it); a
    document that is not a readable codebook (e.g. written by a program) gives no scopes.
    """
    row = conn.execute(
        "SELECT document FROM codebook_versions WHERE id = ?", (version_id,)
    ).fetchone()
    if row is None:
        return [None] * len(codes.codes)
    codebook, problems = parse_codebook(row[0], "codebook de l'étude")
    if codebook is None or problems:
        return [None] * len(codes.codes)
    declared = {c.id: c.applies_to for c in codebook.codes if c.applies_to is not None}
    return [resolved_scope(code.id, codes, declared) for code in codes.codes]


def resolved_scope(code_id: str, codes: CodeIndex, declared: dict[str, Scope]) -> Scope | None:
    for candidate in [code_id, *codes.ancestors(code_id)]:
        if candidate in declared:
            return declared[candidate]
    return None


def scope_mask(scopes: Sequence[Scope | None], placements: Sequence[Placement]) -> np.ndarray:
    """(segments, codes) True where the code may be suggested on the segment."""
    mask = np.ones((len(placements), len(scopes)), dtype=bool)
    for j, scope in enumerate(scopes):
        if scope is not None:
            mask[:, j] = [scope.allows(p.role, p.kind) for p in placements]
    return mask


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
