"""`synthesize_study`: one report folder per territory, plus the cross-territory comparison.

outputs/<study>/<territory>/synthese.{xlsx,docx,md} and figures/*.png (+ .gexf / .graphml);
outputs/<study>/comparaison/comparaison.{xlsx,docx,md} with `include_comparison`.
Each folder is written beside the old one and swapped in at the end, so a failed run never leaves
a half-written report; the store is only read (plus the NLP cache and the run journal).
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future
from dataclasses import dataclass, replace
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

from qualipipe import store
from qualipipe.coding.features import compute_features
from qualipipe.errors import QualipipeError
from qualipipe.files import naming
from qualipipe.nlp import entity_pipeline
from qualipipe.records import Role, Territory
from qualipipe.surveys.instruments import Instrument
from qualipipe.synthesize import figures as fig
from qualipipe.synthesize import survey_tables as st
from qualipipe.synthesize import tables as tb
from qualipipe.synthesize import territory_section as ts  # issue 18: portrait, cited actors
from qualipipe.synthesize import workers
from qualipipe.synthesize import workshop as ws  # issue 19: workshop 1
from qualipipe.synthesize.cells import natural_key
from qualipipe.synthesize.charts import evaluation_charts
from qualipipe.synthesize.comparison import comparison_tables
from qualipipe.synthesize.instruments import (
    EVALUATION,
    PRIORITISATION,
    find_instrument,
    prioritisation_questions,
)
from qualipipe.synthesize.load import (
    BatchedPseudonymizer,
    StudySnapshot,
    make_pseudonymizer,
    names_to_hide,
)
from qualipipe.synthesize.model import (
    FIGURES_FOLDER,
    REPORT_STEM,
    SynthesisOptions,
    SynthesisReport,
    TerritoryData,
)
from qualipipe.synthesize.priorities import prioritise
from qualipipe.synthesize.study_wide import (
    family_verbatims,
    study_wide_passes,
    territory_features,
    verbatim_picker,
)
from qualipipe.synthesize.wording import (
    analysed_phrase,
    authors_noun,
    intro_lines,
    total_counts,
)
from qualipipe.synthesize.words import lemma_frequencies, name_matcher, recurring
from qualipipe.synthesize.workers import (
    Block,
    FigureJob,
    as_figure,
    render_report,
    worker_pool,
    write_report,
)
from qualipipe.synthesize.writers import Report

resolved = workers.resolved  # the livrable (qualipipe.report) imports it from here
Step = Callable[[str], None]
Advance = Callable[[int, int, str], None]  # (territories done, total, territory just done)
COMPARISON_FOLDER = "comparaison"
# Figures that would say nothing are not drawn: a word cloud needs this many distinct words
# (a family's cloud this many segments and this many words said at least twice), the actor map
# at least two participants.
MIN_CLOUD_WORDS = 20
MIN_CLOUD_SEGMENTS = 8
MIN_MAP_PARTICIPANTS = 2
# Above this many participants the actor map shows actor types instead of people.
ACTOR_MAP_MAX_PEOPLE = 40


def _no_progress(label: str) -> None:
    return None


def _no_advance(done: int, total: int, name: str) -> None:
    return None


def segment_features(study: store.Study, texts: Sequence[str]) -> list[Any]:
    """Cached spaCy features (lemmas, POS, vectors) from the coding stage; missing ones are
    computed in memory only, so that a synthesis never writes to the study."""
    return compute_features(study, list(texts), progress=False, cache=False) if texts else []


@dataclass
class StudyContext:
    """What every territory shares, computed once per run: the study snapshot, the cached
    spaCy features of every segment, the name filter of the word clouds, the instruments, and
    the worker processes that draw figures and write documents."""

    study: store.Study
    snapshot: StudySnapshot
    options: SynthesisOptions
    pseudonymize: BatchedPseudonymizer
    features: dict[int, Any]
    is_name: Callable[[str], bool]
    prioritisation: Instrument | None
    evaluation: Instrument | None
    workers: Executor | None = None
    # True: each territory's figures and documents are one job for the workers (several
    # territories); False: each figure is its own job, the documents are written here (one).
    per_territory: bool = False

    @classmethod
    def build(
        cls, study: store.Study, options: SynthesisOptions, pseudonymize: BatchedPseudonymizer
    ) -> StudyContext:
        snapshot = StudySnapshot.read(study, validated_only=options.validated_only)
        ids = sorted(i for segments in snapshot.segments.values() for i in segments)
        texts = {i: s.text for segments in snapshot.segments.values() for i, s in segments.items()}
        features = dict(zip(ids, segment_features(study, [texts[i] for i in ids]), strict=True))
        return cls(
            study,
            snapshot,
            options,
            pseudonymize,
            features,
            name_matcher(names_to_hide(study)),
            find_instrument(study.root, PRIORITISATION),
            find_instrument(study.root, EVALUATION),
        )

    def draw(self, job: FigureJob) -> Future[Any] | FigureJob:
        """A figure to draw: started in a worker at once when the figures are the workers' unit
        of work, else left as a job for whoever renders the territory's report."""
        if self.workers is None or self.per_territory:
            return job
        return self.workers.submit(job)


