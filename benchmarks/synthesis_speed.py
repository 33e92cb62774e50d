"""Synthesis at scale: a study with one territory per city of the Grand Débat meeting reports.

Builds (once, then reuses) a study in a folder from ``../shared/data/granddebat_reunions_locales``:
one territory per city (the cities with the most reports first), one participant per meeting
report (organisers are « acteurs », typed by the report's first theme so the territories mix a few
actor types; the first report of a city is its « fondateur »), the report's diagnostics, proposals
and account of the meeting as a text. Then codes it and times ``synthesize --all`` with figures.

    python benchmarks/synthesis_speed.py [--dossier /tmp/qp-granddebat] [--territoires 60]

Any coded study can be measured instead with ``--dossier`` (e.g. the one ``benchmarks/scale.py``
builds); the synthesis only reads it (and fills its NLP cache).

Last line: ``SYNTH territories=T segments=N files=F size_mib=S s_per_territory=Z total_s=X
cpu_s=C cpu_s_per_territory=K peak_rss_mib=M load=L`` (CPU seconds of the run and its workers;
the largest resident memory of any of its processes; the 1-minute load average, since wall
times on a shared machine mean little without it).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "granddebat_reunions_locales" / "reunions.jsonl"
FALLBACK_DATA = Path("/work/shared/data/granddebat_reunions_locales/reunions.jsonl")
THEME_TYPES = {
    "Transition écologique": "structure de l'ESS",
    "Fiscalité et dépenses publiques": "citoyen",
    "Démocratie et citoyenneté": "collectivité",
    "Organisation de l'Etat et services publics": "État/opérateur public",
}


def slug(text: str) -> str:
    text = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return text or "ville"


def city_name(raw: str) -> str:
    return re.sub(r"\s+", " ", raw.strip(" ,.")).title()


def read_reports(path: Path) -> dict[str, list[dict]]:
    by_city: dict[str, list[dict]] = defaultdict(list)
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        text = "\n\n".join(
            row.get(k, "") or "" for k in ("diagnostics", "proposals", "how_it_went")
        ).strip()
        if row.get("city") and len(text) > 80:
            by_city[city_name(row["city"])].append({**row, "text": text})
    return by_city


def build_study(folder: Path, territories: int) -> None:
    data = DATA if DATA.exists() else FALLBACK_DATA
    by_city = read_reports(data)
    cities = sorted(by_city, key=lambda c: (-len(by_city[c]), c))[:territories]
    folder.mkdir(parents=True)
    (folder / "entretiens").mkdir()
    toml = [
        "[etude]",
        'nom = "Grand Débat 2019 — réunions locales"',
        'region = "France"',
        "",
    ]
    manifest = ["identifiant;nom;role;organisation;type_acteur;territoire;fichier"]
    used: set[str] = set()
    for k, city in enumerate(cities):
        tid = slug(city)
        while tid in used:
            tid += "-2"
        used.add(tid)
        toml += [
            "[[territoires]]",
            f'id = "{tid}"',
            f'nom = "{city}"',
            f'ptce = "PTCE {city}"',
            f'type = "{"filière" if k % 2 else "généraliste"}"',
            f'stade = "{"émergent" if k % 3 else "existant"}"',
            f'milieu = "{"rural" if len(by_city[city]) < 3 else "urbain"}"',
            "",
        ]
        for n, row in enumerate(by_city[city], start=1):
            pid = f"T{k:03d}-{n:02d}"
            name = f"Personne{k:03d} Organisatrice{n:02d}"
            kind = THEME_TYPES.get((row.get("themes") or [""])[0], "autre")
            role = "fondateur" if n == 1 and len(by_city[city]) > 1 else "acteur"
            file = f"{pid.lower()}.txt"
            (folder / "entretiens" / file).write_text(row["text"], encoding="utf-8")
            manifest.append(f"{pid};{name};{role};Réunion {n} de {city};{kind};{tid};{file}")
    (folder / "qualipipe.toml").write_text("\n".join(toml), encoding="utf-8")
    (folder / "participants.csv").write_text("\n".join(manifest) + "\n", encoding="utf-8")
    qualipipe("codebook", "load", str(REPO / "codebooks" / "ptce.yaml"), study=folder)
    qualipipe(
        "ingest",
        str(folder / "entretiens"),
        "--manifest",
        str(folder / "participants.csv"),
        study=folder,
    )
    qualipipe("code", study=folder)


def qualipipe(*args: str, study: Path) -> float:
    started = time.perf_counter()
    command = [sys.executable, "-m", "qualipipe", *args, "--study", str(study)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=study)
    if done.returncode != 0:
        sys.exit(f"{' '.join(args)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dossier", type=Path, default=Path("/tmp/qp-granddebat"))
    parser.add_argument("--territoires", type=int, default=60)
    parser.add_argument("--sortie", type=Path, default=None)
    args = parser.parse_args()
    study = args.dossier
    if not (study / "study.db").exists():
        build_study(study, args.territoires)
    out_root = args.sortie or study / "outputs"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    elapsed = qualipipe("synthesize", "--all", "--sortie", str(out_root), study=study)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    peak_mib = after.ru_maxrss / 1024  # kilobytes on Linux: the largest process waited for
    out = out_root / study.resolve().name
    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files) / 2**20
    territories = sum(1 for p in out.iterdir() if p.is_dir() and p.name != "comparaison")
    import sqlite3

    with sqlite3.connect(study / "study.db") as conn:
        segments = conn.execute("SELECT count(*) FROM segments WHERE retired = 0").fetchone()[0]
    print(
        f"SYNTH territories={territories} segments={segments} files={len(files)} "
        f"size_mib={size:.1f} s_per_territory={elapsed / max(1, territories):.2f} "
        f"total_s={elapsed:.1f} cpu_s={cpu:.1f} "
        f"cpu_s_per_territory={cpu / max(1, territories):.2f} peak_rss_mib={peak_mib:.0f} "
        f"load={os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
