"""Ingestion benchmark on the CFPP2000 interviews (61 files, about 870,000 words).

Ingests every transcript of ../shared/data/cfpp2000_interviews into a temporary study, then
re-ingests them unchanged, and prints words per second and peak memory. CFPP2000 is not
punctuated (segments cut at pauses); with --punctuated, a second run ingests typed, punctuated
answers (Grand Débat, about 114,000 words) laid out as interviews, where long turns go through
spaCy's sentence splitter.

    python benchmarks/ingest_speed.py [--limit N] [--punctuated]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QUALIPIPE_SHARED", REPO.parent / "shared"))
CORPUS = SHARED / "data" / "cfpp2000_interviews" / "transcripts"
PUNCTUATED = SHARED / "data" / "granddebat_annotation_fiscalite" / "responses.jsonl"

TOML = """\
[etude]
nom = "Banc d'essai CFPP2000"

[[territoires]]
id = "paris"
nom = "Paris et proche banlieue"
ptce = "PTCE fictif"
type = "généraliste"
stade = "existant"
milieu = "urbain"
"""


def thousands(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def peak_memory_mb() -> float:
    # ru_maxrss is in kilobytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None, help="only the first N files")
    parser.add_argument("--punctuated", action="store_true", help="also time the spaCy path")
    args = parser.parse_args()
    if not CORPUS.is_dir():
        print(f"Corpus absent : {CORPUS}", file=sys.stderr)
        return 1
    files = sorted(CORPUS.glob("*.txt"))[: args.limit]
    status = run("CFPP2000 (oral, sans ponctuation)", files)
    if args.punctuated and PUNCTUATED.is_file():
        with tempfile.TemporaryDirectory() as folder:
            status |= run(
                "Grand Débat (écrit, ponctué : phrases spaCy)", typed_interviews(Path(folder))
            )
    return status


def typed_interviews(folder: Path, per_file: int = 40) -> list[Path]:
    """Punctuated answers as interview transcripts (question by the interviewer, then answer)."""
    import json

    rows = [json.loads(line) for line in PUNCTUATED.read_text(encoding="utf-8").splitlines()]
    files = []
    for start in range(0, len(rows), per_file):
        lines = []
        for row in rows[start : start + per_file]:
            lines.append(f"Enquêteur : {row['question_text']}")
            lines.append(f"Répondant : {' '.join(row['text'].split())}")
        path = folder / f"entretien_{start // per_file + 1:03d}.txt"
        path.write_text("\n\n".join(lines) + "\n", encoding="utf-8")
        files.append(path)
    return files


def run(title: str, files: list[Path]) -> int:
    from qualipipe.ingest import ingest_paths
    from qualipipe.store import open_study

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "qualipipe.toml").write_text(TOML, encoding="utf-8")
        manifest = root / "participants.csv"
        rows = [
            f"P{i:03d};{f.stem.split('_')[0]};acteur;;citoyen;paris;oui;;;{f.name};"
            for i, f in enumerate(files, 1)
        ]
        manifest.write_text(
            "identifiant;nom;role;organisation;type_acteur;territoire;consentement;"
            "date_entretien;enqueteur;fichier;jeton\n" + "\n".join(rows) + "\n",
            encoding="utf-8",
        )
        study = open_study(root)
        memory_before = peak_memory_mb()
        start = time.perf_counter()
        report = ingest_paths(study, files, manifest=manifest)
        first = time.perf_counter() - start
        start = time.perf_counter()
        again = ingest_paths(study, files)
        second = time.perf_counter() - start
        words = sum(f.words for f in report.files)
        segments = study.conn.execute("SELECT count(*) FROM segments").fetchone()[0]
        db_size = study.config.db_path.stat().st_size / 1e6
        study.close()
    failed = [f.path for f in report.failed]
    print(f"== {title}")
    print(f"Fichiers : {len(files)} ({len(failed)} en erreur)")
    print(f"Mots : {thousands(words)}")
    print(f"Segments : {thousands(segments)}")
    print(f"Premier import : {first:.1f} s ; {thousands(words / first)} mots/s")
    unchanged = sum(1 for f in again.files if f.status == "inchangé")
    print(
        f"Réimport à l'identique : {second:.1f} s ; {thousands(words / second)} mots/s "
        f"({unchanged}/{len(files)} inchangés)"
    )
    print(f"Mémoire de pointe : {peak_memory_mb():.0f} Mo (avant import : {memory_before:.0f} Mo)")
    print(f"Taille de study.db : {db_size:.1f} Mo")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
