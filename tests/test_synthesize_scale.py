"""Outputs that stay readable when the study grows: 60 territories in the comparison, a
territory of 109 actors on the actor map, a study where everybody has the same actor type."""

from __future__ import annotations

from pathlib import Path

import networkx as nx
import pytest
from docx import Document
from openpyxl import load_workbook

from qualipipe.codebook.model import parse_codebook
from qualipipe.records import Codebook, Participant, Role, Territory
from qualipipe.synthesize import figures as fig
from qualipipe.synthesize import tables as tb
from qualipipe.synthesize.comparison import MAX_TERRITORY_COLUMNS
from qualipipe.synthesize.model import Coding, SegmentText, SynthesisOptions, TerritoryData
from qualipipe.synthesize.pipeline import write_comparison

REPO = Path(__file__).resolve().parents[1]


def ptce_codebook() -> Codebook:
    codebook, problems = parse_codebook(
        (REPO / "codebooks" / "ptce.yaml").read_text(encoding="utf-8"), "ptce.yaml"
    )
    assert codebook is not None, problems
    return codebook


def territory_data(
    index: int, codebook: Codebook, people: int = 6, actor_types: tuple[str, ...] = ("citoyen",)
) -> TerritoryData:
    """A territory whose participant k mentions the issue codes k, k+1 (one segment each)."""
    territory = Territory(
        f"t{index:02d}",
        f"Commune {index}",
        f"PTCE {index}",
        "filière" if index % 2 else "généraliste",
        "émergent" if index % 3 else "existant",
        "rural" if index % 4 else "urbain",
    )
    issues = [c.id for c in codebook.codable() if c.family == tb.ISSUES_FAMILY]
    participants = tuple(
        Participant(
            f"{territory.id}-{k}",
            territory.id,
            Role.FOUNDER if k == 0 and len(actor_types) > 1 else Role.ACTOR,
            f"Acteur·rice {k + 1} — Commune {index}",
            actor_type=actor_types[k % len(actor_types)],
        )
        for k in range(people)
    )
    segments, codings = {}, []
    for k, p in enumerate(participants):
        for code in (issues[(k + index) % len(issues)], issues[(k + index + 1) % len(issues)]):
            sid = index * 10_000 + len(segments)
            segments[sid] = SegmentText(sid, index, p.id, f"Texte {sid}", "transcript")
            codings.append(Coding(sid, code, p.id, validated=bool(k % 2)))
    return TerritoryData(
        "Étude à grande échelle",
        territory,
        participants,
        frozenset(p.id for p in participants),
        codebook,
        tuple(codings),
        segments,
        interviews=people,
    )


def test_comparison_of_60_territories_puts_territories_in_rows(tmp_path: Path) -> None:
    codebook = ptce_codebook()
    done = [territory_data(i, codebook) for i in range(60)]
    files = write_comparison(done, tmp_path, SynthesisOptions(date="01/01/2027"))
    docx = next(p for p in files if p.suffix == ".docx")
    doc = Document(str(docx))
    widest = max(len(t.columns) for t in doc.tables)
    assert widest <= MAX_TERRITORY_COLUMNS + 3  # never one column per territory
    profiles = next(t for t in doc.tables if t.rows[0].cells[1].text == "Milieu, type, stade")
    names = [row.cells[0].text for row in profiles.rows[1:]]
    assert sorted(names) == sorted(f"Commune {i}" for i in range(60))
    # Grouped by typology (the rural territories together, then the urban ones), each group's
    # typology written once, on its first row.
    shown = [row.cells[1].text for row in profiles.rows[1:]]
    groups = [text for text in shown if text]
    assert len(groups) == len(set(groups)) == 6  # each (setting, type, stage) present, once
    assert [g.split(",")[0] for g in groups] == sorted(g.split(",")[0] for g in groups)
    # The workbook keeps the full codes × territories matrix, one column per territory.
    workbook = load_workbook(next(p for p in files if p.suffix == ".xlsx"))
    header = [c.value for c in workbook["Comparaison des codes"][4]]
    assert sum(1 for h in header if h and h.startswith("% Commune ")) == 60
    captions = [p.text for p in doc.paragraphs if p.style.name == "Caption"]
    assert not any("par territoire et par type" in c for c in captions)  # workbook only


