"""NLP-assisted coding: cached spaCy features, suggesters, calibrated suggestions with reasons.

Entry points: `qualipipe.coding.features.compute_features` (cached per-segment NLP),
`qualipipe.coding.suggest.suggest_codes` (the `qualipipe code` step) and
`qualipipe.coding.suggest.uncertainty_by_segment` (active learning order for the review export).
Heavy modules (spaCy, scikit-learn) are imported by the submodules, not here.
"""
