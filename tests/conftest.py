"""Shared test fixtures.

- `nlp`: the real spaCy `fr_core_news_md` coding pipeline, loaded once per test session.
- `shared_dir`: `../shared` (read-only real data and LimeSurvey fixtures); tests that need it
  call `require_shared(...)` and are skipped cleanly when it is absent.
- `make_study`: a real study folder with a real SQLite `study.db`, two territories.
- `example_copy`: a fresh copy of the example study, built once per session (copied, manifest and
  interviews ingested, shared codebook loaded); each test gets its own copy to change.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_DIR = REPO_ROOT / "examples" / "etude-demo"
CODEBOOK = REPO_ROOT / "codebooks" / "ptce.yaml"
SHARED_DIR = Path(os.environ.get("QUALIPIPE_SHARED", REPO_ROOT.parent / "shared"))

TWO_TERRITORIES_TOML = """\
[etude]
nom = "Étude de test"
region = "Bourgogne-Franche-Comté"

[[territoires]]
id = "auxois"
nom = "Auxois"
ptce = "Pôle alimentaire de l'Auxois"
type = "filière"
stade = "émergent"
milieu = "rural"
communes = ["21038", "21425"]
epci_siren = ["242100410"]

[[territoires]]
id = "besancon-nord"
nom = "Besançon Nord"
ptce = "Coopérative de quartier Planoise"
type = "généraliste"
stade = "existant"
milieu = "urbain"
communes = ["25056"]
epci_siren = ["242500361"]
"""


@pytest.fixture(scope="session")
def nlp():
    """The real coding pipeline, loaded once for the whole session."""
    from qualipipe.nlp import coding_pipeline

    return coding_pipeline()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return SHARED_DIR


def require_shared(*parts: str) -> Path:
    """Path inside ../shared, or skip the test when it is not there."""
    path = SHARED_DIR.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"../shared absent : {path}")
    return path


@pytest.fixture
def make_study(tmp_path: Path) -> Iterator[Callable[..., object]]:
    """Factory: `make_study()` returns an open `Study` in a fresh folder (closed at teardown)."""
    from qualipipe.store import open_study

    opened = []

    def factory(toml: str = TWO_TERRITORIES_TOML, name: str = "etude") -> object:
        root = tmp_path / name
        root.mkdir(parents=True, exist_ok=True)
        (root / "qualipipe.toml").write_text(toml, encoding="utf-8")
        study = open_study(root)
        opened.append(study)
        return study

    yield factory
    for study in opened:
        study.close()


def insert_lines_source(
    conn,
    key: str,
    lines: Sequence[str],
    *,
    speakers: str | Sequence[str] = "",
    interviewer: Collection[int] = (),
    kind: str = "transcript",
    **source_fields: object,
) -> list[int]:
    """Insert a source whose text is `lines` joined by newlines, one segment per line.

    `speakers` is one label for every line or one per line; `interviewer` holds the indexes of
    the interviewer's lines; other keyword arguments are `Source` fields. Returns segment ids.
    """
    from qualipipe.records import Segment, Source, SourceKind
    from qualipipe.store import insert_segments, insert_source

    labels = [speakers] * len(lines) if isinstance(speakers, str) else list(speakers)
    segments, start = [], 0
    for index, line in enumerate(lines):
        segments.append(
            Segment(
                start=start,
                end=start + len(line),
                text=line,
                speaker=labels[index],
                is_interviewer=index in interviewer,
            )
        )
        start += len(line) + 1
    source = Source(key=key, kind=SourceKind(kind), text="\n".join(lines), **source_fields)  # type: ignore[arg-type]
    return insert_segments(conn, insert_source(conn, source), segments)


def output_texts(folder: Path) -> dict[Path, str]:
    """Text of every output file, images excluded (xlsx/docx: all their XML parts)."""
    texts = {}
    for path in sorted(folder.rglob("*")):
        if path.suffix in (".xlsx", ".docx"):
            with zipfile.ZipFile(path) as archive:
                texts[path] = "\n".join(
                    archive.read(n).decode("utf-8")
                    for n in archive.namelist()
                    if n.endswith(".xml")
                )
        elif path.suffix in (".md", ".gexf", ".graphml"):
            texts[path] = path.read_text(encoding="utf-8")
    return texts


@pytest.fixture(scope="session")
def example_base(tmp_path_factory: pytest.TempPathFactory, nlp) -> Path:
    """The example study, ingested once for the whole session: manifest, interviews, codebook.

    Survey exports and analyst decisions are left to the tests that need them (they are quick).
    """
    from qualipipe.codebook.changes import load_into_study
    from qualipipe.ingest import ingest_paths
    from qualipipe.store import open_study

    # The example study ships with the repository: a missing file is a failure, not a skip.
    assert (EXAMPLE_DIR / "qualipipe.toml").is_file() and CODEBOOK.is_file()
    root = tmp_path_factory.mktemp("exemple-base") / "etude-demo"
    shutil.copytree(EXAMPLE_DIR, root, ignore=shutil.ignore_patterns("outils", "study.db*"))
    with open_study(root) as study:
        report = ingest_paths(study, [root / "entretiens"], manifest=root / "participants.csv")
        assert report.ok, report.failed
        load_into_study(study, CODEBOOK)
    return root


@pytest.fixture
def example_copy(example_base: Path, tmp_path: Path) -> Callable[[str], Path]:
    """Factory: a private copy of the session's example study, in this test's folder."""

    def copy(name: str = "etude-demo") -> Path:
        target = tmp_path / name
        shutil.copytree(example_base, target)
        return target

    return copy


@pytest.fixture(scope="module")
def example_module_copy(example_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the session's example study shared by one test module."""
    target = tmp_path_factory.mktemp("exemple") / "etude-demo"
    shutil.copytree(example_base, target)
    return target
