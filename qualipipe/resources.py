"""Files shipped with qualipipe: the survey instruments, the shared codebook, the example study.

They are package data (read with `importlib.resources`), so a wheel installed from PyPI finds them
as well as a source checkout does. The top-level `surveys/`, `codebooks/` and `examples/etude-demo/`
folders of the repository are the editable sources; `tools/sync_package_data.py` copies them into
`qualipipe/data/` and a test checks that both stay identical.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

EXAMPLE_STUDY = "etude-demo"
CODEBOOK = "ptce.yaml"
# Parts of the example folder that are the maintainers' generators, not study material.
EXAMPLE_EXCLUDED = ("outils",)


def data_dir() -> Path:
    """The package's data folder (a real folder: qualipipe is never imported from a zip)."""
    return Path(str(resources.files("qualipipe").joinpath("data")))


def shipped_instruments() -> list[Path]:
    """The survey instruments shipped with qualipipe, sorted by name."""
    folder = data_dir() / "surveys"
    return sorted(p for p in folder.glob("*.yaml")) if folder.is_dir() else []


def shipped_codebook() -> Path:
    """The shared PTCE codebook shipped with qualipipe."""
    return data_dir() / "codebooks" / CODEBOOK


def example_study() -> Path:
    """The example study (two territories, interviews, survey exports, analyst decisions)."""
    return data_dir() / EXAMPLE_STUDY
