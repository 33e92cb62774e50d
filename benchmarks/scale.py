"""The analyst loop at real scale: ≥ 50,000 segments in ≥ 100 territories, every step timed.

Builds, in a temporary folder, a study from ../shared/data/:
- the Grand Débat local meeting reports (one written report per meeting, one territory per city);
- the CFPP2000 interviews, each transcript cut into parts of about `--lignes-par-partie` lines,
  the parts spread over the territories (each part is one participant's interview there).
Then runs the product's CLI as an analyst would, each step in its own process:
ingest → code → review export --tout → review import of 1,000 decisions → code again →
synthesize --all, and measures each step's time and peak memory (the child's own maximum RSS).

The 1,000 decisions are written into a copy of the exported workbook, on its first rows (the most
uncertain: where an analyst starts), « accepter » or « rejeter » on the first proposed code.

    python benchmarks/scale.py [--data ../shared/data] [--garder DOSSIER [--reprendre]]
                               [--delai SECONDES]

Last line:
    SCALE territories=T segments=N export_rows=E export_rows_per_s=X import_rows_per_s=Y
          recode_speedup=R synth_s_per_territory=Z peak_rss_mib=M
(one line; recode_speedup = first `code` time / `code` time after the 1,000 decisions).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import unicodedata
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data"
DECISIONS = 1_000
REVIEW_SHEET = "Revue"  # the product's sheet and column names, as an analyst sees them
FIRST_CODE, FIRST_DECISION = "Code 1", "Décision 1"

# The CFPP2000 interviewers (its README), listed as an analyst would in the manifest: their
# names are then hidden wherever they appear (speaker labels included).
CFPP_INTERVIEWERS = (
    "Sonia Branca-Rosoff|Florence Lefeuvre|Mat Pires|Océane Advocat|Laurence Lefebure"
)
FIRST_NAMES = [
    "Martine", "Thomas", "Nadia", "Julien", "Sophie", "Karim", "Isabelle", "Olivier", "Chantal",
    "Mehdi", "Hélène", "Bruno", "Aurélie", "Yannick", "Fatima", "Gérard", "Camille", "Loïc",
]  # fmt: skip
LAST_NAMES = [
    "Lavaud", "Bellac", "Ouardi", "Barreau", "Gaillot", "Benali", "Fauconnet", "Dumazeau",
    "Vergnaud", "Taillandier", "Chassagne", "Roudier", "Peyrat", "Malaval", "Sabourin",
]  # fmt: skip


@dataclass(frozen=True)
class Participant:
    id: str
    name: str
    territory: str
    file: str
    kind: str  # the manifest's type_source: compte-rendu (meeting report) or entretien


@dataclass(frozen=True)
class Step:
    name: str
    seconds: float
    peak_mib: float
    output: str
    cpu_seconds: float = 0.0  # user + system: the wall time is inflated on a shared machine


def slug(text: str) -> str:
    folded = unicodedata.normalize("NFD", text.lower())
    ascii_text = "".join(c for c in folded if not unicodedata.combining(c))
    return re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")


def meeting_reports(data: Path) -> list[dict[str, str]]:
    path = data / "granddebat_reunions_locales" / "reunions.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def report_text(report: dict[str, str]) -> str:
    """A meeting report as a written document: paragraphs, no speaker labels."""
    fields = ("title", "how_it_went", "diagnostics", "proposals", "diverse_opinions")
    paragraphs = [" ".join(str(report.get(f) or "").split()) for f in fields]
    return "\n\n".join(p for p in paragraphs if p) + "\n"


def cfpp_parts(data: Path, lines_per_part: int) -> list[tuple[str, str, str]]:
    """(file stem, interviewee name, text) of each part of each CFPP2000 transcript."""
    parts = []
    for path in sorted((data / "cfpp2000_interviews" / "transcripts").glob("*.txt")):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        tokens = re.split(r"[_-]", path.stem)
        name = f"{tokens[0]} {tokens[1]}"
        for start in range(0, len(lines), lines_per_part):
            chunk = lines[start : start + lines_per_part]
            parts.append((f"{path.stem}_{start // lines_per_part + 1:02d}", name, "\n".join(chunk)))
    return parts


def build_study(root: Path, data: Path, lines_per_part: int) -> list[str]:
    """Writes qualipipe.toml, participants.csv and sources/; returns the territory ids."""
    reports = meeting_reports(data)
    cities: dict[str, str] = {}
    for report in reports:
        city = str(report.get("city") or "").strip(" ,") or "Commune inconnue"
        cities.setdefault(slug(city) or "commune", city)
    territories = sorted(cities)
    sources = root / "sources"
    sources.mkdir(parents=True)
    participants: list[Participant] = []
    for n, report in enumerate(reports, start=1):
        text = report_text(report)
        if not text.strip():  # a few reports have no text at all
            continue
        file = f"reunion_{n:03d}.txt"
        (sources / file).write_text(text, encoding="utf-8")
        city = str(report.get("city") or "").strip(" ,") or "Commune inconnue"
        name = f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {LAST_NAMES[n % len(LAST_NAMES)]}"
        participants.append(
            Participant(f"GD{n:03d}", name, slug(city) or "commune", file, "compte-rendu")
        )
    for n, (stem, name, text) in enumerate(cfpp_parts(data, lines_per_part), start=1):
        file = f"{stem}.txt"
        (sources / file).write_text(text + "\n", encoding="utf-8")
        participants.append(
            Participant(
                f"CF{n:03d}", name, territories[n * 7 % len(territories)], file, "entretien"
            )
        )
    (root / "qualipipe.toml").write_text(study_toml(cities), encoding="utf-8")
    (root / "participants.csv").write_text(manifest_csv(participants), encoding="utf-8")
    return territories


def study_toml(cities: dict[str, str]) -> str:
    blocks = ['[etude]\nnom = "Banc d\'essai à l\'échelle"\nregion = "France"\n']
    for territory_id, city in sorted(cities.items()):
        blocks.append(
            f'[[territoires]]\nid = "{territory_id}"\nnom = {json.dumps(city)}\n'
            f'ptce = "PTCE {territory_id}"\ntype = "généraliste"\nstade = "existant"\n'
            'milieu = "urbain"\n'
        )
    return "\n".join(blocks)


def manifest_csv(participants: Sequence[Participant]) -> str:
    header = (
        "identifiant;nom;role;organisation;type_acteur;territoire;consentement;"
        "date_entretien;enqueteur;fichier;jeton;type_source"
    )
    rows = [
        f"{p.id};{p.name};acteur;;citoyen;{p.territory};oui;2026-01-15;"
        f"{CFPP_INTERVIEWERS if p.kind == 'entretien' else ''};{p.file};;{p.kind}"
        for p in participants
    ]
    return "\n".join([header, *rows]) + "\n"


def run_step(name: str, args: Sequence[str], cwd: Path, timeout: float | None) -> Step:
    """One CLI command in its own process: wall time and that process's peak RSS."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100"}
    start = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "qualipipe", *args], cwd=cwd, env=env, stdout=log, stderr=log
        )
        deadline = None if timeout is None else start + timeout
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if deadline is not None and time.perf_counter() > deadline:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                break
            time.sleep(0.05)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - start
        log.seek(0)
        output = log.read()
    if process.returncode != 0:
        print(output[-3000:], file=sys.stderr)
        raise SystemExit(f"{name} a échoué (code {process.returncode}) après {seconds:.0f} s")
    cpu = usage.ru_utime + usage.ru_stime
    step = Step(name, seconds, usage.ru_maxrss / 1024, output, cpu)
    print(f"{name:<28} {seconds:8.1f} s  {step.peak_mib:6.0f} MiB  (CPU {cpu:.1f} s)", flush=True)
    return step


