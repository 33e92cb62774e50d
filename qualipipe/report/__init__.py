"""The livrable: workshop 1 in the report, préconisations, the per-territory draft
(`write_livrable`) and the cross-territory bilan (`write_bilan`).

The functions here are what the CLI calls: each takes an open study and a territory (id or name).
"""

from __future__ import annotations

from pathlib import Path

from qualipipe.ingest.reconcile import SourceChange
from qualipipe.ingest.workshop import ingest_postits, write_postit_template
from qualipipe.report.bilan import write_bilan
from qualipipe.report.issues import priority_issues
from qualipipe.report.livrable import LivrableReport, write_livrable
from qualipipe.report.preconisations import (
    ImportResult,
    PreconisationImport,
    actor_choices,
    import_history,
    import_preconisations,
    issue_choices,
    write_template,
)
from qualipipe.store import Study
from qualipipe.synthesize.load import load_territory, make_pseudonymizer, require_codebook
from qualipipe.synthesize.model import TerritoryData
from qualipipe.synthesize.territory_section import cited_actors_block

__all__ = [
    "LivrableReport",
    "import_postits",
    "import_preconisation_workbook",
    "postit_template",
    "preconisation_history",
    "preconisation_template",
    "write_bilan",
    "write_livrable",
]


def cited_organisations(study: Study, data: TerritoryData) -> list[str]:
    """Organisations cited in the territory's texts (issue 18), most cited first."""
    table = cited_actors_block(study, data, make_pseudonymizer(study, keep_names=False))
    return [str(name) for name in table.column("Organisation")]


def preconisation_template(study: Study, territory: str, path: Path) -> Path:
    """The préconisations workbook of `territory`, pre-filled with its prioritised issues."""
    t = study.config.territory(territory)
    data = load_territory(study, t, validated_only=False)
    issues, _ = priority_issues(study, data)
    actors = actor_choices(study, t.id, cited_organisations(study, data))
    return write_template(path, t, issues, issue_choices(data.codebook, issues), actors)


def import_preconisation_workbook(
    study: Study, path: Path, territory: str, *, coder: str = ""
) -> ImportResult:
    t = study.config.territory(territory)
    codebook = require_codebook(study.conn)
    return import_preconisations(study, path, t.id, codebook, coder=coder)


def preconisation_history(study: Study, territory: str) -> list[PreconisationImport]:
    return import_history(study.conn, study.config.territory(territory).id)


def postit_template(study: Study, territory: str, path: Path) -> Path:
    return write_postit_template(path, study.config.territory(territory))


def import_postits(study: Study, path: Path, territory: str) -> SourceChange:
    return ingest_postits(study, path, territory)
