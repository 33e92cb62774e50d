"""`synthesize_study`: one report folder per territory, plus the cross-territory comparison.

outputs/<study>/<territory>/synthese.{xlsx,docx,md} and figures/*.png (+ .gexf / .graphml);
outputs/<study>/comparaison/comparaison.{xlsx,docx,md} with `include_comparison`.
Each folder is written beside the old one and swapped in at the end, so a failed run never leaves
a half-written report; the store is only read (plus the NLP cache and the run journal).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from qualipipe import store
from qualipipe.records import Role, SourceKind, Territory
from qualipipe.synthesize import figures as fig
from qualipipe.synthesize import survey_tables as st
from qualipipe.synthesize import tables as tb
from qualipipe.synthesize.charts import evaluation_charts
from qualipipe.synthesize.comparison import comparison_tables
from qualipipe.synthesize.instruments import (
    EVALUATION,
    PRIORITISATION,
    find_instrument,
    prioritisation_questions,
)
from qualipipe.synthesize.load import load_territory, make_pseudonymizer, names_to_hide
from qualipipe.synthesize.model import (
    Figure,
    SynthesisOptions,
    SynthesisReport,
    Table,
    TerritoryData,
)
from qualipipe.synthesize.priorities import prioritise
from qualipipe.synthesize.verbatims import VerbatimPicker
from qualipipe.synthesize.wording import analysed_phrase, authors_noun, ptce_description
from qualipipe.synthesize.words import lemma_frequencies, name_matcher
from qualipipe.synthesize.writers import Report, write_docx, write_markdown, write_xlsx

Step = Callable[[str], None]
COMPARISON_FOLDER = "comparaison"


def _no_progress(label: str) -> None:
    return None


def segment_features(study: store.Study, texts: Sequence[str]) -> list[Any] | None:
    """Cached spaCy features (lemmas, POS, vectors) from the coding stage, computed if missing."""
    try:
        from qualipipe.coding.features import compute_features
    except ImportError:
        return None
    return compute_features(study, list(texts), progress=False) if texts else []


class TerritorySynthesis:
    """Builds the tables and figures of one territory into `folder`."""

    def __init__(
        self,
        study: store.Study,
        data: TerritoryData,
        folder: Path,
        options: SynthesisOptions,
        pseudonymize: Callable[[str], str],
    ) -> None:
        self.study, self.data, self.folder, self.options = study, data, folder, options
        self.pseudonymize = pseudonymize
        self.blocks: list[Table | Figure] = []
        self.stats = tb.code_stats(data)
        ids = sorted(data.segments)
        features = segment_features(study, [data.segments[i].text for i in ids])
        self.features = dict(zip(ids, features, strict=True)) if features is not None else {}
        coded = {c.segment_id for c in data.codings}
        vectors = {i: f.vector for i, f in self.features.items() if i in coded and np.any(f.vector)}
        self.picker = VerbatimPicker(
            {i: data.segments[i].text for i in coded},
            vectors if len(vectors) == len(coded) else None,
        )
        prefetch = getattr(pseudonymize, "prefetch", None)
        if prefetch is not None:  # every verbatim of the family tables, in one spaCy batch
            prefetch(
                c.text
                for s in self.stats.values()
                for c in tb.chosen_verbatims(s, data, self.picker, options.verbatims_per_code)
            )
        self.source = fig.SourceLine(
            data.study_name, data.territory.name, options.date, analysed_phrase(data.source_counts)
        )

    # -- helpers ------------------------------------------------------------------------------

    def figure_path(self, name: str) -> Path:
        return self.folder / "figures" / name

    def add_figure(
        self,
        draw: Callable[[], Path | None],
        title: str,
        section: str,
        extra: tuple[Path, ...] = (),
    ) -> None:
        """Draw now (unless figures are off) and list the figure in the report."""
        if not self.options.with_figures:
            return
        path = draw()
        if path is not None:
            self.blocks.append(Figure(path, title, section, extra))

    # -- sections -----------------------------------------------------------------------------

    def codes_section(self) -> None:
        for family in tb.families(self.data.codebook):
            self.blocks.append(
                tb.family_table(
                    family, self.data, self.stats, self.picker, self.pseudonymize, self.options
                )
            )

    def shared_section(self) -> list[tb.SharedIssue]:
        issues = tb.shared_issues(self.stats, threshold=self.options.share_threshold)
        self.blocks.append(tb.shared_issues_table(issues, self.options.share_threshold))
        return issues

    def cross_section(self) -> None:
        self.blocks.append(tb.founders_actors_table(self.data, self.stats))
        self.blocks.append(tb.by_actor_type_table(self.data, self.stats))
        self.blocks.append(tb.cooccurrence_table(self.data, self.stats))

    def actors_section(self, issues: list[tb.SharedIssue]) -> None:
        carried = tb.carried_issues(self.data, self.stats, issues)
        self.blocks.append(tb.actor_types_table(self.data, self.stats, issues))
        self.blocks.append(
            tb.participants_table(
                self.data, carried, self.pseudonymize, keep_names=self.options.keep_names
            )
        )
        people = sorted(self.data.analysed(), key=lambda p: (p.role != Role.FOUNDER, p.pseudonym))
        actors = [
            fig.ActorNode(
                tb.participant_label(p, keep_names=self.options.keep_names),
                p.role.value,
                p.actor_type,
                len(carried.get(p.id, [])),
            )
            for p in people
        ]
        shared_ids = {i.stats.code.id for i in issues}
        family = [s for s in self.stats.values() if s.code.family == tb.ISSUES_FAMILY]
        nodes = [
            fig.IssueNode(s.code.id, s.code.label, s.code.id in shared_ids, len(s.participants))
            for s in family
        ]
        links = []
        for index, p in enumerate(people):
            for s in family:
                if p.id in s.participants:
                    segments = sum(
                        1
                        for i in (*s.validated_segments, *s.suggested_segments)
                        if self.data.segments[i].participant_id == p.id
                    )
                    links.append((index, s.code.id, segments))
        graph = fig.build_actor_graph(actors, nodes, links)
        title = f"Cartographie des acteurs et des enjeux — {self.data.territory.name}"
        extra = fig.write_graph_files(
            graph, self.figure_path("carte_acteurs.gexf"), self.figure_path("carte_acteurs.graphml")
        )
        self.add_figure(
            partial(
                fig.draw_actor_map, graph, self.figure_path("carte_acteurs.png"), title, self.source
            ),
            title,
            tb.SECTION_ACTORS,
            extra,
        )

    def cloud_frequencies(self) -> list[tuple[str, str, Counter[str]]]:
        """(file name, title, lemma counts) per code family and for the whole territory."""
        is_name = name_matcher(names_to_hide(self.study))
        territory = self.data.territory.name
        by_id = self.data.codebook.by_id()
        wanted: list[tuple[str, str, set[int]]] = [
            (
                f"nuage_{family.id.lower()}.png",
                f"Mots des segments « {family.label} » — {territory}",
                {c.segment_id for c in self.data.codings if by_id[c.code_id].family == family.id},
            )
            for family in tb.families(self.data.codebook)
        ]
        wanted.append(
            (
                "nuage_territoire.png",
                f"Mots {authors_noun(self.data.source_counts)} — {territory}",
                set(self.features),
            )
        )
        return [
            (
                name,
                title,
                lemma_frequencies((self.features[i] for i in sorted(ids)), is_name=is_name),
            )
            for name, title, ids in wanted
        ]

    def wordcloud_section(self) -> None:
        if not self.features or not self.options.with_figures:
            return
        for name, title, counts in self.cloud_frequencies():
            self.add_figure(
                partial(fig.draw_wordcloud, counts, self.figure_path(name), title, self.source),
                title,
                "Nuages de mots",
            )

    def priorities_section(self) -> None:
        sheets = [s for s in self.data.answers if s.instrument == PRIORITISATION]
        q = prioritisation_questions(find_instrument(self.study.root, PRIORITISATION))
        answers = st.prioritisation_answers(self.data, sheets, q)
        if not answers:
            return
        ranked = prioritise(answers, positions=q.rank_positions)
        self.blocks.append(st.priorities_table(ranked, q, self.data, len(answers)))
        self.blocks.append(st.priorities_by_group_table(answers, q, self.data))
        agreement = st.agreement_distribution(q, sheets)
        if agreement:
            self.blocks.append(
                st.distribution_table(
                    "Accord priorisation",
                    "Accord avec la priorisation collective",
                    agreement,
                    st.SECTION_PRIORITIES,
                )
            )
        source = replace(
            self.source, extra=f"{len(answers)} réponse(s) au questionnaire de priorisation"
        )
        matrix = [
            (st.item_label(p.item, q, self.data), p.importance, p.feasibility, p.dissensus)
            for p in ranked
            if p.importance is not None and p.feasibility is not None
        ]
        if matrix:
            title = f"Importance × faisabilité des enjeux — {self.data.territory.name}"
            self.add_figure(
                partial(
                    fig.draw_priority_matrix,
                    matrix,
                    self.figure_path("priorites_matrice.png"),
                    title,
                    source,
                ),
                title,
                st.SECTION_PRIORITIES,
            )
        for attr, name, title, xlabel in (
            (
                "borda",
                "priorites_borda.png",
                "Classement des enjeux (score de Borda)",
                "Score de Borda",
            ),
            ("points", "priorites_points.png", "Vote par points : total par enjeu", "Points"),
        ):
            bars = [(st.item_label(p.item, q, self.data), float(getattr(p, attr))) for p in ranked]
            if any(v for _, v in bars):
                bars.sort(key=lambda b: -b[1])
                full = f"{title} — {self.data.territory.name}"
                self.add_figure(
                    partial(fig.draw_bars, bars, self.figure_path(name), full, source, xlabel),
                    full,
                    st.SECTION_PRIORITIES,
                )

    def evaluation_section(self) -> None:
        sheets = [s for s in self.data.answers if s.instrument == EVALUATION]
        instrument = find_instrument(self.study.root, EVALUATION)
        dists = st.evaluation_distributions(instrument, sheets)
        texts = {q.code: q.text for q in instrument.questions} if instrument is not None else {}
        coded = st.coded_answers_table(
            self.data, EVALUATION, self.picker, self.pseudonymize, self.options, texts
        )
        if not dists and not coded.rows:
            return
        if dists:
            self.blocks.append(
                st.distribution_table(
                    "Évaluation",
                    "Évaluation : réponses aux questions fermées",
                    dists,
                    st.SECTION_EVALUATION,
                )
            )
            source = replace(
                self.source, extra=f"{len(sheets)} réponse(s) au questionnaire d'évaluation"
            )
            for name, title, draw in evaluation_charts(dists, source):
                self.add_figure(partial(draw, self.figure_path(name)), title, st.SECTION_EVALUATION)
        if coded.rows:
            self.blocks.append(coded)

    def build(self) -> list[Table | Figure]:
        self.codes_section()
        issues = self.shared_section()
        self.cross_section()
        self.actors_section(issues)
        self.wordcloud_section()
        self.priorities_section()
        self.evaluation_section()
        return self.blocks


def authors_phrase(data: TerritoryData) -> str:
    """« 2 fondateur·rice(s) et 5 acteur·rice(s) », « 13 contributeur·rice(s) »."""
    nouns = {
        Role.FOUNDER: "fondateur·rice(s)",
        Role.ACTOR: "acteur·rice(s)",
        Role.CONTRIBUTOR: "contributeur·rice(s)",
    }
    counts = [(len(data.analysed(role)), noun) for role, noun in nouns.items()]
    shown = [f"{n} {noun}" for n, noun in counts if n] or ["aucun participant"]
    return " et ".join(shown)


def total_counts(done: Sequence[TerritoryData]) -> list[tuple[SourceKind, int]]:
    totals: dict[SourceKind, int] = {}
    for data in done:
        for kind, n in data.source_counts:
            totals[kind] = totals.get(kind, 0) + n
    return sorted(totals.items())


def intro_lines(data: TerritoryData, options: SynthesisOptions) -> tuple[str, ...]:
    t = data.territory
    return (
        f"Étude : {data.study_name}. Territoire : "
        f"{ptce_description(t.name, t.ptce_name, (t.ptce_type, t.stage, t.setting))}.",
        f"Synthèse du {options.date} : {analysed_phrase(data.source_counts)} ; "
        + authors_phrase(data)
        + " dont au moins un texte a été analysé.",
        "Codages : validés par un·e analyste"
        + (
            " uniquement (--validated-only)."
            if options.validated_only
            else " et suggestions non revues (en gris italique, marquées « suggéré »)."
        )
        + (
            " Noms réels conservés (--noms-reels)."
            if options.keep_names
            else " Verbatims pseudonymisés."
        ),
    )


def _swap_in(tmp: Path, final: Path) -> None:
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)


def _write_report(report: Report, folder: Path, stem: str) -> list[Path]:
    return [
        write_xlsx(report, folder / f"{stem}.xlsx"),
        write_docx(report, folder / f"{stem}.docx"),
        write_markdown(report, folder / f"{stem}.md"),
    ]


def synthesize_territory(
    study: store.Study,
    territory: Territory,
    out_dir: Path,
    options: SynthesisOptions,
    pseudonymize: Callable[[str], str],
) -> tuple[TerritoryData, list[Path], dict[str, int]]:
    data = load_territory(study, territory, validated_only=options.validated_only)
    final = out_dir / territory.id
    tmp = out_dir / f".{territory.id}.en-cours"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    try:
        blocks = TerritorySynthesis(study, data, tmp, options, pseudonymize).build()
        report = Report(
            f"Synthèse du diagnostic — {territory.name}",
            intro_lines(data, options),
            tuple(blocks),
            tmp,
        )
        _write_report(report, tmp, "synthese")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_in(tmp, final)
    files = sorted(p for p in final.rglob("*") if p.is_file())
    tables = sum(isinstance(b, Table) for b in blocks)
    return data, files, {"tableaux": tables, "figures": len(blocks) - tables}


def synthesize_study(
    study: store.Study,
    out_dir: Path,
    *,
    territory: str | None = None,
    include_comparison: bool = False,
    validated_only: bool = False,
    share_threshold: int = 3,
    keep_names: bool = False,
    with_figures: bool = True,
    on_step: Step = _no_progress,
    today: str | None = None,
) -> SynthesisReport:
    """Write the synthesis of one territory (or all) under `out_dir/<territory id>/`."""
    options = SynthesisOptions(
        validated_only=validated_only,
        share_threshold=share_threshold,
        keep_names=keep_names,
        with_figures=with_figures,
        date=today or date.today().strftime("%d/%m/%Y"),
    )
    if share_threshold < 1:
        from qualipipe.errors import QualipipeError

        raise QualipipeError("--seuil-partage doit être un entier ≥ 1 (nombre de participants).")
    territories = (
        [study.config.territory(territory)] if territory else list(study.config.territories)
    )
    report = SynthesisReport(out_dir=out_dir)
    pseudonymize = make_pseudonymizer(study, keep_names=keep_names)
    done: list[TerritoryData] = []
    with study.transaction() as conn:
        run_id = store.start_run(
            conn,
            "synthesize",
            {
                "territoire": territory or "tous",
                "validated_only": validated_only,
                "seuil_partage": share_threshold,
                "noms_reels": keep_names,
            },
        )
        for t in territories:
            on_step(f"Synthèse : {t.name}")
            data, files, counts = synthesize_territory(study, t, out_dir, options, pseudonymize)
            done.append(data)
            report.files.extend(files)
            report.territories.append(t.id)
            report.counts[t.id] = counts
            if not data.codings:
                report.warnings.append(f"{t.name} : aucun segment codé ; les tableaux sont vides.")
        if include_comparison:
            on_step("Comparaison des territoires")
            report.files.extend(write_comparison(done, out_dir, options))
        store.finish_run(
            conn, run_id, {"fichiers": len(report.files), "territoires": report.territories}
        )
    return report


def write_comparison(
    done: Sequence[TerritoryData], out_dir: Path, options: SynthesisOptions
) -> list[Path]:
    tmp = out_dir / f".{COMPARISON_FOLDER}.en-cours"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    study_name = done[0].study_name if done else ""
    report = Report(
        f"Comparaison des territoires — {study_name}",
        (
            f"Synthèse du {options.date} : {len(done)} territoire(s), "
            f"{analysed_phrase(total_counts(done))}.",
            "Part des participants (fondateurs et acteurs) qui mentionnent chaque code, par "
            "territoire et par type de territoire (rural/urbain, filière/généraliste, émergent/existant).",
        ),
        tuple(comparison_tables(done, options)),
        tmp,
    )
    try:
        _write_report(report, tmp, "comparaison")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final = out_dir / COMPARISON_FOLDER
    _swap_in(tmp, final)
    return sorted(p for p in final.rglob("*") if p.is_file())
