"""Vérifie `revue/decisions_analyste.csv` de l'étude de démonstration.

Outil de maintenance des exemples. Deux niveaux de contrôle :

1. sans étude : chaque `extrait` figure tel quel, une seule fois, dans la transcription nommée
   par `fichier`, à l'intérieur d'un tour de parole de la personne interrogée (pas de
   l'enquêteur·rice) ; chaque `code` existe dans codebooks/ptce.yaml et est codable ; chaque
   décision vaut accepter, rejeter ou ajouter ;
2. avec `--import` : copie l'étude dans un dossier temporaire, ingère manifeste et entretiens,
   charge le codebook et fait valider le fichier par l'import de qualipipe (un extrait doit
   désigner un seul segment, pas de doublon segment × code × codeur).

Usage (depuis la racine du dépôt) :
    python examples/etude-demo/outils/verifier_decisions.py [--import]
"""

from __future__ import annotations

import csv
import shutil
import sys
import tempfile
from collections import Counter
from pathlib import Path

from qualipipe.codebook.model import load_codebook
from qualipipe.ingest.readers import is_interviewer_label, read_transcript

STUDY = Path(__file__).resolve().parents[1]
REPO = STUDY.parents[1]
CODEBOOK = REPO / "codebooks" / "ptce.yaml"
DECISIONS = STUDY / "revue" / "decisions_analyste.csv"
INTERVIEWERS = {"Claire Morel", "Julien Barreau"}


def read_rows() -> list[dict[str, str]]:
    with DECISIONS.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def check_texts(rows: list[dict[str, str]]) -> list[str]:
    codable = {code.id for code in load_codebook(CODEBOOK).codable()}
    transcripts = {}
    errors = []
    for line, row in enumerate(rows, start=2):
        name, extract = row["fichier"], row["extrait"]
        if row["decision"] not in {"accepter", "rejeter", "ajouter"}:
            errors.append(f"ligne {line} : décision « {row['decision']} » inconnue")
        if row["code"] not in codable:
            errors.append(f"ligne {line} : code « {row['code']} » absent ou non codable")
        if not 10 <= len(extract) <= 80:
            errors.append(f"ligne {line} : extrait de {len(extract)} caractères")
        if name not in transcripts:
            transcripts[name] = read_transcript(STUDY / "entretiens" / name)
        transcript = transcripts[name]
        count = transcript.text.count(extract)
        if count != 1:
            errors.append(f"ligne {line} : « {extract} » trouvé {count} fois dans {name}")
            continue
        start = transcript.text.index(extract)
        turn = next((t for t in transcript.turns if t.start <= start < t.end), None)
        if turn is None or start + len(extract) > turn.end:
            errors.append(f"ligne {line} : « {extract} » hors d'un tour de parole")
        elif is_interviewer_label(turn.speaker) or turn.speaker in INTERVIEWERS:
            errors.append(f"ligne {line} : « {extract} » est dans un tour de l'enquêteur·rice")
    return errors


def check_with_importer() -> list[str]:
    from qualipipe.codebook.changes import load_into_study
    from qualipipe.ingest import ingest_paths
    from qualipipe.review.common import code_check
    from qualipipe.review.importer import validate_decision_csv
    from qualipipe.store import open_study

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "etude-demo"
        shutil.copytree(STUDY, root, ignore=shutil.ignore_patterns("study.db*", "outils"))
        study = open_study(root)
        try:
            report = ingest_paths(study, [root / "entretiens"], manifest=root / "participants.csv")
            failed = [f"{f.path} : {f.error}" for f in report.failed]
            load_into_study(study, CODEBOOK)
            planned, problems, rows = validate_decision_csv(
                study, root / "revue" / "decisions_analyste.csv", None, code_check(study)
            )
        finally:
            study.close()
    print(f"Import qualipipe : {len(planned)} décision(s) valides sur {rows} ligne(s).")
    return failed + [f"ligne {p.line} ({p.column}) : {p.message}" for p in problems]


def main(argv: list[str]) -> int:
    rows = read_rows()
    errors = check_texts(rows)
    if "--import" in argv:
        errors += check_with_importer()
    decisions = Counter(row["decision"] for row in rows)
    coders = Counter(row["codeur"] for row in rows)
    print(f"{len(rows)} décisions : {dict(decisions)} ; codeurs : {dict(coders)}")
    for error in errors:
        print("ERREUR", error)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
