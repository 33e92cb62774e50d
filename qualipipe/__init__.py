"""qualipipe: the qualitative side of a PTCE *diagnostic territorial partagé*.

Stages, one module each: surveys → ingest → store → code → review → synthesize.
"""

from __future__ import annotations

__version__ = "0.1.0"
