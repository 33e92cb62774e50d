"""Shipped files: the same instruments, codebook and example study in a wheel as in the checkout.

The top-level `surveys/`, `codebooks/` and `examples/etude-demo/` folders are the editable sources;
`tools/sync_package_data.py` copies them into `qualipipe/data/`. A wheel built from the repository
and installed without `-e` runs the whole demo from an empty folder outside the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

DATA = REPO_ROOT / "qualipipe" / "data"
PAIRS = [
    (REPO_ROOT / "surveys", DATA / "surveys"),
    (REPO_ROOT / "codebooks", DATA / "codebooks"),
    (REPO_ROOT / "examples" / "etude-demo", DATA / "etude-demo"),
]
NOT_SHIPPED = {"outils", "__pycache__"}


def tree(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
        and not NOT_SHIPPED & set(path.relative_to(folder).parts)
        and not path.name.startswith("study.db")
    }


@pytest.mark.parametrize("source, shipped", PAIRS, ids=[p[0].name for p in PAIRS])
def test_package_data_is_an_exact_copy_of_the_editable_sources(source: Path, shipped: Path) -> None:
    assert tree(source) == tree(shipped), (
        f"{shipped} differs from {source}: run « python tools/sync_package_data.py »."
    )


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """qualipipe's wheel, built from the checkout and installed (no -e) into a fresh folder."""
    work = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO_ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(work / "dist"),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = (work / "dist").glob("qualipipe-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "qualipipe/data/codebooks/ptce.yaml" in names
    assert "qualipipe/data/etude-demo/entretiens/ln_fondateur_02.docx" in names
    site = work / "site"
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    return site


def run_installed(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The installed copy comes first on the path; the checkout is nowhere near `cwd`.
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-m", "qualipipe", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_installed_wheel_runs_the_demo_from_an_empty_folder(
    installed_wheel: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "ailleurs"
    empty.mkdir()
    where = run_installed(installed_wheel, empty, "--version")
    assert where.returncode == 0, where.stderr
    located = subprocess.run(
        [sys.executable, "-c", "import qualipipe; print(qualipipe.__file__)"],
        cwd=empty,
        env={**os.environ, "PYTHONPATH": str(installed_wheel)},
        capture_output=True,
        text=True,
    )
    assert Path(located.stdout.strip()).is_relative_to(installed_wheel)

    demo = run_installed(installed_wheel, empty, "demo")
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    assert "Traceback" not in demo.stderr
    out = empty / "outputs" / "demo"
    for territory in ("sud-creuse", "limoges-nord"):
        assert (out / territory / "synthese.docx").stat().st_size > 10_000
        assert (out / territory / "synthese.xlsx").is_file()
    assert (out / "comparaison" / "comparaison.docx").is_file()
    assert (out / "revue" / "revue_a_faire.xlsx").is_file()
    assert (out / "accord" / "desaccords.xlsx").is_file()
    assert "fichiers écrits sous" in " ".join(demo.stdout.split())
    # The shipped example was copied, never written to.
    assert not (installed_wheel / "qualipipe" / "data" / "etude-demo" / "study.db").exists()

    build = run_installed(installed_wheel, empty, "survey", "build", "priorisation_enjeux")
    assert build.returncode == 0, build.stderr
    assert (empty / "priorisation_enjeux.lss").stat().st_size > 1_000
