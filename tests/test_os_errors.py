"""OS errors at every step (issue 13): a full disk, a read-only folder, a file locked by another
program end in one French line naming the path, no traceback, no partial file, study unchanged.

A real full disk and a real read-only folder are small tmpfs mounts (root only; skipped
elsewhere). Running as root, chmod cannot make a folder unwritable, hence the mounts. A file
locked by Excel has no Linux equivalent: its Windows error (EACCES on rename) is injected.
"""

from __future__ import annotations

import errno
import gc
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from qualipipe.cli import main
from qualipipe.files import atomic_write

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "etude-demo"


def _mount(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.fixture
def mounts(tmp_path: Path) -> Iterator[Callable[[str, str], Path]]:
    """`mounts(name, options)` mounts a tmpfs at tmp_path/name (skips the test if impossible)."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        target = tmp_path / name
        if os.geteuid() != 0 or not _mount(target, options):
            pytest.skip("montage tmpfs impossible (il faut être root)")
        mounted.append(target)
        return target

    yield mount
    for target in reversed(mounted):
        subprocess.run(["umount", "-l", str(target)], check=False)


def fill_up(folder: Path) -> None:
    """Leave no free byte on the file system of `folder`."""
    fd = os.open(folder / "remplissage.bin", os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as error:
                assert error.errno == errno.ENOSPC
    finally:
        os.close(fd)


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        main(args)
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def files_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def dump(db: Path) -> list[str]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def assert_one_french_line(output: str, path_part: str, cause: str) -> None:
    assert "Traceback" not in output and "Errno" not in output
    assert cause in output and path_part in output
    assert "cannot rollback" not in output


@pytest.fixture
def example_study(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """The example study ingested and coded-free (fast): participants and transcripts."""
    root = tmp_path / "etude"
    shutil.copytree(EXAMPLE, root)
    code, output = run_cli(
        ["ingest", "-s", str(root), str(root / "entretiens"), "-m", str(root / "participants.csv")],
        capsys,
    )
    assert code == 0, output
    code, output = run_cli(
        ["codebook", "load", "-s", str(root), str(REPO / "codebooks" / "ptce.yaml")], capsys
    )
    assert code == 0, output
    return root


def test_ingest_on_a_full_disk(mounts, tmp_path, capsys) -> None:
    disk = mounts("disque", "size=2m")
    root = disk / "etude"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("revue", "questionnaires"))
    code, output = run_cli(
        ["ingest", "-s", str(root), "-m", str(root / "participants.csv")], capsys
    )
    assert code == 0, output
    before = dump(root / "study.db")
    fill_up(disk)
    code, output = run_cli(["ingest", "-s", str(root), str(root / "entretiens")], capsys)
    assert code == 1
    assert_one_french_line(output, "study.db", "disque plein")
    (disk / "remplissage.bin").unlink()
    assert dump(root / "study.db") == before


@pytest.mark.parametrize(
    "command",
    [
        ["review", "export", "-s", "{root}", "--sortie", "{out}/revue.xlsx"],
        ["synthesize", "-s", "{root}", "--sans-figures", "--sortie", "{out}"],
        [
            "codebook",
            "export",
            "{repo}/codebooks/ptce.yaml",
            "--format",
            "docx",
            "--sortie",
            "{out}/ptce.docx",
        ],
        ["survey", "build", "{repo}/surveys/priorisation_enjeux.yaml", "--sortie", "{out}/p.lss"],
    ],
    ids=["review export", "synthesize", "codebook export", "survey build"],
)
@pytest.mark.parametrize("trouble", ["disque plein", "lecture seule"])
def test_writing_outputs_where_the_system_refuses(
    example_study, mounts, capsys, monkeypatch, command, trouble
) -> None:
    # What Python would print after the French line, at exit, for a writer left open.
    left_open: list[str] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: left_open.append(repr(u.exc_value)))
    if trouble == "disque plein":
        out = mounts("sortie", "size=64k")
        fill_up(out)
    else:
        out = mounts("sortie", "ro,size=64k")
    before = dump(example_study / "study.db")
    listing = files_in(out)
    args = [part.format(out=out, root=example_study, repo=REPO) for part in command]
    code, output = run_cli(args, capsys)
    assert code == 1, output
    assert_one_french_line(output, str(out), trouble)
    gc.collect()
    assert left_open == []  # no « Exception ignored … Traceback » printed when the program ends
    assert files_in(out) == listing  # no partial file left behind
    assert dump(example_study / "study.db") == before


def test_a_workbook_locked_by_excel(example_study, capsys, monkeypatch) -> None:
    target = example_study / "revue.xlsx"
    target.write_bytes(b"ouvert dans Excel")

    def locked(source: object, destination: object) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(destination))

    monkeypatch.setattr(os, "replace", locked)
    code, output = run_cli(
        ["review", "export", "-s", str(example_study), "--sortie", str(target)], capsys
    )
    assert code == 1
    assert_one_french_line(output, "revue.xlsx", "fermez le programme")
    assert target.read_bytes() == b"ouvert dans Excel"
    assert not [p for p in example_study.iterdir() if p.name.endswith(".partiel")]


def test_atomic_write_names_the_final_path_and_leaves_nothing(tmp_path) -> None:
    target = tmp_path / "sortie.xlsx"
    with pytest.raises(OSError) as failed, atomic_write(target) as temporary:
        temporary.write_bytes(b"moitie")
        raise OSError(errno.ENOSPC, "No space left on device")
    assert failed.value.filename == str(target)
    assert list(tmp_path.iterdir()) == []
