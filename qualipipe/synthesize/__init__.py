"""Synthesis for the livrable: tables (.xlsx, .docx, .md), actor map, word clouds, priorities,
evaluation, per territory, and the cross-territory comparison.

Library entry point: `synthesize_study(study, out_dir, ...) -> SynthesisReport`.
"""

from qualipipe.synthesize.model import SynthesisOptions, SynthesisReport, Table
from qualipipe.synthesize.pipeline import synthesize_study

__all__ = ["SynthesisOptions", "SynthesisReport", "Table", "synthesize_study"]
