"""Copy the editable sources (surveys/, codebooks/, examples/etude-demo/) into qualipipe/data/.

Run after editing an instrument, the codebook or the example study:

    python tools/sync_package_data.py

`tests/test_package_data.py` fails while the two copies differ.
"""

from __future__ import annotations

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "qualipipe" / "data"
PAIRS = (
    (REPO / "surveys", DATA / "surveys"),
    (REPO / "codebooks", DATA / "codebooks"),
    (REPO / "examples" / "etude-demo", DATA / "etude-demo"),
)
IGNORED = shutil.ignore_patterns("outils", "study.db*", "__pycache__", "*.pyc")


def sync() -> None:
    for source, target in PAIRS:
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(source, target, ignore=IGNORED)
        print(f"{source.relative_to(REPO)} → {target.relative_to(REPO)}")


if __name__ == "__main__":
    sync()
