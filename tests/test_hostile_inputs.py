"""Every hostile input of the corpus (tests/hostile_corpus.py) through the real CLI: a French
error or a clean import, never a traceback, never a leaked /etc/passwd, and after a refusal the
study is byte for byte what it was."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qualipipe.cli import main
from tests.hostile_corpus import SECRET_MARK, Case, command_for, corpus

REPO = Path(__file__).resolve().parents[1]


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exited:
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(scope="module")
def base_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example study with its participants and the codebook loaded."""
    root = tmp_path_factory.mktemp("hostile") / "etude"
    shutil.copytree(REPO / "examples" / "etude-demo", root, ignore=shutil.ignore_patterns("revue"))
    for args in (
        ["ingest", "-s", str(root), "-m", str(root / "participants.csv")],
        ["codebook", "load", "-s", str(root), str(REPO / "codebooks" / "ptce.yaml")],
    ):
        try:
            main(args)
        except SystemExit as exited:
            assert not exited.code, args
    return root


def study_state(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.glob("study.db*"))}


@pytest.mark.parametrize("case", corpus(), ids=lambda case: case.name)
def test_hostile_input_is_refused_in_french_or_imported_cleanly(
    case: Case, base_study: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study = tmp_path / "etude"
    shutil.copytree(base_study, study)
    file = tmp_path / case.file
    case.build(file)
    before = study_state(study)

    code, output = run_cli(command_for(case, study, file), capsys)

    assert "Traceback" not in output, output
    assert code in (0, 1), output
    after = study_state(study)
    written = b"".join(after.values()) + b"".join(p.read_bytes() for p in tmp_path.glob("*.yaml"))
    assert SECRET_MARK.encode() not in written
    if code == 0 and case.expect:
        assert case.expect.encode() in written, "texte mal décodé"
    if code == 1:
        assert "Erreur" in output and file.name in output, output
        assert after == before  # a refusal leaves the study byte-identical
        assert not list(tmp_path.glob("*.yaml"))  # and writes nothing else
