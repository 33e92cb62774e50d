"""Random life of a study (issue 13): does every decision survive, attributed to its coder?

On a copy of the example study, each cycle draws some of: re-ingest a corrected transcript, a
codebook change (rename, merge or split of a code), `code`, and always a review round where two
or three coders (names typed with random case and spaces) export a workbook — pre-filled with
their own, someone else's or everybody's decisions — edit random cells and import it; then the
agreement is computed, and now and then a child `qualipipe ingest` is killed with SIGKILL.

After each cycle:
- lost: decisions of the history before the cycle that are no longer there, unchanged;
- misattributed: decisions appended by an import that the importing coder did not make, and
  edits a coder made that their current coding does not show;
- integrity: `PRAGMA integrity_check`, `foreign_key_check`, killed steps shown as interrupted,
  and the current coding equal to an independent replay of the history (decisions and codebook
  redirects read with plain SQL).

    python benchmarks/history_cycles.py --cycles 100 --seed 0

Last line: `CYCLES n=N decisions=D lost=0 misattributed=0 integrity=ok`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from openpyxl import load_workbook

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from qualipipe.codebook.changes import load_into_study  # noqa: E402
from qualipipe.coding.suggest import suggest_codes  # noqa: E402
from qualipipe.errors import InputError  # noqa: E402
from qualipipe.ingest import ingest_paths  # noqa: E402
from qualipipe.review import workbook as wb  # noqa: E402
from qualipipe.review.agreement import agreement  # noqa: E402
from qualipipe.review.common import ReviewFilter  # noqa: E402
from qualipipe.review.export import export_review  # noqa: E402
from qualipipe.review.importer import import_decisions  # noqa: E402
from qualipipe.store import (  # noqa: E402
    Study,
    coder_key,
    current_codebook,
    current_coding,
    list_participants,
    open_study,
    run_history,
)

CODERS = ("Alice", "Bruno", "Claire M.")
ACTIONS = {"accept": True, "add": True, "reject": False}


def spelled(name: str, rng: random.Random) -> str:
    """The name as someone might type it: case and spaces vary, the person does not."""
    variants = [name, name.lower(), name.upper(), f" {name} ", name.replace(" ", "  ")]
    return rng.choice(variants)


@dataclass
class Tally:
    decisions: int = 0
    lost: int = 0
    misattributed: int = 0
    problems: list[str] = field(default_factory=list)
    interrupted: int = 0
    kills: int = 0
    refused: int = 0  # workbooks pre-filled for another coder, refused as they must be


# --- independent replay ------------------------------------------------------------------------


def replayed_coding(db: Path, coder: str | None) -> dict[tuple[int, str], bool]:
    """The current coding recomputed from raw rows, without qualipipe's functions."""
    conn = sqlite3.connect(db)
    try:
        redirects: dict[str, str] = {}
        for old, new in conn.execute("SELECT old_code, new_code FROM code_redirects ORDER BY id"):
            redirects[old] = new

        def follow(code: str) -> str:
            seen: set[str] = set()
            while code in redirects and code not in seen:
                seen.add(code)
                code = redirects[code]
            return code

        coding: dict[tuple[int, str], bool] = {}
        rows = conn.execute(
            "SELECT segment_id, code_id, action, coder FROM decisions "
            "WHERE code_id IS NOT NULL ORDER BY id"
        )
        for segment, code, action, who in rows:
            if coder is not None and " ".join(who.split()).casefold() != coder:
                continue
            coding[(segment, follow(code))] = ACTIONS[action]
        return coding
    finally:
        conn.close()


def history_rows(db: Path) -> set[tuple[object, ...]]:
    conn = sqlite3.connect(db)
    try:
        return set(conn.execute("SELECT * FROM decisions"))
    finally:
        conn.close()


# --- the steps ---------------------------------------------------------------------------------


def correct_transcript(study: Study, rng: random.Random, cycle: int) -> None:
    files = sorted((study.root / "entretiens").glob("*.txt"))
    path = rng.choice(files)
    lines = path.read_text(encoding="utf-8").splitlines()
    candidates = [i for i, line in enumerate(lines) if len(line) > 60]
    index = rng.choice(candidates)
    lines[index] = lines[index].rstrip(".") + f", enfin je crois (relu {cycle})."
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    ingest_paths(study, [path])