def test_actor_map_aggregates_by_actor_type_above_the_threshold(tmp_path: Path) -> None:
    types = ("collectivité", "entreprise", "citoyen", "structure de l'ESS")
    data = territory_data(1, ptce_codebook(), people=109, actor_types=types)
    stats = tb.code_stats(data)
    issues = [s for s in stats.values() if s.code.family == tb.ISSUES_FAMILY]
    people = sorted(data.participants, key=lambda p: p.id)
    graph = fig.build_actor_graph(
        [fig.ActorNode(p.pseudonym, p.role.value, p.actor_type, 0) for p in people],
        [fig.IssueNode(s.code.id, s.code.label, False, len(s.participants)) for s in issues],
        [(k, s.code.id, 1) for k, p in enumerate(people) for s in issues if p.id in s.participants],
    )
    merged = fig.aggregate_by_actor_type(graph)
    groups = {
        d["type_acteur"]: n for n, d in merged.nodes(data=True) if d["genre"] == "participant"
    }
    assert set(groups) == set(types)
    assert sum(merged.nodes[n]["effectif"] for n in groups.values()) == 109
    # Each link weighs the participants of that type who raise the issue.
    for s in issues:
        for actor_type, node in groups.items():
            expected = sum(
                1 for p in people if p.actor_type == actor_type and p.id in s.participants
            )
            weight = (
                merged.edges[node, s.code.id]["weight"] if merged.has_edge(node, s.code.id) else 0
            )
            assert weight == expected
    png = fig.draw_actor_map(
        merged,
        tmp_path / "carte.png",
        "Carte",
        fig.SourceLine("É", "T", "01/01/2027", "109 entretiens analysés"),
    )
    assert png.stat().st_size > 10_000
    assert nx.number_of_nodes(merged) == len(types) + len(issues)


def test_participants_sorted_naturally() -> None:
    data = territory_data(1, ptce_codebook(), people=12)
    table = tb.participants_table(data, {}, lambda text: text, keep_names=False)
    numbers = [int(str(row[0]).split()[1]) for row in table.rows]
    assert numbers == sorted(numbers) == list(range(1, 13))


def test_shared_issues_with_one_actor_type_use_the_participant_threshold() -> None:
    data = territory_data(1, ptce_codebook(), people=6, actor_types=("citoyen",))
    stats = tb.code_stats(data)
    issues = tb.territory_shared_issues(data, stats, threshold=2)
    # Participant k raises issues k+1 and k+2: every issue but the first and last has 2 people.
    assert issues and all(len(i.stats.participants) >= 2 for i in issues)
    assert {i.criterion for i in issues} == {tb.CRITERION_ONE_TYPE.format(n=2)}
    note = tb.shared_rule_note(data, 2)
    assert "même type d'acteur (« citoyen »)" in note and "au moins 2 participants" in note
    # With two actor types present, the single-type fallback does not apply.
    mixed = territory_data(1, ptce_codebook(), people=6, actor_types=("citoyen", "entreprise"))
    for issue in tb.territory_shared_issues(mixed, tb.code_stats(mixed), threshold=2):
        assert tb.CRITERION_ONE_TYPE.format(n=2) not in issue.criterion


