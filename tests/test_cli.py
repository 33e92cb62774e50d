"""CLI: French help everywhere, one-line French errors without tracebacks."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from qualipipe.cli import app

ENGLISH_MARKERS = (
    "Usage:",
    "Show this message",
    "Options:\n  --help",
    "Commands:",
    "Error:",
    "Missing argument",
    "COMMAND [ARGS]",
)


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        if isinstance(command, click.Group):
            paths.extend(all_commands(command, (*prefix, name)))
        else:
            paths.append((*prefix, name))
    return paths


@pytest.mark.parametrize("path", all_commands(app), ids=lambda p: " ".join(p) or "qualipipe")
def test_every_help_is_in_french(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], prog_name="qualipipe")
    assert result.exit_code == 0, result.output
    assert "Utilisation :" in result.output
    assert "Afficher cette aide et quitter." in result.output
    for marker in ENGLISH_MARKERS:
        assert marker not in result.output, f"{marker!r} in help of {' '.join(path)}"
    command = app
    for name in path:
        command = command.get_command(click.Context(command), name)  # type: ignore[union-attr]
    assert (command.help or "").strip(), f"{' '.join(path)} has no help text"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qualipipe", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def assert_one_french_error(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Erreur :")
    assert expected in lines[0]


def test_wrong_study_folder_gives_one_french_line(tmp_path: Path) -> None:
    result = run_cli("status", "--study", str(tmp_path / "nulle-part"))
    assert_one_french_error(result, "n'existe pas")


def test_missing_toml_gives_one_french_line(tmp_path: Path) -> None:
    result = run_cli("status", cwd=tmp_path)
    assert_one_french_error(result, "qualipipe.toml")


def test_corrupted_database_gives_one_french_line(tmp_path: Path) -> None:
    assert run_cli("init", str(tmp_path / "etude")).returncode == 0
    db = tmp_path / "etude" / "study.db"
    for suffix in ("-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    db.write_bytes(b"ceci n'est pas une base SQLite" * 200)
    result = run_cli("status", "--study", str(tmp_path / "etude"))
    assert_one_french_error(result, "corrompue")


def test_init_then_status_on_a_fresh_study(tmp_path: Path) -> None:
    created = run_cli("init", str(tmp_path / "etude"), "--nom", "Diagnostics 2026")
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "etude" / "qualipipe.toml").is_file()
    assert (tmp_path / "etude" / "study.db").is_file()
    again = run_cli("init", str(tmp_path / "etude"))
    assert_one_french_error(again, "existe déjà")
    status = run_cli("status", "--study", str(tmp_path / "etude"))
    assert status.returncode == 0
    assert "Diagnostics 2026" in status.stdout


def test_invalid_toml_values_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "qualipipe.toml").write_text(
        '[etude]\nnom = "X"\n[[territoires]]\nid = "a"\nnom = "A"\nptce = "P"\ntype = "mixte"\n'
        'stade = "émergent"\nmilieu = "périurbain"\n',
        encoding="utf-8",
    )
    result = run_cli("status", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert '« type = "mixte" »' in result.stderr
    assert '« milieu = "périurbain" »' in result.stderr


def test_review_ingest_and_status_start_without_the_heavy_libraries() -> None:
    # `review export` / `review import` / `status` run many times in a sitting: they must not
    # first load scikit-learn, spaCy and matplotlib for the other commands (seconds at every
    # start; `status --codes` loads scikit-learn when it needs it).
    probe = (
        "import sys, click; from qualipipe.cli import app; "
        "[app.get_command(click.Context(app), name) for name in ('review', 'ingest', 'status')]; "
        "print(sorted(m for m in ('sklearn', 'spacy', 'matplotlib') if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]"
