"""The livrable: workshop 1 in the report, préconisations, the per-territory draft
(`write_livrable`) and the cross-territory bilan (`write_bilan`)."""

from qualipipe.report.livrable import LivrableReport, write_livrable

__all__ = ["LivrableReport", "write_livrable"]