def worth_a_cloud(counts: Counter[str], family_segments: int | None = None) -> bool:
    """The territory's cloud needs enough words to say something; a family's cloud (given its
    segments) also enough segments and words said at least twice, else it is a scatter of words
    said once, each as small as the others."""
    if family_segments is None:
        return len(counts) >= MIN_CLOUD_WORDS
    return family_segments >= MIN_CLOUD_SEGMENTS and len(recurring(counts)) >= MIN_CLOUD_WORDS


class TerritorySynthesis:
    """Builds the tables and figures of one territory into `folder` (figures may still be
    drawing in the context's pool when `build` returns)."""

    def __init__(self, context: StudyContext, data: TerritoryData, folder: Path) -> None:
        self.context, self.data, self.folder = context, data, folder
        self.study, self.options = context.study, context.options
        self.pseudonymize = context.pseudonymize
        self.blocks: list[Block] = []
        self.stats = tb.code_stats(data)
        self.features = territory_features(context.features, data)
        self.picker = verbatim_picker(self.features, data)
        # Every verbatim of the family tables in one batch (one cache query, one spaCy batch).
        self.pseudonymize.prefetch(family_verbatims(data, self.stats, self.picker, self.options))
        self.source = fig.SourceLine(
            data.study_name,
            data.territory.name,
            self.options.date,
            analysed_phrase(data.source_counts),
        )

    # -- helpers ------------------------------------------------------------------------------

    def figure_path(self, name: str) -> Path:
        return self.folder / FIGURES_FOLDER / name

    def add_figure(
        self,
        draw: Callable[[], Path | None],
        title: str,
        section: str,
        extra: tuple[Path, ...] = (),
    ) -> None:
        """A figure of the report, drawn by a worker when there are some (unless figures are
        off)."""
        if self.options.with_figures:
            self.blocks.append(self.context.draw(partial(as_figure, draw, title, section, extra)))

    # -- sections -----------------------------------------------------------------------------

    def codes_section(self) -> None:
        for family in tb.families(self.data.codebook):
            self.blocks.append(
                tb.family_table(
                    family, self.data, self.stats, self.picker, self.pseudonymize, self.options
                )
            )

    def shared_section(self) -> list[tb.SharedIssue]:
        threshold = self.options.share_threshold
        issues = tb.territory_shared_issues(self.data, self.stats, threshold)
        self.blocks.append(
            tb.shared_issues_table(issues, tb.shared_rule_note(self.data, threshold))
        )
        return issues

    def cross_section(self) -> None:
        if self.data.analysed(Role.FOUNDER) and self.data.analysed(Role.ACTOR):
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
        people = self.data.analysed()
        family = [s for s in self.stats.values() if s.code.family == tb.ISSUES_FAMILY]
        if len(people) < MIN_MAP_PARTICIPANTS or not family:
            return
        graph = self.actor_graph(people, family, carried, {i.stats.code.id for i in issues})
        title = f"Cartographie des acteurs et des enjeux — {self.data.territory.name}"
        extra = fig.write_graph_files(
            graph, self.figure_path("carte_acteurs.gexf"), self.figure_path("carte_acteurs.graphml")
        )
        if len(people) > ACTOR_MAP_MAX_PEOPLE:
            graph = fig.aggregate_by_actor_type(graph)
            title += " (par type d'acteur)"
        self.add_figure(
            partial(
                fig.draw_actor_map, graph, self.figure_path("carte_acteurs.png"), title, self.source
            ),
            title,
            tb.SECTION_ACTORS,
            extra,
        )

    def actor_graph(
        self,
        people: list[Any],
        family: list[tb.CodeStats],
        carried: dict[str, list[str]],
        shared_ids: set[str],
    ) -> Any:
        people = sorted(
            people,
            key=lambda p: (
                p.role != Role.FOUNDER,
                natural_key(tb.participant_label(p, keep_names=self.options.keep_names)),
            ),
        )
        actors = [
            fig.ActorNode(
                tb.participant_label(p, keep_names=self.options.keep_names),
                p.role.value,
                p.actor_type,
                len(carried.get(p.id, [])),
            )
            for p in people
        ]
        nodes = [
            fig.IssueNode(s.code.id, s.code.label, s.code.id in shared_ids, len(s.participants))
            for s in family
        ]
        speaker = {i: seg.participant_id for i, seg in self.data.segments.items()}
        links = []
        for index, p in enumerate(people):
            for s in family:
                if p.id in s.participants:
                    segments = sum(
                        1
                        for i in (*s.validated_segments, *s.suggested_segments)
                        if speaker[i] == p.id
                    )
                    links.append((index, s.code.id, segments))
        return fig.build_actor_graph(actors, nodes, links)

    def cloud_frequencies(self) -> list[tuple[str, str, set[int], Counter[str]]]:
        """(file name, title, segments, lemma counts) per code family and for the territory."""
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
                ids,
                lemma_frequencies(
                    (self.features[i] for i in sorted(ids) if i in self.features),
                    is_name=self.context.is_name,
                ),
            )
            for name, title, ids in wanted
        ]

    def wordcloud_section(self) -> None:
        if not self.features or not self.options.with_figures:
            return
        for name, title, ids, counts in self.cloud_frequencies():
            if worth_a_cloud(counts, None if name == "nuage_territoire.png" else len(ids)):
                self.add_figure(
                    partial(fig.draw_wordcloud, counts, self.figure_path(name), title, self.source),
                    title,
                    "Nuages de mots",
                )

    def priorities_section(self) -> None:
        sheets = [s for s in self.data.answers if s.instrument == PRIORITISATION]
        q = prioritisation_questions(self.context.prioritisation)
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
        instrument = self.context.evaluation
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

    def territory_portrait_section(self) -> None:
        """Issue 18: the INSEE portrait (when loaded), first, as the context of the findings."""
        self.blocks.extend(
            ts.portrait_blocks(
                self.study,
                self.data.territory,
                self.folder / FIGURES_FOLDER,
                with_figures=self.options.with_figures,
                draw=self.context.draw,
            )
        )

    def cited_actors_section(self) -> None:
        """Issue 18: organisations cited in the texts, not yet among the participants."""
        self.blocks.append(ts.cited_actors_block(self.study, self.data, self.pseudonymize))

    def workshop_section(self) -> None:
        """Issue 19: workshop 1 — AFOM matrix, and what the interviews and the workshop raised."""
        notes = ws.load_notes(self.study.conn, self.data.territory.id)
        if notes:
            quadrants = ws.afom_quadrants(self.data, notes, self.pseudonymize)
            self.blocks.append(ws.afom_table(quadrants, self.data.territory.name))
            self.blocks.append(ws.interviews_vs_workshop(self.data, notes))

    def build(self) -> list[Block]:
        self.territory_portrait_section()
        self.codes_section()
        issues = self.shared_section()
        self.cross_section()
        self.actors_section(issues)
        self.cited_actors_section()
        self.workshop_section()
        self.wordcloud_section()
        self.priorities_section()
        self.evaluation_section()
        return self.blocks