def test_priority_matrix_labels_never_overlap(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    close = [
        ("Transition écologique", 4.11, 2.22),
        ("Mobilité", 4.22, 2.22),
        ("Logement", 2.56, 1.56),
        ("Revitalisation des centres-bourgs", 3.0, 1.56),
        ("Accès aux services", 3.33, 1.0),
    ]
    figure = fig.new_figure()
    ax = figure.add_axes((0.10, 0.13, 0.86, 0.72))
    ax.set_xlim(0.75, 5.25)
    ax.set_ylim(0.75, 5.25)
    ax.scatter([x for _, x, _ in close], [y for _, _, y in close])
    fig.place_labels(ax, close, fontsize=7)
    renderer = figure.canvas.get_renderer()  # type: ignore[attr-defined]
    boxes = [t.get_window_extent(renderer) for t in ax.texts]
    assert len(boxes) == len(close)
    for i, a in enumerate(boxes):
        assert all(not a.overlaps(b) for b in boxes[i + 1 :]), ax.texts[i].get_text()
    plt.close(figure)


def test_word_clouds_leave_out_fillers_and_editorial_markers_from_the_data_file() -> None:
    from dataclasses import dataclass

    from qualipipe.synthesize.words import excluded_words, lemma_frequencies

    @dataclass
    class Lemmas:
        words: tuple[str, ...]
        lemmas: tuple[str, ...]
        pos: tuple[str, ...]
        is_stop: tuple[bool, ...]
        is_alpha: tuple[bool, ...]

    words = ("dernier", "part", "cas", "nom", "prénom", "signature", "mobilité", "cantine")
    pos = ("ADJ", "NOUN", "NOUN", "NOUN", "NOUN", "NOUN", "NOUN", "NOUN")
    n = len(words)
    counts = lemma_frequencies([Lemmas(words, words, pos, (False,) * n, (True,) * n)] * 2)
    assert counts == {"mobilité": 2, "cantine": 2}
    assert {"dernier", "prenom", "signature"} <= excluded_words()  # folded, from the text file


def test_word_clouds_leave_out_transcription_annotations_and_spoken_fillers(nlp) -> None:
    """Transcripts mark pauses and laughter in brackets and spell out « mm », « ouais »,
    « hein »: none of it is what a territory talks about (spaCy reads « mm » as « millimètre »)."""
    from qualipipe.coding.features import features_from_doc
    from qualipipe.synthesize.words import lemma_frequencies, recurring

    text = (
        "ouais [pause] le marché du quartier mm [rire] hein le marché [mm mm] ouais "
        "les jardins partagés [pause] mm ouais les jardins"
    )
    counts = lemma_frequencies([features_from_doc(nlp(text), "transcription")])
    assert counts["marché"] == 2 and counts["quartier"] == 1
    assert not {"pause", "rire", "millimètre", "mm", "ouai", "ouais", "ouer", "hein"} & set(counts)
    assert set(recurring(counts)) == {"marché", "jardin"}


def test_a_family_word_cloud_needs_words_said_more_than_once() -> None:
    from collections import Counter

    from qualipipe.synthesize.pipeline import MIN_CLOUD_WORDS, worth_a_cloud

    said_once = Counter({f"mot{i}": 1 for i in range(3 * MIN_CLOUD_WORDS)})
    recurring_words = Counter({f"mot{i}": 2 for i in range(MIN_CLOUD_WORDS)})
    assert worth_a_cloud(said_once)  # the territory's cloud: enough words
    assert not worth_a_cloud(said_once, family_segments=40)
    assert worth_a_cloud(said_once + recurring_words, family_segments=40)
    assert not worth_a_cloud(said_once + recurring_words, family_segments=3)
    assert not worth_a_cloud(Counter({"mot": 5}))


def test_organisations_found_by_the_workers_are_the_recognisers_own() -> None:
    """The study-wide pass shares the texts out among worker processes: same spans, in the same
    order, as spaCy's recogniser run here, and the progress reaches every text."""
    from qualipipe.nlp import entity_pipeline
    from qualipipe.synthesize.workers import PooledEntityPipeline, worker_pool

    texts = [
        "La mission locale de Guéret et Creuse Habitat travaillent avec la mairie.",
        "rien de spécial",
        "Le Secours populaire et l'ADIE ouvrent une antenne à Limoges.",
    ]
    expected = [
        [(e.start_char, e.end_char) for e in doc.ents if e.label_ == "ORG"]
        for doc in entity_pipeline().pipe(texts)
    ]
    workers = worker_pool()
    if workers is None:
        pytest.skip("un seul cœur : pas de processus de travail")
    seen: list[tuple[int, int]] = []
    with workers:
        found = [
            [(e.start_char, e.end_char) for e in doc.ents]
            for doc in PooledEntityPipeline(workers, lambda *p: seen.append(p)).pipe(texts)
        ]
    assert found == expected and any(expected)
    assert seen[-1] == (3, 3)