def fill_decisions(source: Path, target: Path, wanted: int) -> int:
    """Copy of the exported workbook with `wanted` decisions on its first rows.

    Streamed (read-only in, write-only out): every sheet and its values are kept, including the
    hidden metadata sheet the import checks; drop-down lists and styles are not needed to import.
    """
    book = load_workbook(source, read_only=True)
    out = Workbook(write_only=True)
    filled = 0
    for ws in book.worksheets:
        copy = out.create_sheet(ws.title)
        copy.sheet_state = ws.sheet_state
        ws.reset_dimensions()
        rows = ws.iter_rows(values_only=True)
        headers = list(next(rows, ()))
        code = headers.index(FIRST_CODE) if FIRST_CODE in headers else None
        decision = headers.index(FIRST_DECISION) if FIRST_DECISION in headers else None
        copy.append([as_cell(copy, v) for v in headers])
        for values in rows:
            cells = list(values)
            deciding = ws.title == REVIEW_SHEET and code is not None and decision is not None
            if deciding and filled < wanted and cells[code] and not cells[decision]:
                # About 60 % accepted: a mix the model can learn from.
                accept = zlib.crc32(str(cells[code]).encode() + bytes([filled % 251])) % 5 < 3
                cells[decision] = "accepter" if accept else "rejeter"
                filled += 1
            copy.append([as_cell(copy, v) for v in cells])
    book.close()
    out.save(target)
    return filled


def as_cell(ws: object, value: object) -> object:
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(ws, value)
        cell.data_type = "s"  # a verbatim, not a formula
        return cell
    return value


