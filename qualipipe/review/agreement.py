"""Inter-coder agreement: how far analysts (and the machine) agree, per code and overall.

A coder "coded" a segment when they recorded at least one decision on it (any code, or a comment).
On such a segment each code of the codebook is applied (accepted or added, latest decision wins,
following codebook redirects) or not applied. The machine, compared as one more coder, applies a
code when it is among the segment's current suggestions, and is taken to have coded every active
segment once suggestions exist.

Figures are computed on the segments coded by at least two of the compared coders (both, for
two coders), for the codes applied at least once on those segments:
- percent agreement (all coders who coded the segment gave the same value),
- Cohen's kappa (`sklearn.metrics.cohen_kappa_score`, exactly two coders),
- Krippendorff's alpha (`krippendorff.alpha`, nominal, two or more coders, missing data allowed).
Each figure comes with the number of segments behind it. A figure that is undefined (a single
value everywhere) is None, shown as "—".
"""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np

from qualipipe.errors import StudyError
from qualipipe.pseudonymize import Policy, pseudonymizer_for
from qualipipe.review import workbook as wb
from qualipipe.review.common import (
    CONSENSUS_CODER,
    code_check,
    coded_segment_ids,
    contexts_of,
    default_output_dir,
    hide_all,
    review_fingerprint,
    source_label,
)
from qualipipe.store import (
    Study,
    code_redirect_map,
    coder_key,
    current_coding,
    known_coders,
    now_iso,
    resolve_coder,
    study_identity,
)

MACHINE_CODER = "machine"
APPLIED = "appliqué"
NOT_APPLIED = "non appliqué"
MISSING = "—"

# coder -> segment id -> codes applied on that segment (only for segments the coder coded)
Codings = dict[str, dict[int, frozenset[str]]]


@dataclass(frozen=True)
class AgreementFigures:
    code_id: str  # "" for the overall line
    label: str
    n_segments: int  # segments coded by at least two coders (by both, for two coders)
    n_units: int  # (segment, code) pairs behind the figures (= n_segments for one code)
    percent: float | None
    kappa: float | None  # two coders only
    alpha: float | None


@dataclass(frozen=True)
class Disagreement:
    segment_id: int
    code_id: str
    values: tuple[bool | None, ...]  # per coder, in report order; None = did not code the segment


@dataclass(frozen=True)
class AgreementReport:
    coders: tuple[str, ...]
    per_code: tuple[AgreementFigures, ...]
    overall: AgreementFigures
    disagreements: tuple[Disagreement, ...]


def percent_agreement(matrix: np.ndarray) -> float | None:
    """Share of units (columns) where every non-missing value is the same (≥ 2 values)."""
    agree = 0
    total = 0
    for column in matrix.T:
        present = column[~np.isnan(column)]
        if len(present) < 2:
            continue
        total += 1
        agree += int(np.all(present == present[0]))
    return agree / total if total else None


def cohen_kappa(first: Sequence[int], second: Sequence[int]) -> float | None:
    from sklearn.metrics import cohen_kappa_score

    if len(first) == 0 or len(set(first) | set(second)) < 2:
        return None
    if len(set(first)) < 2 and len(set(second)) < 2 and set(first) == set(second):
        return None
    value = float(cohen_kappa_score(first, second, labels=[0, 1]))
    return None if np.isnan(value) else value


