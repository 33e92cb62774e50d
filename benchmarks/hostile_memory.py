"""Peak memory of reading every hostile input (issue 13: must stay under 500 MB).

Builds the hostile corpus of tests/hostile_corpus.py plus the two worst cases of the issue
(a .docx expanding to 1.5 GB, and the largest .docx still under the limits: a 9.5 MB
document.xml of varied text, ratio far under 100), then runs each read in its own
`qualipipe` process on a copy of the example study and reports that process's peak RSS.

    python benchmarks/hostile_memory.py [--skip-big]

Last line: `HOSTILE files=N peak_mb=P limit_mb=500 tracebacks=0`.
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.hostile_corpus import (  # noqa: E402 - the corpus lives with the tests
    PARAGRAPH,
    Case,
    W,
    _template,
    _write_zip,
    command_for,
    corpus,
    zip_bomb,
)

MEASURE = """
import atexit, resource, sys
from qualipipe.cli import main
atexit.register(lambda: print(f"PEAK_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}",
                              file=sys.stderr))
main(sys.argv[1:])
"""


def largest_accepted_docx(path: Path) -> None:
    """9.5 MB of varied paragraphs: under every limit, so it is parsed for real."""
    words = ["territoire", "coopération", "emploi", "mobilité", "financement", "locaux", "pôle"]
    rng = random.Random(7)

    def stream():
        yield f'<?xml version="1.0" encoding="UTF-8"?><w:document {W}><w:body>'.encode()
        written = 0
        while written < 9.5 * 1024 * 1024:
            line = "Martine : " + " ".join(
                rng.choice(words) + str(rng.randint(0, 99999)) for _ in range(12)
            )
            chunk = PARAGRAPH.format(line).encode()
            written += len(chunk)
            yield chunk
        yield b"</w:body></w:document>"

    _write_zip(path, _template("docx"), ("word/document.xml", stream()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--skip-big", action="store_true", help="sans la bombe de 1,5 Go")
    args = parser.parse_args()
    cases = corpus()
    if not args.skip_big:
        cases.append(Case("docx-bombe-1500mo", "SC-F01.docx", zip_bomb("docx", 1500), "transcript"))
    cases.append(Case("docx-9mo-accepte", "SC-F01.docx", largest_accepted_docx, "transcript"))
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base"
        shutil.copytree(
            REPO / "examples" / "etude-demo", base, ignore=shutil.ignore_patterns("revue")
        )
        run(
            [
                sys.executable,
                "-m",
                "qualipipe",
                "ingest",
                "-s",
                str(base),
                "-m",
                str(base / "participants.csv"),
            ]
        )
        run(
            [
                sys.executable,
                "-m",
                "qualipipe",
                "codebook",
                "load",
                "-s",
                str(base),
                str(REPO / "codebooks" / "ptce.yaml"),
            ]
        )
        peak, tracebacks = 0, 0
        for case in cases:
            work = Path(tmp) / case.name
            work.mkdir()
            study = work / "etude"
            shutil.copytree(base, study)
            file = work / case.file
            case.build(file)
            done = subprocess.run(
                [sys.executable, "-c", MEASURE, *command_for(case, study, file)],
                capture_output=True,
                text=True,
                cwd=REPO,
                check=False,
            )
            kb = max(
                int(line.split()[1])
                for line in done.stderr.splitlines()
                if line.startswith("PEAK_KB")
            )
            tracebacks += "Traceback" in done.stderr
            peak = max(peak, kb)
            size = file.stat().st_size / 1024 / 1024
            print(
                f"{case.name:38s} {size:8.2f} Mo  code={done.returncode}  pic={kb / 1024:6.0f} Mo",
                flush=True,
            )
            shutil.rmtree(work)
    print(f"HOSTILE files={len(cases)} peak_mb={peak // 1024} limit_mb=500 tracebacks={tracebacks}")


def run(command: list[str]) -> None:
    subprocess.run(command, check=True, capture_output=True, cwd=REPO)


if __name__ == "__main__":
    main()