def count_segments(root: Path) -> int:
    with sqlite3.connect(root / "study.db") as conn:
        return int(conn.execute("SELECT count(*) FROM segments WHERE retired = 0").fetchone()[0])


def rows_written(output: str) -> int:
    found = re.search(r"\((\d[\d  ]*) extraits", output)
    if not found:
        raise SystemExit(f"nombre de lignes exportées introuvable dans : {output[-500:]}")
    return int(re.sub(r"\D", "", found[1]))


class Journal:
    """Each finished step's measures, kept in the study folder: `--reprendre` continues a run
    that was interrupted (a long benchmark on a shared machine) from its first missing step."""

    def __init__(self, root: Path, timeout: float | None, resume: bool) -> None:
        self.root, self.timeout = root, timeout
        self.path = root / "banc_etapes.json"
        self.done: dict[str, dict] = (
            json.loads(self.path.read_text(encoding="utf-8"))
            if resume and self.path.is_file()
            else {}
        )

    def step(self, name: str, args: Sequence[str]) -> Step:
        if name in self.done:
            step = Step(name, **self.done[name])
            print(
                f"{name:<28} {step.seconds:8.1f} s  {step.peak_mib:6.0f} MiB (repris)", flush=True
            )
            return step
        step = run_step(name, args, self.root, self.timeout)
        self.done[name] = {
            "seconds": step.seconds,
            "peak_mib": step.peak_mib,
            "output": step.output,
            "cpu_seconds": step.cpu_seconds,
        }
        self.path.write_text(json.dumps(self.done, ensure_ascii=False), encoding="utf-8")
        return step


def count_territories(root: Path) -> int:
    with sqlite3.connect(root / "study.db") as conn:
        return int(conn.execute("SELECT count(*) FROM territories").fetchone()[0])


def run(root: Path, data: Path, lines_per_part: int, timeout: float | None, resume: bool) -> str:
    if not resume:
        build_study(root, data, lines_per_part)
    journal = Journal(root, timeout, resume)
    codebook = REPO / "codebooks" / "ptce.yaml"
    steps = [journal.step("codebook load", ["codebook", "load", str(codebook)])]
    steps.append(journal.step("ingest", ["ingest", "sources", "--manifest", "participants.csv"]))
    segments, territories = count_segments(root), count_territories(root)
    print(f"{territories} territoires, {segments} segments", flush=True)
    first_code = journal.step("code", ["code"])
    export_path = root / "revue_tout.xlsx"
    export = journal.step(
        "review export --tout", ["review", "export", "--tout", "--sortie", str(export_path)]
    )
    exported = rows_written(export.output)
    decided_path = root / "revue_decisions.xlsx"
    if "review import" not in journal.done:
        decided = fill_decisions(export_path, decided_path, DECISIONS)
        print(f"{decided} décisions écrites dans {decided_path.name}", flush=True)
    imported = journal.step(
        "review import", ["review", "import", str(decided_path), "--coder", "Analyste Banc"]
    )
    recode = journal.step("code (après décisions)", ["code"])
    synth = journal.step(
        "synthesize --all", ["synthesize", "--all", "--sortie", str(root / "outputs")]
    )
    steps += [first_code, export, imported, recode, synth]
    peak = max(step.peak_mib for step in steps)
    return (
        f"SCALE territories={territories} segments={segments} export_rows={exported} "
        f"export_rows_per_s={exported / export.seconds:.0f} "
        f"import_rows_per_s={exported / imported.seconds:.0f} "
        f"recode_speedup={first_code.seconds / recode.seconds:.1f} "
        f"synth_s_per_territory={synth.seconds / territories:.2f} peak_rss_mib={peak:.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--garder", type=Path, default=None, help="build the study there, keep it")
    parser.add_argument("--lignes-par-partie", type=int, default=250)
    parser.add_argument("--delai", type=float, default=None, help="kill a step after N seconds")
    parser.add_argument(
        "--reprendre", action="store_true", help="with --garder: continue an interrupted run"
    )
    args = parser.parse_args()
    if not (args.data / "granddebat_reunions_locales").is_dir():
        print(f"Données absentes : {args.data}", file=sys.stderr)
        return 1
    if args.garder is not None:
        resume = args.reprendre and (args.garder / "banc_etapes.json").is_file()
        if not resume:
            shutil.rmtree(args.garder, ignore_errors=True)
            args.garder.mkdir(parents=True)
        line = run(args.garder, args.data, args.lignes_par_partie, args.delai, resume)
    else:
        with tempfile.TemporaryDirectory() as folder:
            line = run(Path(folder), args.data, args.lignes_par_partie, args.delai, False)
    print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
