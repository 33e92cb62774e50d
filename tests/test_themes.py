"""Emergent themes: what the codebook misses, found on real spaCy lemmas in a real study."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from scipy import sparse

from qualipipe.codebook.model import load_codebook
from qualipipe.coding.themes import append_draft_code, find_themes, propose_label
from qualipipe.coding.topics import ThemeFinder, npmi_coherence
from qualipipe.records import (
    Action,
    Decision,
    Participant,
    Role,
    Suggestion,
)
from qualipipe.store import (
    append_decision,
    replace_suggestions,
    save_codebook_version,
    upsert_participant,
)
from tests.conftest import insert_lines_source

REPO_ROOT = Path(__file__).resolve().parents[1]
PTCE_CODEBOOK = REPO_ROOT / "codebooks" / "ptce.yaml"

# The codebook has no code for wolves and flocks: a theme the analysts have not foreseen.
WOLF = [
    "Le loup est revenu sur le plateau, on a perdu douze brebis cet été, les éleveurs sont à bout.",
    "Martine Gauthier a arrêté l'élevage : trois attaques de loup sur son troupeau en un mois.",
    "Les attaques de loup découragent les jeunes éleveurs de brebis, le troupeau reste en bergerie.",
    "Il faudrait des chiens de protection pour chaque troupeau, le loup attaque même de jour.",
    "Avec le loup, les éleveurs passent la nuit à surveiller les brebis, le troupeau est épuisé.",
    "Les indemnisations après une attaque de loup arrivent tard, l'éleveur perd ses brebis et du temps.",
    "Depuis les attaques du loup, les brebis ne montent plus en estive et les éleveurs réduisent le troupeau.",
    "Le loup a tué des brebis à deux kilomètres du village, les éleveurs demandent des clôtures.",
]
# A second unforeseen topic, to leave the theme count something to choose.
BOAR = [
    "Les sangliers retournent les prairies chaque nuit, les dégâts dans les cultures sont énormes.",
    "Les chasseurs n'arrivent plus à réguler les sangliers, les agriculteurs comptent les dégâts.",
    "Un champ de maïs ravagé par les sangliers, et la fédération de chasse traîne pour indemniser.",
    "Les dégâts de sangliers coûtent cher aux agriculteurs, les chasseurs sont de moins en moins nombreux.",
    "On voit des sangliers jusque dans les jardins, la chasse ne suffit plus à limiter les dégâts.",
    "Les agriculteurs réclament plus de battues aux chasseurs, les sangliers détruisent les semis.",
]
# Already coded by the analysts (BES_FINANCEMENT accepted): not a gap in the codebook.
FUNDING = [
    "Le loup n'est pas notre sujet : on cherche surtout des subventions pour financer le poste d'animation.",
    "Sans financement de la région, le pôle ne pourra pas payer son coordinateur l'an prochain.",
    "On a monté un dossier de subvention auprès du département pour financer l'animation.",
]
INTERVIEWER = (
    "Et le loup, les brebis, le troupeau, les éleveurs : vous en parlez souvent entre vous ?"
)


def add_participant(study, pid: str, territory: str, actor_type: str, real_name: str) -> None:
    upsert_participant(
        study.conn,
        Participant(
            id=pid,
            territory_id=territory,
            role=Role.ACTOR,
            pseudonym=f"Acteur·rice {pid}",
            real_name=real_name,
            actor_type=actor_type,
        ),
    )


def add_transcript(
    study, key: str, participant: str, territory: str, turns: list[tuple[str, bool]]
) -> list[int]:
    """A transcript whose segments are the given (text, is_interviewer) turns; returns their ids."""
    return insert_lines_source(
        study.conn,
        key,
        [turn for turn, _ in turns],
        interviewer={i for i, (_, is_interviewer) in enumerate(turns) if is_interviewer},
        participant_id=participant,
        territory_id=territory,
    )


@pytest.fixture
def wolf_study(make_study, nlp):
    """Two territories, three interviews, one suggestion and three accepted codes."""
    study = make_study()
    with study.transaction():
        save_codebook_version(
            study.conn, load_codebook(PTCE_CODEBOOK), PTCE_CODEBOOK.read_text("utf-8")
        )
        add_participant(study, "A1", "auxois", "SIAE", "Martine Gauthier")
        add_participant(study, "A2", "auxois", "entreprise", "Paul Renard")
        add_participant(study, "B1", "besancon-nord", "collectivité", "Julie Morel")
        ids_a1 = add_transcript(
            study,
            "entretiens/a1.txt",
            "A1",
            "auxois",
            [(INTERVIEWER, True), *[(t, False) for t in WOLF[:5] + BOAR[:3] + FUNDING[:1]]],
        )
        ids_a2 = add_transcript(
            study,
            "entretiens/a2.txt",
            "A2",
            "auxois",
            [(t, False) for t in WOLF[5:] + BOAR[3:] + FUNDING[1:2]],
        )
        ids_b1 = add_transcript(
            study, "entretiens/b1.txt", "B1", "besancon-nord", [(t, False) for t in FUNDING[2:]]
        )
        funding_ids = [ids_a1[-1], ids_a2[-1], ids_b1[0]]
        for segment_id in funding_ids:
            append_decision(
                study.conn,
                Decision(
                    segment_id=segment_id,
                    action=Action.ACCEPT,
                    coder="alice",
                    code_id="BES_FINANCEMENT",
                ),
            )
        # A confident suggestion on one wolf segment: the codebook covers it, it is not a gap.
        confident = ids_a2[0]
        replace_suggestions(
            study.conn,
            [confident],
            [
                Suggestion(
                    segment_id=confident,
                    code_id="ENJ_TISSU_ECONOMIQUE",
                    score=0.9,
                    method="lexique",
                    explanation="",
                )
            ],
            None,
        )
    study.ids = {"interviewer": ids_a1[0], "funding": funding_ids, "confident": confident}  # type: ignore[attr-defined]
    return study


def test_wolf_theme_found_with_pseudonymised_excerpts_and_spread(wolf_study) -> None:
    result = find_themes(wolf_study, progress=False)

    wolf = [t for t in result.themes if "loup" in t.top_terms[:5]]
    assert len(wolf) == 1, [t.top_terms for t in result.themes]
    wolf_theme = wolf[0]
    assert {"brebis", "troupeau"} <= set(wolf_theme.top_terms)
    assert any(" " in term for term in wolf_theme.top_terms)  # bigrams of lemmas are terms too
    assert "sanglier" not in wolf_theme.top_terms[:5]
    # Excluded: the interviewer's question, the coded segments, the confidently suggested one.
    every_theme_segment = {i for t in result.themes for i in t.segment_ids}
    excluded = {
        wolf_study.ids["interviewer"],
        wolf_study.ids["confident"],
        *wolf_study.ids["funding"],
    }
    assert not every_theme_segment & excluded
    texts = dict(wolf_study.conn.execute("SELECT id, text FROM segments").fetchall())
    assert all("loup" in texts[i] for i in wolf_theme.segment_ids)
    assert len(wolf_theme.segment_ids) == len(WOLF) - 1  # minus the confidently suggested one
    # Spread: every wolf segment left is from Auxois; A1 (SIAE) has 5, A2 (entreprise) 2.
    assert wolf_theme.territories == {"auxois": 7}
    assert wolf_theme.actor_types == {"SIAE": 5, "entreprise": 2}
    # Representative excerpts never carry a participant's real name.
    shown = " ".join(r.text for t in result.themes for r in t.representatives)
    assert "Gauthier" not in shown and "Martine" not in shown
    assert wolf_theme.label.lower().startswith(("loup", "brebis", "troupeau", "éleveur"))


def test_themes_are_saved_and_deterministic(wolf_study) -> None:
    first = find_themes(wolf_study, progress=False)
    second = find_themes(wolf_study, progress=False)
    assert [t.top_terms for t in first.themes] == [t.top_terms for t in second.themes]
    assert [t.segment_ids for t in first.themes] == [t.segment_ids for t in second.themes]
    rows = wolf_study.conn.execute(
        "SELECT id, label, top_terms, segment_ids FROM emergent_themes WHERE run_id = ? ORDER BY id",
        (second.run_id,),
    ).fetchall()
    assert [r["id"] for r in rows] == [t.id for t in second.themes]
    assert [r["label"] for r in rows] == [t.label for t in second.themes]
    step = wolf_study.conn.execute(
        "SELECT step FROM runs WHERE id = ?", (second.run_id,)
    ).fetchone()
    assert step["step"] == "themes"


def test_territory_filter_and_too_few_segments_error(wolf_study) -> None:
    from qualipipe.errors import QualipipeError

    with pytest.raises(QualipipeError, match="peu couverts"):
        find_themes(wolf_study, territory="besancon-nord", progress=False)
    assert wolf_study.conn.execute("SELECT count(*) FROM emergent_themes").fetchone()[0] == 0


def test_draft_code_appended_and_codebook_still_loads(wolf_study, tmp_path: Path) -> None:
    codebook_path = tmp_path / "ptce.yaml"
    shutil.copy(PTCE_CODEBOOK, codebook_path)
    before = load_codebook(codebook_path)
    result = find_themes(wolf_study, progress=False)
    wolf_theme = next(t for t in result.themes if "loup" in t.top_terms[:5])

    draft = append_draft_code(wolf_study, wolf_theme.id, codebook_path, family="ENJ")

    after = load_codebook(codebook_path)
    new = after.by_id()[draft.code_id]
    assert new.family == "ENJ" and new.parent == "ENJ"
    assert not new.codable  # a draft is not applied before an analyst reviews it
    assert new.label.startswith("Brouillon")
    assert "loup" in new.expressions
    assert new.examples and all("Gauthier" not in e for e in new.examples)
    assert [c for c in after.codes if c.id != draft.code_id] == list(before.codes)
    text = codebook_path.read_text("utf-8")
    assert text.startswith(PTCE_CODEBOOK.read_text("utf-8").splitlines()[0])  # comments kept
    assert f"id: {draft.code_id}" in text.splitlines()[draft.line - 1]
    # A second draft from the same theme gets its own identifier.
    again = append_draft_code(wolf_study, wolf_theme.id, codebook_path, family="ENJ")
    assert again.code_id != draft.code_id
    assert len(load_codebook(codebook_path).codes) == len(before.codes) + 2


def test_draft_code_unknown_theme_or_family_leaves_file_unchanged(
    wolf_study, tmp_path: Path
) -> None:
    from qualipipe.errors import QualipipeError

    codebook_path = tmp_path / "ptce.yaml"
    shutil.copy(PTCE_CODEBOOK, codebook_path)
    original = codebook_path.read_bytes()
    with pytest.raises(QualipipeError, match="introuvable"):
        append_draft_code(wolf_study, 999, codebook_path)
    result = find_themes(wolf_study, progress=False)
    with pytest.raises(QualipipeError, match="Famille « XYZ » absente"):
        append_draft_code(wolf_study, result.themes[0].id, codebook_path, family="XYZ")
    assert codebook_path.read_bytes() == original


# ---------------------------------------------------------------------------------------------
# The measure and the model on constructed data (no spaCy)
# ---------------------------------------------------------------------------------------------

VOCABULARIES = [
    [
        "cantine",
        "producteur",
        "maraîcher",
        "légume",
        "approvisionnement",
        "restauration",
        "circuit",
    ],
    ["covoiturage", "navette", "permis", "voiture", "bus", "déplacement", "transport"],
    ["loyer", "logement", "bailleur", "rénovation", "appartement", "isolation", "habitat"],
]
COMMON = ["projet", "territoire", "acteur", "année"]


MORE_VOCABULARIES = [
    ["sanglier", "chasseur", "dégât", "battue", "culture", "agriculteur", "chasse"],
    ["médecin", "santé", "cabinet", "infirmier", "pharmacie", "urgence", "généraliste"],
]


def constructed_documents(
    vocabularies: list[list[str]], sizes: tuple[int, ...], seed: int
) -> list[list[str]]:
    """Documents of 6 words from one vocabulary plus 2 words common to all topics."""
    rng = np.random.default_rng(seed)
    documents = []
    for vocabulary, size in zip(vocabularies, sizes, strict=True):
        for _ in range(size):
            words = list(rng.choice(vocabulary, size=6)) + list(rng.choice(COMMON, size=2))
            documents.append([str(w) for w in words])
    return documents


@pytest.mark.parametrize(
    ("n_topics", "sizes"),
    [(2, (20, 20)), (3, (20, 20, 20)), (3, (40, 10, 8)), (5, (12, 30, 15, 10, 20))],
)
@pytest.mark.parametrize("seed", [1, 2])
def test_quality_picks_the_number_of_constructed_topics(
    n_topics: int, sizes: tuple[int, ...], seed: int
) -> None:
    vocabularies = (VOCABULARIES + MORE_VOCABULARIES)[:n_topics]
    finder = ThemeFinder(k_range=(2, 8)).fit(constructed_documents(vocabularies, sizes, seed))
    assert finder.n_themes_ == n_topics, finder.quality_by_k_
    # Each theme's leading words come from a single vocabulary, and every vocabulary is found.
    owners = set()
    for k in range(n_topics):
        unigrams = [t for t in finder.top_terms(k)[:5] if " " not in t]
        owner = next(v for v, vocabulary in enumerate(vocabularies) if unigrams[0] in vocabulary)
        assert all(t in vocabularies[owner] for t in unigrams), unigrams
        owners.add(owner)
    assert owners == set(range(n_topics))


def test_coherence_alone_would_split_a_topic_diversity_prevents_it() -> None:
    # Why K is not chosen on NPMI alone: halves of a split topic stay coherent.
    finder = ThemeFinder(k_range=(2, 7)).fit(constructed_documents(VOCABULARIES, (20, 20, 20), 3))
    assert max(finder.coherence_by_k_, key=finder.coherence_by_k_.get) > 3
    assert finder.n_themes_ == 3


def test_npmi_matches_hand_computed_values() -> None:
    # 4 documents; "a" and "b" always together, "c" never with "a", "d" in half of a's documents.
    terms = ["a", "b", "c", "d"]
    presence = sparse.csr_matrix(
        np.array([[1, 1, 0, 1], [1, 1, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0]], dtype=float)
    )
    scores = npmi_coherence(presence, [[0, 1], [0, 2], [0, 3]], terms)
    p_ab, p_a, p_b = 0.5, 0.5, 0.5
    assert scores[0] == pytest.approx(np.log(p_ab / (p_a * p_b)) / -np.log(p_ab))  # = 1
    assert scores[0] == pytest.approx(1.0)
    assert scores[1] == pytest.approx(-1.0)
    assert scores[2] == pytest.approx(0.0)  # p(a,d) = 1/4 = p(a) p(d): independent


def test_npmi_skips_a_bigram_and_its_own_words() -> None:
    presence = sparse.csr_matrix(np.array([[1, 1, 0], [1, 1, 0], [0, 0, 1]], dtype=float))
    score = npmi_coherence(presence, [[0, 1, 2]], ["circuit", "circuit court", "cantine"])
    assert score[0] == pytest.approx(-1.0)  # only the two pairs with "cantine" count


def test_label_takes_two_terms_without_repeating_a_word() -> None:
    assert propose_label(["circuit court", "cantine", "circuit"]) == "Circuit court et cantine"
    assert propose_label(["loup", "loup brebis", "brebis"]) == "Loup et brebis"
    assert propose_label([]) == "Thème sans libellé"


def test_failed_save_leaves_no_half_written_run(wolf_study) -> None:
    # One extraction is one transaction: a failure while saving leaves no half-written run.
    wolf_study.conn.execute(
        "CREATE TEMP TRIGGER refuse BEFORE INSERT ON emergent_themes BEGIN SELECT RAISE(ABORT, 'non'); END"
    )
    with pytest.raises(sqlite3.IntegrityError):
        find_themes(wolf_study, progress=False)
    assert (
        wolf_study.conn.execute("SELECT count(*) FROM runs WHERE step = 'themes'").fetchone()[0]
        == 0
    )


def test_cli_prints_themes_then_turns_one_into_a_draft_code(wolf_study, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from qualipipe.cli import app

    codebook_path = tmp_path / "grille.yaml"
    shutil.copy(PTCE_CODEBOOK, codebook_path)
    runner = CliRunner()
    shown = runner.invoke(app, ["themes", "--study", str(wolf_study.root)], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    assert "Thèmes émergents" in shown.output and "loup" in shown.output
    assert "Gauthier" not in shown.output
    wolf_id = wolf_study.conn.execute(
        "SELECT id FROM emergent_themes WHERE top_terms LIKE '%loup%' ORDER BY id DESC LIMIT 1"
    ).fetchone()[0]

    drafted = runner.invoke(
        app,
        [
            "themes",
            "-s",
            str(wolf_study.root),
            "--vers-code",
            str(wolf_id),
            "--codebook",
            str(codebook_path),
        ],
        terminal_width=200,
    )
    assert drafted.exit_code == 0, drafted.output
    assert "Code brouillon" in drafted.output
    added = [c for c in load_codebook(codebook_path).codes if c.label.startswith("Brouillon")]
    assert len(added) == 1 and added[0].family == "TRANS"


def test_a_theme_of_one_or_two_segments_is_not_chosen() -> None:
    from qualipipe.coding.topics import _smallest_theme

    vocabularies = (VOCABULARIES + MORE_VOCABULARIES)[:4]
    documents = constructed_documents(vocabularies, (25, 2, 2, 2), seed=2)
    anecdotes_allowed = ThemeFinder(k_range=(2, 6), min_theme_size=1).fit(documents)
    assert _smallest_theme(anecdotes_allowed.document_weights_) < 3  # what the filter prevents
    finder = ThemeFinder(k_range=(2, 6)).fit(documents)
    assert finder.n_themes_ < anecdotes_allowed.n_themes_
    assert _smallest_theme(finder.document_weights_) >= 3


def test_console_table_names_a_few_territories_and_counts_the_rest() -> None:
    from qualipipe.coding.themes import spread_summary

    spread = {f"territoire-{i:02d}": 1 + i % 3 for i in range(50)}
    cell = spread_summary(spread)
    assert cell.startswith("territoire-02 3, territoire-05 3, territoire-08 3 + 47 autre(s)")
    assert cell.endswith(f"({sum(spread.values()) - 9} seg.)")
    assert spread_summary({"auxois": 2}) == "auxois 2"