def written_by_synthesis(name: str) -> bool:
    """What a synthesis writes in a territory's folder (and so replaces on a re-run)."""
    return name == FIGURES_FOLDER or name.startswith(f"{REPORT_STEM}.")


def _swap_in(tmp: Path, final: Path) -> None:
    """Put the new synthesis in place of the old one. Whatever else the folder holds — the
    livrable draft `report` wrote there and the analyst has been editing, their own notes — is
    carried over (a rename, same disk) rather than deleted with the old synthesis."""
    if final.exists():
        for entry in final.iterdir():
            if not written_by_synthesis(entry.name) and not (tmp / entry.name).exists():
                entry.rename(tmp / entry.name)
        shutil.rmtree(final)
    tmp.rename(final)


def _fresh_folder(out_dir: Path, name: str) -> Path:
    tmp = out_dir / f".{name}.en-cours"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    return tmp


@dataclass
class PendingTerritory:
    """A territory whose tables are built and whose report may still be rendering in a worker."""

    data: TerritoryData
    tmp: Path
    blocks: list[Block]
    rendering: Future[dict[str, int]] | None = None


def start_territory(context: StudyContext, territory: Territory, out_dir: Path) -> PendingTerritory:
    """Build the territory's tables (here: they read the study) and, with workers, hand its
    figures and documents to them."""
    data = context.snapshot.territory(territory)
    tmp = _fresh_folder(out_dir, territory.id)
    try:
        blocks = TerritorySynthesis(context, data, tmp).build()
        pending = PendingTerritory(data, tmp, blocks)
        if context.workers is not None and context.per_territory:
            pending.rendering = context.workers.submit(
                render_report, *_report_heading(data, context.options), blocks, tmp, REPORT_STEM
            )
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise naming(error, out_dir / territory.id) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return pending