def change_codebook(study: Study, yaml_path: Path, rng: random.Random, cycle: int) -> str:
    data = yaml.safe_load(yaml_path.read_text(encoding="utf-8"))
    family = rng.choice([f for f in data["familles"] if len(f.get("codes", [])) >= 3])
    codes = family["codes"]
    victim = rng.choice(codes)
    old = victim["id"]
    kind = rng.choice(["renommage", "fusion", "scission"])
    options: dict[str, object] = {}
    if kind == "renommage":
        victim["id"] = f"{old[:40]}_R{cycle}"
        options["renames"] = {old: victim["id"]}
    elif kind == "fusion":
        codes.remove(victim)
        options["merges"] = {old: rng.choice(codes)["id"]}
    else:
        codes.remove(victim)
        parts = []
        for suffix in ("A", "B"):
            part = dict(victim, id=f"{old[:40]}_S{cycle}{suffix}")
            part["libelle"] = f"{victim['libelle']} ({suffix}{cycle})"
            part.pop("expressions", None)
            part.pop("exemples", None)
            codes.append(part)
            parts.append(part["id"])
        options["splits"] = {old: parts}
    yaml_path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    load_into_study(study, yaml_path, **options)  # type: ignore[arg-type]
    return f"{kind} {old}"


@dataclass(frozen=True)
class Edit:
    segment: int
    code: str | None  # None: a comment
    action: str  # accept | reject | add | comment
    text: str = ""


def review_round(study: Study, rng: random.Random, cycle: int, folder: Path, tally: Tally) -> None:
    coders = rng.sample(CODERS, rng.choice([2, 3]))
    participants = list_participants(study.conn)
    codable = [c.id for c in (current_codebook(study.conn) or []).codes if c.codable]  # type: ignore[union-attr]
    for coder in coders:
        prefill = rng.choice([None, coder, rng.choice(CODERS)])
        chosen = rng.choice(participants)
        path = folder / f"revue_{cycle}_{coder_key(coder).replace(' ', '_')}.xlsx"
        export_review(
            study,
            ReviewFilter(participant=chosen.id, coder=spelled(prefill, rng) if prefill else None),
            output=path,
        )
        edits = edit_workbook(path, rng, codable, cycle)
        who = spelled(coder, rng)
        before = history_rows(study.config.db_path)
        if prefill and coder_key(prefill) != coder_key(coder):
            # Pre-filled for someone else: refused as a whole, nothing recorded.
            try:
                import_decisions(study, path, who)
            except InputError as error:
                if "pré-rempli pour" not in str(error):
                    raise
                tally.refused += 1
            else:
                tally.misattributed += 1
                tally.problems.append(f"classeur de {prefill} importé par {coder}")
            if history_rows(study.config.db_path) != before:
                tally.misattributed += 1
            continue
        import_decisions(study, path, who)
        check_attribution(study, coder, edits, before, tally)


def edit_workbook(path: Path, rng: random.Random, codable: list[str], cycle: int) -> list[Edit]:
    book = load_workbook(path)
    sheet = book[wb.REVIEW_SHEET]
    headers = [c.value for c in sheet[1]]
    column = {h: i for i, h in enumerate(headers)}
    edits: list[Edit] = []
    rows = list(sheet.iter_rows(min_row=2))
    for row in rng.sample(rows, min(len(rows), rng.randint(1, 6))):
        segment = int(row[column[wb.COL_SEGMENT_ID]].value)
        shown = []
        k = 1
        while f"Code {k}" in column:
            code = row[column[f"Code {k}"]].value
            if code:
                shown.append((k, wb.code_id_of(str(code))))
            k += 1
        for k, code in shown:
            if rng.random() < 0.5:
                word = rng.choice([wb.ACCEPT, wb.REJECT])
                row[column[f"Décision {k}"]].value = word
                edits.append(Edit(segment, code, "accept" if word == wb.ACCEPT else "reject"))
        if rng.random() < 0.3:
            code = rng.choice([c for c in codable if c not in {s for _, s in shown}])
            row[column[wb.add_header(1)]].value = code
            edits.append(Edit(segment, code, "add"))
        if rng.random() < 0.15:
            text = f"Remarque du cycle {cycle} ({rng.randint(0, 999)})"
            row[column[wb.COL_COMMENT]].value = text
            edits.append(Edit(segment, None, "comment", text))
    book.save(path)
    return edits


def check_attribution(
    study: Study, coder: str, edits: list[Edit], before: set[tuple[object, ...]], tally: Tally
) -> None:
    conn = study.conn
    new_rows = conn.execute(
        "SELECT segment_id, code_id, action, coder, comment FROM decisions WHERE id > ? ORDER BY id",
        (max((int(r[0]) for r in before), default=0),),  # type: ignore[call-overload]
    ).fetchall()
    intended = {(e.segment, e.code, e.action, e.text) for e in edits}
    for segment, code, action, who, comment in new_rows:
        made = (segment, code, action, comment if action == "comment" else "")
        if coder_key(who) != coder_key(coder) or made not in intended:
            tally.misattributed += 1
            tally.problems.append(f"décision non faite par {coder} : {made} ({who})")
    mine = current_coding(conn, coder=coder)
    for edit in edits:
        if edit.code is not None and mine.get((edit.segment, edit.code)) != ACTIONS[edit.action]:
            tally.misattributed += 1
            tally.problems.append(f"décision de {coder} absente : {edit}")