def krippendorff_alpha(matrix: np.ndarray) -> float | None:
    import krippendorff

    present = matrix[~np.isnan(matrix)]
    pairable = int(np.sum(np.sum(~np.isnan(matrix), axis=0) >= 2))
    if pairable == 0 or len(np.unique(present)) < 2:
        return None
    value = float(krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal"))
    return None if np.isnan(value) else value


def figures(code_id: str, label: str, matrix: np.ndarray, n_segments: int) -> AgreementFigures:
    """All three figures on one coders × units matrix (1 applied, 0 not, nan not coded)."""
    kappa = None
    if matrix.shape[0] == 2:
        both = ~np.isnan(matrix).any(axis=0)
        kappa = cohen_kappa(
            matrix[0, both].astype(int).tolist(), matrix[1, both].astype(int).tolist()
        )
    pairable = int(np.sum(np.sum(~np.isnan(matrix), axis=0) >= 2))
    return AgreementFigures(
        code_id=code_id,
        label=label,
        n_segments=n_segments,
        n_units=pairable,
        percent=percent_agreement(matrix),
        kappa=kappa,
        alpha=krippendorff_alpha(matrix),
    )


def compare(codings: Codings, coders: Sequence[str], labels: dict[str, str]) -> AgreementReport:
    """Agreement between `coders` on their codings (pure: no store)."""
    segments = sorted(
        {s for coder in coders for s in codings.get(coder, {})},
    )
    common = [s for s in segments if sum(s in codings.get(coder, {}) for coder in coders) >= 2]
    codes = sorted(
        {code for coder in coders for s in common for code in codings.get(coder, {}).get(s, ())}
    )

    def matrix_for(code: str) -> np.ndarray:
        rows = []
        for coder in coders:
            mine = codings.get(coder, {})
            rows.append([float(code in mine[s]) if s in mine else np.nan for s in common])
        return np.array(rows, dtype=float).reshape(len(coders), len(common))

    per_code = []
    blocks = []
    disagreements = []
    for code in codes:
        matrix = matrix_for(code)
        blocks.append(matrix)
        per_code.append(figures(code, labels.get(code, ""), matrix, len(common)))
        for index, segment_id in enumerate(common):
            column = matrix[:, index]
            present = column[~np.isnan(column)]
            if len(present) >= 2 and not np.all(present == present[0]):
                disagreements.append(
                    Disagreement(
                        segment_id=segment_id,
                        code_id=code,
                        values=tuple(None if np.isnan(v) else bool(v) for v in column),
                    )
                )
    pooled = np.concatenate(blocks, axis=1) if blocks else np.empty((len(coders), 0))
    overall = figures("", "Ensemble des codes", pooled, len(common))
    disagreements.sort(key=lambda d: (d.segment_id, d.code_id))
    return AgreementReport(
        coders=tuple(coders),
        per_code=tuple(per_code),
        overall=overall,
        disagreements=tuple(disagreements),
    )


# ---------------------------------------------------------------------------------------------
# From the study
# ---------------------------------------------------------------------------------------------


def study_coders(study: Study) -> list[str]:
    """Display names of the human coders (`alice` and `Alice` are one coder), sorted."""
    consensus = coder_key(CONSENSUS_CODER)
    coders = known_coders(study.conn)
    return sorted((name for key, name in coders.items() if key != consensus), key=coder_key)


def study_codings(study: Study, coders: Sequence[str], segment_ids: set[int]) -> Codings:
    """Human coders from the decision history; `machine` from the current suggestions."""
    codings: Codings = {}
    for coder in coders:
        if coder == MACHINE_CODER:
            codings[coder] = _machine_codings(study, segment_ids)
            continue
        coded = {
            int(r[0])
            for r in study.conn.execute(
                "SELECT DISTINCT segment_id FROM decisions WHERE coder_key(coder) = ?",
                (coder_key(coder),),
            )
        } & segment_ids
        applied: dict[int, set[str]] = {s: set() for s in coded}
        for (segment_id, code), is_applied in current_coding(study.conn, coder=coder).items():
            if is_applied and segment_id in applied:
                applied[segment_id].add(code)
        codings[coder] = {s: frozenset(codes) for s, codes in applied.items()}
    return codings


def _machine_codings(study: Study, segment_ids: set[int]) -> dict[int, frozenset[str]]:
    redirects = code_redirect_map(study.conn)
    suggested: dict[int, set[str]] = defaultdict(set)
    for r in study.conn.execute("SELECT segment_id, code_id FROM suggestions"):
        suggested[int(r[0])].add(redirects.get(r[1], r[1]))
    if not suggested:
        return {}
    return {s: frozenset(suggested.get(s, set())) for s in segment_ids}


def agreement(
    study: Study,
    *,
    territory: str | None = None,
    coders: Sequence[str] | None = None,
    machine: bool = False,
) -> AgreementReport:
    territory_id = study.config.territory(territory).id if territory else None
    chosen = (
        list(dict.fromkeys(_display_name(study, c) for c in coders))
        if coders
        else study_coders(study)
    )
    known = set(study_coders(study)) | {CONSENSUS_CODER}
    unknown = [c for c in chosen if c not in known and c != MACHINE_CODER]
    if unknown:
        raise StudyError(
            f"Codeur(s) sans aucune décision dans l'étude : {', '.join(unknown)} "
            f"(codeurs connus : {', '.join(sorted(known - {CONSENSUS_CODER})) or 'aucun'})."
        )
    if machine and MACHINE_CODER not in chosen:
        chosen.append(MACHINE_CODER)
    if MACHINE_CODER in chosen and not study.conn.execute("SELECT 1 FROM suggestions").fetchone():
        raise StudyError(
            "Aucune suggestion automatique dans l'étude : lancez d'abord « qualipipe code » "
            "pour comparer les analystes avec la machine."
        )
    if len(chosen) < 2:
        raise StudyError(
            "Il faut au moins deux codeurs pour mesurer un accord : importez les classeurs de "
            "deux analystes, ou ajoutez --machine pour comparer avec les suggestions."
        )
    check = code_check(study)
    labels = {code.id: code.label for code in check.codebook.codes}
    segment_ids = set(coded_segment_ids(study, territory_id))
    return compare(study_codings(study, chosen, segment_ids), chosen, labels)


def _display_name(study: Study, coder: str) -> str:
    if coder_key(coder) in (coder_key(MACHINE_CODER), coder_key(CONSENSUS_CODER)):
        return coder_key(coder)
    return resolve_coder(study.conn, coder)


def _cell(value: bool | None) -> str:
    if value is None:
        return MISSING
    return APPLIED if value else NOT_APPLIED


def export_disagreements(study: Study, report: AgreementReport, output: Path | None = None) -> Path:
    """Workbook of the disagreements, where the team records the agreed decision."""
    check = code_check(study)
    labels = {code.id: code.label for code in check.codebook.codes}
    contexts = contexts_of(study, (d.segment_id for d in report.disagreements))
    shown = [contexts[d.segment_id] for d in report.disagreements]
    texts = hide_all(
        [c.segment.text for c in shown], pseudonymizer_for(study, cached_entities=True).apply_many
    )
    sources = hide_all(
        [source_label(c.source, c.participant) for c in shown],
        pseudonymizer_for(study, Policy.LABEL).apply_many,
    )
    rows = []
    for index, d in enumerate(report.disagreements):
        context = contexts[d.segment_id]
        participant = context.participant
        text_hash = hashlib.sha256(context.segment.text.encode("utf-8")).hexdigest()
        rows.append(
            wb.DisagreementRow(
                segment_id=d.segment_id,
                code_id=d.code_id,
                code_label=labels.get(d.code_id, ""),
                fingerprint=review_fingerprint(d.segment_id, text_hash, [d.code_id]),
                territory=context.source.territory_id or "",
                participant=participant.pseudonym if participant else "",
                source=sources[index],
                text=texts[index],
                codings=tuple(_cell(v) for v in d.values),
            )
        )
    lines = [
        wb.AgreementLine(f.code_id, f.label, f.n_segments, f.percent, f.kappa, f.alpha)
        for f in (*report.per_code, report.overall)
    ]
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = output or default_output_dir(study) / f"desaccords_{stamp}.xlsx"
    return wb.write_disagreement_workbook(
        Path(path),
        rows,
        report.coders,
        lines,
        check.codebook,
        {
            "etude": study.config.name,
            "dossier": study.root.name,
            "exporte_le": now_iso(),
            "codeurs": ",".join(report.coders),
            wb.META_STUDY_ID: study_identity(study.conn),
            wb.META_EXPORT_ID: uuid.uuid4().hex,
        },
    )