def _report_heading(data: TerritoryData, options: SynthesisOptions) -> tuple[str, tuple[str, ...]]:
    return f"Synthèse du diagnostic — {data.territory.name}", intro_lines(data, options)


def finish_territory(
    pending: PendingTerritory, out_dir: Path, options: SynthesisOptions
) -> tuple[list[Path], dict[str, int]]:
    """Wait for (or do) the figures and the workbook, Word and Markdown reports; swap the
    folder in."""
    final = out_dir / pending.data.territory.id
    try:
        if pending.rendering is not None:
            counts = pending.rendering.result()
        else:
            heading = _report_heading(pending.data, options)
            counts = render_report(*heading, pending.blocks, pending.tmp, REPORT_STEM)
    except OSError as error:
        shutil.rmtree(pending.tmp, ignore_errors=True)
        raise naming(error, final) from None
    except BaseException:
        shutil.rmtree(pending.tmp, ignore_errors=True)
        raise
    _swap_in(pending.tmp, final)
    return sorted(p for p in final.rglob("*") if p.is_file()), counts


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
    on_territory: Advance = _no_advance,
    today: str | None = None,
) -> SynthesisReport:
    """Write the synthesis of one territory (or all) under `out_dir/<territory id>/`.

    The study is read once. With several territories, this process builds each territory's
    tables (the only part that reads the study) while worker processes draw the previous
    territories' figures and write their documents; with one, the workers draw its figures.
    A failure removes the half-written folders, the previous ones stay."""
    options = SynthesisOptions(
        validated_only=validated_only,
        share_threshold=share_threshold,
        keep_names=keep_names,
        with_figures=with_figures,
        date=today or date.today().strftime("%d/%m/%Y"),
    )
    if share_threshold < 1:
        raise QualipipeError("--seuil-partage doit être un entier ≥ 1 (nombre de participants).")
    started = time.perf_counter()
    territories = (
        [study.config.territory(territory)] if territory else list(study.config.territories)
    )
    report = SynthesisReport(out_dir=out_dir)
    on_step("Lecture de l'étude")
    context = StudyContext.build(study, options, make_pseudonymizer(study, keep_names=keep_names))
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
        several = len(territories) > 1
        if not keep_names:
            # The organisations (workers) and the people in texts `code` never read (here):
            # loaded before the workers fork, so that they share it.
            entity_pipeline()
        context.workers = worker_pool() if with_figures or several else None
        context.per_territory = several
        try:
            if context.workers is not None:
                study_wide_passes(
                    context.study.conn, context.snapshot, territories, context.workers, on_step
                )
            _synthesize_territories(context, territories, out_dir, report, done, on_territory)
        finally:
            if context.workers is not None:
                context.workers.shutdown(cancel_futures=True)
        if include_comparison:
            on_step("Comparaison des territoires")
            report.files.extend(write_comparison(done, out_dir, options))
        store.finish_run(
            conn, run_id, {"fichiers": len(report.files), "territoires": report.territories}
        )
    report.seconds = time.perf_counter() - started
    return report


