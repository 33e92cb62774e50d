"""Text folding: the two ways text is made case- and accent-insensitive.

- `fold_aligned` keeps one character per character, so offsets found in the folded text are valid
  in the original (name matching, speaker labels: the match is then cut out of the original).
- `fold_key` is a comparison key only (lemmas, headers, choices): combining marks are dropped, so
  its length may differ from the original's; never use its offsets.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache


def fold_aligned(text: str) -> str:
    """Lower-case and strip accents, one character per character (offsets stay valid)."""
    out = []
    for char in text:
        base = unicodedata.normalize("NFD", char)[0]
        lowered = base.lower()
        out.append(lowered if len(lowered) == 1 else char.lower()[:1] or char)
    return "".join(out)


@lru_cache(maxsize=500_000)  # token vocabularies are Zipfian: most calls hit the cache
def fold_key(text: str) -> str:
    """Lower-case and strip accents ("Coopération" -> "cooperation"): a key for comparisons."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))
