"""Codebook changes on a real study: rename, move, merge, split and removal after decisions exist.

Every test checks the two things analysts rely on: the decision history is untouched (append-only,
same rows, same code ids as written), and the current coding attaches each decision to the code
it now belongs to.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest

from qualipipe.cli import main
from qualipipe.codebook.changes import load_into_study
from qualipipe.errors import InputError
from qualipipe.records import Action, Decision, Suggestion
from qualipipe.store import (
    Study,
    append_decision,
    current_codebook,
    current_coding,
    decision_history,
    get_meta,
    replace_suggestions,
)
from tests.conftest import insert_lines_source

# (id, label, parent) per code; families are BES and ENJ.
BASE = [
    ("BES_FINANCEMENT", "Financement", "BES"),
    ("BES_SUBVENTIONS", "Subventions", "BES"),
    ("BES_LOCAUX", "Locaux", "BES"),
    ("ENJ_MOBILITE", "Mobilité", "ENJ"),
    ("ENJ_EMPLOI", "Emploi", "ENJ"),
]


@dataclass
class CodedStudy:
    study: Study
    segment_ids: list[int]

    @property
    def conn(self) -> sqlite3.Connection:
        return self.study.conn


def codebook_yaml(codes: list[tuple[str, str, str]], version: str = "1") -> str:
    lines = [f'nom: Grille de test\nversion: "{version}"\nfamilles:']
    for family, label in (("BES", "Besoins du PTCE"), ("ENJ", "Enjeux territoriaux")):
        lines.append(f"  - id: {family}\n    libelle: {label}\n    definition: Famille {label}.")
        lines.append("    codes:")
        for code_id, code_label, parent in codes:
            if not code_id.startswith(family + "_"):
                continue
            lines.append(f"      - id: {code_id}\n        libelle: {code_label}")
            lines.append(f"        definition: Définition de {code_id}.")
            if parent != family:
                lines.append(f"        parent: {parent}")
    return "\n".join(lines) + "\n"


def write(tmp_path: Path, name: str, codes: list[tuple[str, str, str]]) -> Path:
    path = tmp_path / name
    path.write_text(codebook_yaml(codes), encoding="utf-8")
    return path


@pytest.fixture
def coded_study(make_study, tmp_path: Path) -> CodedStudy:
    """A study with BASE loaded, four segments and decisions on several codes."""
    study = make_study()
    load_into_study(study, write(tmp_path, "v1.yaml", BASE))
    with study.transaction() as conn:
        text = "Il faut des sous.\nOn cherche un local.\nPas de bus le soir.\nLes subventions baissent."
        ids = insert_lines_source(conn, "entretiens/a.txt", text.split("\n"))
        for segment_id, code_id, action in (
            (ids[0], "BES_FINANCEMENT", Action.ACCEPT),
            (ids[3], "BES_SUBVENTIONS", Action.ADD),
            (ids[3], "BES_FINANCEMENT", Action.REJECT),
            (ids[1], "BES_LOCAUX", Action.ACCEPT),
            (ids[2], "ENJ_MOBILITE", Action.ACCEPT),
            (ids[2], "ENJ_EMPLOI", Action.REJECT),
        ):
            append_decision(
                conn, Decision(segment_id=segment_id, action=action, coder="ana", code_id=code_id)
            )
    return CodedStudy(study, ids)


def history_rows(study: CodedStudy) -> list[tuple]:
    return [
        (d.id, d.segment_id, d.code_id, d.action, d.coder, d.codebook_version_id)
        for d in decision_history(study.conn)
    ]


def test_rename_keeps_decisions_on_the_same_id(coded_study, tmp_path: Path) -> None:
    before_history, before_coding = history_rows(coded_study), current_coding(coded_study.conn)
    renamed = [
        (i, "Financement du pôle" if i == "BES_FINANCEMENT" else lab, p) for i, lab, p in BASE
    ]
    result = load_into_study(coded_study.study, write(tmp_path, "v2.yaml", renamed))
    assert [(c.kind, c.code_id) for c in result.changes] == [("renommé", "BES_FINANCEMENT")]
    assert result.changes[0].decisions == 2
    assert "« Financement » → « Financement du pôle »" in result.changes[0].detail
    assert history_rows(coded_study) == before_history
    assert current_coding(coded_study.conn) == before_coding
    assert (
        current_codebook(coded_study.conn).by_id()["BES_FINANCEMENT"].label == "Financement du pôle"
    )


def test_move_keeps_decisions_and_changes_parent(coded_study, tmp_path: Path) -> None:
    before_history, before_coding = history_rows(coded_study), current_coding(coded_study.conn)
    moved = [(i, lab, "BES_FINANCEMENT" if i == "BES_SUBVENTIONS" else p) for i, lab, p in BASE]
    result = load_into_study(coded_study.study, write(tmp_path, "v2.yaml", moved))
    assert [(c.kind, c.code_id) for c in result.changes] == [("déplacé", "BES_SUBVENTIONS")]
    assert "parent BES → BES_FINANCEMENT" in result.changes[0].detail
    assert history_rows(coded_study) == before_history
    assert current_coding(coded_study.conn) == before_coding
    assert current_codebook(coded_study.conn).by_id()["BES_SUBVENTIONS"].parent == "BES_FINANCEMENT"


def test_merge_carries_decisions_of_both_codes_to_the_result(coded_study, tmp_path: Path) -> None:
    seg = coded_study.segment_ids
    before_history = history_rows(coded_study)
    merged = [c for c in BASE if c[0] != "BES_SUBVENTIONS"]
    result = load_into_study(
        coded_study.study,
        write(tmp_path, "v2.yaml", merged),
        merges={"BES_SUBVENTIONS": "BES_FINANCEMENT"},
    )
    assert [(c.kind, c.code_id, c.decisions) for c in result.changes] == [
        ("fusionné", "BES_SUBVENTIONS", 1)
    ]
    # history untouched: the decision still says BES_SUBVENTIONS, as the analyst wrote it
    assert history_rows(coded_study) == before_history
    coding = current_coding(coded_study.conn)
    assert coding[(seg[0], "BES_FINANCEMENT")] is True
    # segment 4: reject on FINANCEMENT came after add on SUBVENTIONS: latest decision wins
    assert coding[(seg[3], "BES_FINANCEMENT")] is False
    assert not any(code == "BES_SUBVENTIONS" for _, code in coding)
    redirects = coded_study.conn.execute(
        "SELECT old_code, new_code, change, codebook_version_id FROM code_redirects"
    ).fetchall()
    assert [tuple(r)[:3] for r in redirects] == [("BES_SUBVENTIONS", "BES_FINANCEMENT", "fusionné")]
    assert redirects[0]["codebook_version_id"] == result.version_id


def test_merge_of_two_codes_into_a_new_one(coded_study, tmp_path: Path) -> None:
    seg = coded_study.segment_ids
    new = [c for c in BASE if c[0] not in ("BES_FINANCEMENT", "BES_SUBVENTIONS")]
    new.append(("BES_MOYENS_FINANCIERS", "Moyens financiers", "BES"))
    result = load_into_study(
        coded_study.study,
        write(tmp_path, "v2.yaml", new),
        merges={
            "BES_FINANCEMENT": "BES_MOYENS_FINANCIERS",
            "BES_SUBVENTIONS": "BES_MOYENS_FINANCIERS",
        },
    )
    kinds = sorted((c.kind, c.code_id) for c in result.changes)
    assert kinds == [
        ("ajouté", "BES_MOYENS_FINANCIERS"),
        ("fusionné", "BES_FINANCEMENT"),
        ("fusionné", "BES_SUBVENTIONS"),
    ]
    coding = current_coding(coded_study.conn)
    assert coding[(seg[0], "BES_MOYENS_FINANCIERS")] is True
    # segment 4: the add on SUBVENTIONS, then the later reject on FINANCEMENT: latest wins
    assert coding[(seg[3], "BES_MOYENS_FINANCIERS")] is False
    assert len(decision_history(coded_study.conn)) == 6


def test_split_sends_decisions_to_the_first_code_and_records_the_split(
    coded_study, tmp_path: Path
) -> None:
    seg = coded_study.segment_ids
    before_history = history_rows(coded_study)
    new = [c for c in BASE if c[0] != "BES_LOCAUX"]
    new += [("BES_LOCAUX_ACTIVITE", "Locaux d'activité", "BES"), ("BES_FONCIER", "Foncier", "BES")]
    result = load_into_study(
        coded_study.study,
        write(tmp_path, "v2.yaml", new),
        splits={"BES_LOCAUX": ["BES_LOCAUX_ACTIVITE", "BES_FONCIER"]},
    )
    split = [c for c in result.changes if c.kind == "scindé"]
    assert len(split) == 1 and split[0].decisions == 1
    assert "revoyez-les pour BES_FONCIER" in split[0].detail
    assert history_rows(coded_study) == before_history
    coding = current_coding(coded_study.conn)
    assert coding[(seg[1], "BES_LOCAUX_ACTIVITE")] is True
    assert (seg[1], "BES_FONCIER") not in coding
    assert get_meta(coded_study.conn, "codebook_scissions") == [
        {
            "ancien": "BES_LOCAUX",
            "codes": ["BES_LOCAUX_ACTIVITE", "BES_FONCIER"],
            "version": result.version_id,
        }
    ]


def test_split_keeping_the_old_code_leaves_its_decisions(coded_study, tmp_path: Path) -> None:
    before_coding = current_coding(coded_study.conn)
    new = [*BASE, ("BES_FONCIER", "Foncier", "BES")]
    load_into_study(
        coded_study.study,
        write(tmp_path, "v2.yaml", new),
        splits={"BES_LOCAUX": ["BES_LOCAUX", "BES_FONCIER"]},
    )
    assert current_coding(coded_study.conn) == before_coding
    assert coded_study.conn.execute("SELECT COUNT(*) FROM code_redirects").fetchone()[0] == 0


def test_removing_a_code_with_decisions_is_refused_and_study_unchanged(
    coded_study, tmp_path: Path
) -> None:
    versions = coded_study.conn.execute("SELECT COUNT(*) FROM codebook_versions").fetchone()[0]
    without = [c for c in BASE if c[0] != "ENJ_MOBILITE"]
    with pytest.raises(InputError) as error:
        load_into_study(coded_study.study, write(tmp_path, "v2.yaml", without))
    message = str(error.value)
    assert "le code ENJ_MOBILITE (« Mobilité ») porte 1 décision(s)" in message
    assert "--fusion ENJ_MOBILITE=CODE" in message and "--destination ENJ_MOBILITE=CODE" in message
    assert "l'étude est inchangée" in message
    count = coded_study.conn.execute("SELECT COUNT(*) FROM codebook_versions").fetchone()[0]
    assert count == versions
    assert current_codebook(coded_study.conn).by_id().get("ENJ_MOBILITE") is not None


def test_removing_a_code_without_decisions_is_allowed(coded_study, tmp_path: Path) -> None:
    new = [*BASE, ("ENJ_LOGEMENT", "Logement", "ENJ")]
    load_into_study(coded_study.study, write(tmp_path, "v2.yaml", new))
    result = load_into_study(coded_study.study, write(tmp_path, "v3.yaml", BASE))
    assert [(c.kind, c.code_id) for c in result.changes] == [("supprimé", "ENJ_LOGEMENT")]


def test_removal_with_destination_and_rename_chain(coded_study, tmp_path: Path) -> None:
    seg = coded_study.segment_ids
    # ENJ_EMPLOI gets a new id, then the new id is removed with a destination: A → B → C
    step1 = [("ENJ_EMPLOI_INSERTION", "Emploi", "ENJ") if c[0] == "ENJ_EMPLOI" else c for c in BASE]
    load_into_study(
        coded_study.study,
        write(tmp_path, "v2.yaml", step1),
        renames={"ENJ_EMPLOI": "ENJ_EMPLOI_INSERTION"},
    )
    assert current_coding(coded_study.conn)[(seg[2], "ENJ_EMPLOI_INSERTION")] is False
    step2 = [c for c in step1 if c[0] != "ENJ_EMPLOI_INSERTION"]
    result = load_into_study(
        coded_study.study,
        write(tmp_path, "v3.yaml", step2),
        destinations={"ENJ_EMPLOI_INSERTION": "ENJ_MOBILITE"},
    )
    assert [(c.kind, c.code_id) for c in result.changes] == [("supprimé", "ENJ_EMPLOI_INSERTION")]
    coding = current_coding(coded_study.conn)
    # the reject on ENJ_EMPLOI came after the accept on ENJ_MOBILITE for the same segment
    assert coding[(seg[2], "ENJ_MOBILITE")] is False
    assert [d.code_id for d in decision_history(coded_study.conn)][-1] == "ENJ_EMPLOI"


def test_reusing_a_replaced_identifier_is_refused(coded_study, tmp_path: Path) -> None:
    merged = [c for c in BASE if c[0] != "BES_SUBVENTIONS"]
    load_into_study(
        coded_study.study,
        write(tmp_path, "v2.yaml", merged),
        merges={"BES_SUBVENTIONS": "BES_FINANCEMENT"},
    )
    with pytest.raises(InputError) as error:
        load_into_study(coded_study.study, write(tmp_path, "v3.yaml", BASE))
    assert "BES_SUBVENTIONS a déjà été remplacé par BES_FINANCEMENT" in str(error.value)


def test_bad_instructions_are_all_reported(coded_study, tmp_path: Path) -> None:
    without = [c for c in BASE if c[0] not in ("BES_LOCAUX",)]
    with pytest.raises(InputError) as error:
        load_into_study(
            coded_study.study,
            write(tmp_path, "v2.yaml", without),
            merges={"BES_LOCAUX": "BES_INEXISTANT", "ENJ_MOBILITE": "ENJ_EMPLOI"},
            destinations={"BES_RIEN": "BES"},
        )
    message = str(error.value)
    assert "le code de destination BES_INEXISTANT n'est pas dans" in message
    assert "ENJ_MOBILITE est toujours dans" in message
    assert "BES_RIEN n'est pas un code du codebook actuel" in message
    assert "BES est une famille ou un code non codable" in message


def test_trial_run_shows_changes_and_writes_nothing(coded_study, tmp_path: Path) -> None:
    merged = [c for c in BASE if c[0] != "BES_SUBVENTIONS"]
    result = load_into_study(
        coded_study.study,
        write(tmp_path, "v2.yaml", merged),
        merges={"BES_SUBVENTIONS": "BES_FINANCEMENT"},
        dry_run=True,
    )
    assert not result.applied and result.count("fusionné") == 1
    assert coded_study.conn.execute("SELECT COUNT(*) FROM code_redirects").fetchone()[0] == 0
    assert "BES_SUBVENTIONS" in current_codebook(coded_study.conn).by_id()


def test_decisions_and_suggestions_record_the_codebook_version(coded_study, tmp_path: Path) -> None:
    seg = coded_study.segment_ids
    v1 = {d.codebook_version_id for d in decision_history(coded_study.conn)}
    with coded_study.study.transaction() as conn:
        replace_suggestions(
            conn,
            [seg[1]],
            [
                Suggestion(
                    seg[1], "BES_LOCAUX", 0.9, "lexique", "« local »", codebook_version_id=1
                ),
                Suggestion(seg[1], "BES_FINANCEMENT", 0.5, "lexique", "…", codebook_version_id=1),
            ],
            None,
        )
    new = [c for c in BASE if c[0] != "BES_LOCAUX"] + [("BES_FONCIER", "Foncier", "BES")]
    result = load_into_study(
        coded_study.study,
        write(tmp_path, "v2.yaml", new),
        destinations={"BES_LOCAUX": "BES_FONCIER"},
    )
    assert result.suggestions_dropped == 1  # the suggestion of the code that no longer exists
    with coded_study.study.transaction() as conn:
        append_decision(conn, Decision(seg[1], Action.ACCEPT, "ana", code_id="BES_FONCIER"))
    history = decision_history(coded_study.conn)
    assert len(v1) == 1 and history[0].codebook_version_id in v1
    assert history[-1].codebook_version_id == result.version_id != history[0].codebook_version_id


def test_load_command_shows_changes_and_applies_merge(
    coded_study, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    merged = [c for c in BASE if c[0] != "BES_SUBVENTIONS"]
    path = write(tmp_path, "v2.yaml", merged)
    with pytest.raises(SystemExit) as exit_info:
        main(["codebook", "load", str(path), "--study", str(coded_study.study.root)])
    assert exit_info.value.code == 1
    assert "porte 1 décision(s)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "codebook",
                "load",
                str(path),
                "--study",
                str(coded_study.study.root),
                "--fusion",
                "BES_SUBVENTIONS=BES_FINANCEMENT",
            ]
        )
    assert exit_info.value.code in (0, None)
    out = capsys.readouterr().out
    assert "fusionné" in out and "BES_SUBVENTIONS" in out
    assert "6 décision(s) d'analystes conservées" in out
    assert (
        current_coding(coded_study.conn)[(coded_study.segment_ids[3], "BES_FINANCEMENT")] is False
    )


def test_split_keeping_the_old_code_must_name_it_first(coded_study, tmp_path: Path) -> None:
    new = [*BASE, ("BES_FONCIER", "Foncier", "BES")]
    with pytest.raises(InputError) as error:
        load_into_study(
            coded_study.study,
            write(tmp_path, "v2.yaml", new),
            splits={"BES_LOCAUX": ["BES_FONCIER", "BES_LOCAUX"]},
        )
    assert "citez-le en premier : --scission BES_LOCAUX=BES_LOCAUX,BES_FONCIER" in str(error.value)
