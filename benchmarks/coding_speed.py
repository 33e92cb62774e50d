"""Speed of `qualipipe code` on the CFPP2000 interviews (≈870,000 words).

Usage:
    python benchmarks/coding_speed.py [--data ../shared/data/cfpp2000_interviews] [--decisions 200]

1. Builds a real study: one transcript source per interview file, one segment per speaker turn
   (consecutive lines of the same speaker; long turns cut near 150 words), interviewer turns
   flagged (not coded); the codebook is codebooks/ptce.yaml.
2. Measures spaCy's own `nlp.pipe` throughput with the same components (`coding_pipeline()`) on
   the same segments, in a fresh process (cold caches, model load not counted).
3. Times the first `suggest_codes` run in this process (cold: model load, spaCy, cache writes,
   suggesters, storage — everything).
4. Records N new decisions (no text change) and times the second run.
Last line:
    SPEED words=N first_wps=X spacy_wps=Y ratio=R rerun_speedup=S peak_rss_mib=M
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "cfpp2000_interviews"
LINE = re.compile(
    r"^\[(?P<start>[\d.]+)-(?P<end>[\d.]+)\] (?P<speaker>.+?) \((?P<role>interviewer|interviewee)\): (?P<text>.*)$"
)
MAX_WORDS = 150
STUDY_TOML = """\
[etude]
nom = "Banc d'essai vitesse du codage"
region = "Île-de-France"

[[territoires]]
id = "paris"
nom = "Paris et proche banlieue"
ptce = "Banc d'essai"
type = "généraliste"
stade = "existant"
milieu = "urbain"
"""

SPACY_CHILD = """
import json, sys, time
from qualipipe.nlp import coding_pipeline
texts = json.load(open(sys.argv[1], encoding="utf-8"))
nlp = coding_pipeline()
start = time.perf_counter()
for _ in nlp.pipe(texts, batch_size=128):
    pass
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def read_turns(path: Path) -> list[tuple[str, bool, str]]:
    """(speaker, is_interviewer, text) per turn; long turns cut into ≈150-word pieces."""
    turns: list[tuple[str, bool, list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = LINE.match(line.strip())
        if not m or not m["text"].strip():
            continue
        speaker, interviewer = m["speaker"], m["role"] == "interviewer"
        words = m["text"].split()
        if turns and turns[-1][0] == speaker and len(turns[-1][2]) + len(words) <= MAX_WORDS:
            turns[-1][2].extend(words)
        else:
            turns.append((speaker, interviewer, words))
    return [(s, i, " ".join(w)) for s, i, w in turns]


def build_study(root: Path, data: Path):
    from qualipipe.codebook.changes import load_into_study
    from qualipipe.records import Segment, Source, SourceKind
    from qualipipe.store import insert_segments, insert_source, open_study

    root.mkdir(parents=True)
    (root / "qualipipe.toml").write_text(STUDY_TOML, encoding="utf-8")
    study = open_study(root)
    load_into_study(study, REPO / "codebooks" / "ptce.yaml")
    with study.transaction() as conn:
        for path in sorted((data / "transcripts").glob("*.txt")):
            turns = read_turns(path)
            text = "\n".join(t for _, _, t in turns)
            source_id = insert_source(
                conn,
                Source(
                    key=path.name,
                    kind=SourceKind.TRANSCRIPT,
                    text=text,
                    territory_id="paris",
                    path=str(path),
                ),
            )
            segments, offset = [], 0
            for speaker, interviewer, turn in turns:
                segments.append(
                    Segment(
                        start=offset,
                        end=offset + len(turn),
                        text=turn,
                        speaker=speaker,
                        is_interviewer=interviewer,
                    )
                )
                offset += len(turn) + 1
            insert_segments(conn, source_id, segments)
    return study


def coded_texts(study) -> list[str]:
    return [
        r[0]
        for r in study.conn.execute(
            "SELECT text FROM segments WHERE retired = 0 AND is_interviewer = 0 ORDER BY source_id, ordinal"
        )
    ]


def raw_spacy_seconds(texts: list[str], tmp: Path) -> float:
    dump = tmp / "texts.json"
    dump.write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-c", SPACY_CHILD, str(dump)], check=True, capture_output=True, text=True
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["seconds"])


def add_decisions(study, n: int, seed: int = 0) -> None:
    """N analyst decisions as in a review session: accept (60 %) or reject shown suggestions."""
    from qualipipe.records import Action, Decision
    from qualipipe.store import append_decision

    rng = np.random.default_rng(seed)
    suggestions = study.conn.execute(
        "SELECT segment_id, code_id FROM suggestions ORDER BY segment_id, code_id"
    ).fetchall()
    picked = rng.choice(len(suggestions), size=min(n, len(suggestions)), replace=False)
    with study.transaction() as conn:
        for i in picked:
            action = Action.ACCEPT if rng.random() < 0.6 else Action.REJECT
            segment_id, code_id = suggestions[int(i)]
            append_decision(conn, Decision(int(segment_id), action, "banc", code_id=code_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--decisions", type=int, default=200)
    args = parser.parse_args()
    if not (args.data / "transcripts").is_dir():
        raise SystemExit(f"Corpus introuvable : {args.data / 'transcripts'}")
    from qualipipe.coding.suggest import suggest_codes

    with tempfile.TemporaryDirectory(prefix="qualipipe-vitesse-") as tmp_name:
        tmp = Path(tmp_name)
        study = build_study(tmp / "etude", args.data)
        texts = coded_texts(study)
        words = sum(len(t.split()) for t in texts)
        print(f"segments codables={len(texts)} mots={words}", flush=True)

        spacy_seconds = raw_spacy_seconds(texts, tmp)
        print(
            f"spaCy nlp.pipe seul (processus neuf, sans chargement) : {spacy_seconds:.1f} s",
            flush=True,
        )

        start = time.perf_counter()
        first = suggest_codes(study, progress=False)
        first_seconds = time.perf_counter() - start
        print(
            f"1er passage : {first_seconds:.1f} s, {first.suggestions} suggestions, "
            f"{first.texts_analysed} textes analysés",
            flush=True,
        )

        add_decisions(study, args.decisions)
        start = time.perf_counter()
        second = suggest_codes(study, progress=False)
        rerun_seconds = time.perf_counter() - start
        print(
            f"2e passage après {args.decisions} décisions : {rerun_seconds:.2f} s, "
            f"{second.texts_analysed} textes analysés, score {second.combination}",
            flush=True,
        )
        study.close()

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    first_wps = words / first_seconds
    spacy_wps = words / spacy_seconds
    print(
        f"SPEED words={words} first_wps={first_wps:.0f} spacy_wps={spacy_wps:.0f} "
        f"ratio={first_wps / spacy_wps:.2f} rerun_speedup={first_seconds / rerun_seconds:.1f} "
        f"peak_rss_mib={peak_mib:.0f}"
    )


if __name__ == "__main__":
    main()