def _synthesize_territories(
    context: StudyContext,
    territories: Sequence[Territory],
    out_dir: Path,
    report: SynthesisReport,
    done: list[TerritoryData],
    on_territory: Advance,
) -> None:
    """Build the next territories' tables while the workers render the previous ones, a few
    territories ahead at most (their tables wait in memory); report them in order."""
    on_territory(0, len(territories), territories[0].name if territories else "")
    ahead = 2 * (os.cpu_count() or 1) if context.per_territory and context.workers else 0
    queue: list[PendingTerritory] = []
    try:
        for t in territories:
            queue.append(start_territory(context, t, out_dir))
            while queue and (len(queue) > ahead or _rendered(queue[0])):
                _finish_first(queue, out_dir, context, report, done, on_territory, len(territories))
        while queue:
            _finish_first(queue, out_dir, context, report, done, on_territory, len(territories))
    except BaseException:
        if context.workers is not None:  # let running jobs end before removing their folders
            context.workers.shutdown(wait=True, cancel_futures=True)
        for other in queue:
            shutil.rmtree(other.tmp, ignore_errors=True)
        raise


def _rendered(pending: PendingTerritory) -> bool:
    return pending.rendering is not None and pending.rendering.done()


def _finish_first(
    queue: list[PendingTerritory],
    out_dir: Path,
    context: StudyContext,
    report: SynthesisReport,
    done: list[TerritoryData],
    on_territory: Advance,
    total: int,
) -> None:
    files, counts = finish_territory(queue[0], out_dir, context.options)
    data = queue.pop(0).data
    done.append(data)
    report.files.extend(files)
    report.territories.append(data.territory.id)
    report.counts[data.territory.id] = counts
    if not data.codings:
        report.warnings.append(
            f"{data.territory.name} : aucun segment codé ; les tableaux sont vides."
        )
    on_territory(len(done), total, data.territory.name)


def write_comparison(
    done: Sequence[TerritoryData], out_dir: Path, options: SynthesisOptions
) -> list[Path]:
    tmp = _fresh_folder(out_dir, COMPARISON_FOLDER)
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
    final = out_dir / COMPARISON_FOLDER
    try:
        write_report(report, tmp, "comparaison")
    except OSError as error:
        shutil.rmtree(tmp, ignore_errors=True)
        raise naming(error, final) from None
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _swap_in(tmp, final)
    return sorted(p for p in final.rglob("*") if p.is_file())
