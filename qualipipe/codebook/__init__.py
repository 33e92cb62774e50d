"""Codebook: model and YAML reader, changes between versions, exchange formats (REFI-QDA, xlsx, docx)."""