def kill_a_child_step(study: Study, rng: random.Random, cycle: int, tally: Tally) -> None:
    path = rng.choice(sorted((study.root / "entretiens").glob("*.md")))
    path.write_text(
        path.read_text(encoding="utf-8") + f"\n\nNote ajoutée au cycle {cycle}.\n", "utf-8"
    )
    last_run = study.conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
    child = subprocess.Popen(
        [sys.executable, "-m", "qualipipe", "ingest", "-s", str(study.root), str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    # Kill it once its step has started writing (or after 20 s), at a random moment.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and child.poll() is None:
        seen = study.conn.execute("SELECT coalesce(max(id), 0) FROM runs").fetchone()[0]
        if seen > last_run:
            time.sleep(rng.uniform(0.0, 0.3))
            break
        time.sleep(0.02)
    if child.poll() is None:
        os.kill(child.pid, signal.SIGKILL)
    child.wait()
    tally.kills += 1
    time.sleep(0.05)


def integrity(study: Study, tally: Tally) -> bool:
    conn = study.conn
    ok = conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ok = ok and not conn.execute("PRAGMA foreign_key_check").fetchall()
    if conn.execute("SELECT count(*) FROM runs WHERE finished_at IS NULL").fetchone()[0]:
        ok = ok and all(r.state != "en cours" for r in run_history(conn, limit=1000))
    db = study.config.db_path
    for coder in (None, *(coder_key(c) for c in CODERS)):
        expected = replayed_coding(db, coder)
        if current_coding(conn, coder=coder) != expected:
            tally.problems.append(f"codage courant ≠ relecture de l'historique ({coder})")
            ok = False
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    tally = Tally()
    healthy = True
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "etude"
        shutil.copytree(
            REPO / "examples" / "etude-demo", root, ignore=shutil.ignore_patterns("revue")
        )
        yaml_path = root / "ptce.yaml"
        shutil.copy(REPO / "codebooks" / "ptce.yaml", yaml_path)
        workbooks = Path(tmp) / "classeurs"
        workbooks.mkdir()
        study = open_study(root)
        ingest_paths(study, [root / "entretiens"], manifest=root / "participants.csv")
        load_into_study(study, yaml_path)
        suggest_codes(study, progress=False)
        for cycle in range(1, args.cycles + 1):
            before = history_rows(study.config.db_path)
            steps = []
            if rng.random() < 0.3:
                correct_transcript(study, rng, cycle)
                steps.append("réingestion")
            if rng.random() < 0.15:
                steps.append(change_codebook(study, yaml_path, rng, cycle))
            if rng.random() < 0.08:
                suggest_codes(study, progress=False)
                steps.append("code")
            try:
                review_round(study, rng, cycle, workbooks, tally)
            except InputError as error:
                tally.problems.append(f"cycle {cycle} : import refusé : {error}")
                healthy = False
            steps.append("revue")
            if rng.random() < 0.4:
                try:
                    agreement(study)
                    steps.append("accord")
                except Exception as error:
                    tally.problems.append(f"cycle {cycle} : accord : {error}")
                    healthy = False
            if rng.random() < 0.1:
                kill_a_child_step(study, rng, cycle, tally)
                steps.append("kill -9")
            after = history_rows(study.config.db_path)
            tally.lost += len(before - after)
            healthy = integrity(study, tally) and healthy
            tally.decisions = len(after)
            for workbook in workbooks.iterdir():
                workbook.unlink()
            if args.verbose:
                elapsed = time.perf_counter() - started
                print(f"cycle {cycle} ({elapsed:.0f} s): {', '.join(steps)}", flush=True)
        tally.interrupted = sum(r.state == "interrompue" for r in run_history(study.conn, 10_000))
        study.close()
    for problem in tally.problems[:20]:
        print("  !", problem)
    print(
        f"{args.cycles} cycles en {time.perf_counter() - started:.0f} s ; "
        f"{tally.kills} étape(s) tuée(s), {tally.interrupted} affichée(s) interrompue(s) ; "
        f"{tally.refused} classeur(s) pré-rempli(s) pour un·e autre refusé(s)."
    )
    state = "ok" if healthy else "KO"
    print(
        f"CYCLES n={args.cycles} decisions={tally.decisions} lost={tally.lost} "
        f"misattributed={tally.misattributed} integrity={state}"
    )


if __name__ == "__main__":
    main()
