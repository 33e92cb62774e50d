"""A real step that fails half-way leaves the study as it was (one transaction per step)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from qualipipe import store
from qualipipe.ingest import ingest_paths, reconcile
from qualipipe.records import Action, Decision

MANIFEST = (
    "identifiant;nom;role;organisation;type_acteur;territoire;consentement;fichier\n"
    "F01;Hélène Moreau;fondateur;Les Jardins;structure de l'ESS;auxois;oui;f01.txt\n"
)
VERSION_1 = (
    "Enquêtrice : Pourquoi coopérer ?\n\n"
    "Hélène Moreau : Seuls, on n'y arrive pas. Il faut mutualiser les camions.\n\n"
    "Enquêtrice : Et le financement ?\n\n"
    "Hélène Moreau : On manque de fonds pour l'animation du pôle.\n"
)


def study_rows(db: Path) -> list[str]:
    """Every row of the store except the run log, which records the attempt itself."""
    conn = sqlite3.connect(db)
    try:
        return [line for line in conn.iterdump() if not line.startswith('INSERT INTO "runs"')]
    finally:
        conn.close()


def test_reingest_failing_half_way_leaves_sources_segments_and_decisions_untouched(
    make_study, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = make_study()
    manifest = tmp_path / "participants.csv"
    manifest.write_text(MANIFEST, encoding="utf-8")
    transcript = tmp_path / "f01.txt"
    transcript.write_text(VERSION_1, encoding="utf-8")
    assert ingest_paths(study, [transcript], manifest=manifest).ok
    segment_id = study.conn.execute(
        "SELECT id FROM segments WHERE text LIKE 'On manque%'"
    ).fetchone()[0]
    with study.transaction():
        store.append_decision(
            study.conn,
            Decision(
                segment_id=segment_id,
                action=Action.ACCEPT,
                coder="Claire",
                code_id="BES_FINANCEMENT",
            ),
        )
    before = study_rows(study.root / "study.db")

    # A corrected transcript whose storage breaks after the first new segment is written.
    transcript.write_text(
        VERSION_1.replace("les camions", "les camions et la chambre froide")
        + "\nEnquêtrice : Autre chose ?\n\nHélène Moreau : Le foncier agricole manque.\n",
        encoding="utf-8",
    )
    real_insert = reconcile.insert_segment
    calls = {"n": 0}

    def failing_insert(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise ValueError("panne simulée pendant l'écriture des segments")
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(reconcile, "insert_segment", failing_insert)
    report = ingest_paths(study, [transcript])

    assert calls["n"] == 2  # the failure really happened half-way through the file
    assert not report.ok
    assert study_rows(study.root / "study.db") == before
    assert [d.code_id for d in store.decision_history(study.conn)] == ["BES_FINANCEMENT"]
