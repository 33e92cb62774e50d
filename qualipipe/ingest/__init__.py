"""Ingestion: participants manifest, transcripts and survey answers into the study store.

Transactions: the manifest is loaded in one transaction, then **each file is ingested in its own
transaction**. A bad file is reported and leaves nothing behind, while the good files of the same
batch are kept: analysts fix the bad one and re-run, and the re-run skips unchanged files.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TypeVar

from qualipipe import resolve
from qualipipe.errors import InputError, Problem, QualipipeError
from qualipipe.ingest.answer_table_store import TableIngestReport, ingest_answer_table
from qualipipe.ingest.answer_tables import AnswerTable, TableOptions, read_answer_table
from qualipipe.ingest.manifest import ManifestReport, ParticipantLinks, apply_manifest, load_links
from qualipipe.ingest.plaintext import join_short_paragraphs
from qualipipe.ingest.readers import TRANSCRIPT_EXTENSIONS, read_transcript
from qualipipe.ingest.reconcile import (
    NEW,
    UNCHANGED,
    UPDATED,
    LostDecision,
    SourceChange,
    store_source,
    unchanged_source,
)
from qualipipe.ingest.segment import (
    SegmentationParams,
    SentenceSplitter,
    segment_transcript,
    spacy_sentence_splitter,
)
from qualipipe.ingest.survey_answers import (
    SurveyIngestReport,
    ingest_survey_responses,
    read_survey_export,
)
from qualipipe.ingest.turns import (
    INTERVIEWEE,
    INTERVIEWER,
    ReadTranscript,
    Turn,
    is_interviewer_label,
    likely_interviewer,
)
from qualipipe.pseudonymize import name_variants
from qualipipe.records import Participant, Segment, Source, SourceKind, SurveyResponse
from qualipipe.store import Study, finish_run, list_participants, set_meta, start_run, text_hash
from qualipipe.study_names import listed_interviewers
from qualipipe.surveys.instruments import Instrument, load_instrument
from qualipipe.text import fold_key

__all__ = [
    "FileOutcome",
    "IngestReport",
    "LostDecision",
    "SegmentationParams",
    "TableIngestReport",
    "TableOptions",
    "ingest_paths",
    "ingest_survey_responses",
    "ingest_transcript",
    "read_survey_export",
]

SURVEY_EXTENSIONS = (".csv", ".xlsx")
SEGMENTATION_META_KEY = "segmentation"


@dataclass
class FileOutcome:
    path: str
    status: str  # nouveau | inchangé | mis à jour | erreur
    participant_id: str | None = None
    segments: int = 0
    kept: int = 0
    added: int = 0
    retired: int = 0
    words: int = 0
    lost_decisions: list[LostDecision] = field(default_factory=list)
    error: QualipipeError | None = None
    kind: SourceKind | None = None
    participant_segments: int = 0  # segments coded as the participant's words
    interviewer_segments: int = 0  # segments attributed to an interviewer (never coded)
    interviewer_share: float = 0.0  # share of the text (characters) attributed to an interviewer
    speakers: int = 0  # distinct speaker labels of an interview
    likely_interviewer: str = ""  # the label asking clearly the most questions (a hint only)

    @property
    def mostly_interviewer(self) -> bool:
        """More than a third of the text went to an interviewer: worth a look."""
        return self.interviewer_share > 1 / 3

    @property
    def interviewer_unknown(self) -> bool:
        """An interview with several speakers, none recognised as asking the questions: their
        questions are coded as the participant's words until the manifest names the interviewer."""
        return (
            self.kind is not None
            and self.kind.is_interview
            and self.speakers >= 2
            and self.interviewer_segments == 0
        )


@dataclass
class IngestReport:
    manifest: ManifestReport | None = None
    files: list[FileOutcome] = field(default_factory=list)
    surveys: list[SurveyIngestReport] = field(default_factory=list)
    tables: list[TableIngestReport] = field(default_factory=list)
    skipped: list[Path] = field(default_factory=list)  # unsupported files found in folders

    @property
    def failed(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "erreur"]

    @property
    def ok(self) -> bool:
        return not self.failed

    @property
    def lost_decisions(self) -> list[LostDecision]:
        # Each file's outcome carries its lost decisions (survey exports and tables too).
        return [d for f in self.files for d in f.lost_decisions]

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)


def segmentation_signature(
    params: SegmentationParams, kind: SourceKind = SourceKind.TRANSCRIPT
) -> str:
    """Changes when the cutting changes: parameters, or the source kind (an interview is cut at
    speaker turns, a written text at paragraphs)."""
    payload = params.as_dict() if kind.is_interview else {**params.as_dict(), "kind": kind.value}
    return text_hash(json.dumps(payload, sort_keys=True))[:16]


def collect_files(paths: Iterable[Path], *, with_surveys: bool) -> tuple[list[Path], list[Path]]:
    """Files to ingest (given files, supported files inside given folders, recursively) and the
    files of those folders that were skipped because their format is not supported."""
    accepted = TRANSCRIPT_EXTENSIONS + (SURVEY_EXTENSIONS if with_surveys else ())
    files: list[Path] = []
    skipped: list[Path] = []
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            files.append(path)
            continue
        for candidate in sorted(path.rglob("*")):
            if not candidate.is_file() or any(
                part.startswith(".") for part in candidate.relative_to(path).parts
            ):
                continue
            (files if candidate.suffix.lower() in accepted else skipped).append(candidate)
    return files, skipped


# ---------------------------------------------------------------------------------------------
# Who speaks: participant of a file, interviewer turns
# ---------------------------------------------------------------------------------------------


def participant_for_file(
    path: Path, links: ParticipantLinks, participants: dict[str, Participant]
) -> Participant:
    participant_id = links.participant_for_file(path)
    if participant_id is None:
        # A file named after the participant id (`F03.docx`, `F03_entretien.txt`) is accepted.
        stem = fold_key(path.stem)
        participant_id = next(
            (
                pid
                for pid in participants
                if stem == fold_key(pid) or stem.startswith(fold_key(pid) + "_")
            ),
            None,
        )
    if participant_id is None or participant_id not in participants:
        raise InputError(
            f"{path.name} : participant inconnu.",
            [
                Problem(
                    str(path),
                    "aucun participant du manifeste n'a ce fichier ; ajoutez son nom dans la colonne "
                    "« fichier » du manifeste (ou nommez le fichier d'après l'identifiant du "
                    "participant), puis relancez avec --manifest.",
                )
            ],
        )
    return participants[participant_id]


def interviewer_detector(participant: Participant) -> Callable[[Turn], bool]:
    """Interviewer turns: format role, role labels (Enquêteur, Q...), or the manifest's enqueteur."""
    names = {fold_key(n) for n in listed_interviewers(participant.interviewer)}

    def detect(turn: Turn) -> bool:
        if turn.role == INTERVIEWER:
            return True
        if turn.role == INTERVIEWEE or not turn.speaker:
            return False
        if is_interviewer_label(turn.speaker):
            return True
        speaker = fold_key(turn.speaker).strip()
        return any(speaker == n or (len(n) > 3 and n in speaker) for n in names)

    return detect


PREAMBLE_MAX_CHARS = 600  # a transcriber's header is a line or two


def _with_preamble(turns: Sequence[Turn], detect: Callable[[Turn], bool]) -> Callable[[Turn], bool]:
    """Also treat the speakerless lines before the first speaker turn as non-interviewee text.

    Typed transcripts usually open with the transcriber's header ("[Entretien … durée 50 min]"):
    it is kept in the source text but must not be coded as the interviewee's words. A long
    "preamble" is no header but the participant's own text before a late label: kept.
    """
    first_named = next((i for i, turn in enumerate(turns) if turn.speaker), None)
    preamble = {id(turn) for turn in turns[:first_named]} if first_named else set()
    preamble_chars = sum(t.end - t.start for t in turns[:first_named]) if first_named else 0
    if preamble_chars > PREAMBLE_MAX_CHARS:
        preamble = set()

    def check(turn: Turn) -> bool:
        return id(turn) in preamble or detect(turn)

    return check


def speaker_labeller(participant: Participant) -> Callable[[Turn], str]:
    """The participant's own name as a speaker label becomes their pseudonym."""
    variants = (
        {fold_key(v) for v in name_variants(participant.real_name)}
        if participant.real_name
        else set()
    )

    def label(turn: Turn) -> str:
        return participant.pseudonym if fold_key(turn.speaker).strip() in variants else turn.speaker

    return label


# ---------------------------------------------------------------------------------------------
# One transcript
# ---------------------------------------------------------------------------------------------


def _relative(study: Study, path: Path) -> str:
    resolved = path.resolve()
    try:
        return str(resolved.relative_to(study.root.resolve()))
    except ValueError:
        return str(resolved)


def _transcript_metadata(
    transcript: ReadTranscript, path: Path, participant: Participant, kind: SourceKind
) -> dict[str, object]:
    metadata: dict[str, object] = {"encoding": transcript.encoding, "file": path.name}
    names = sorted({fold_key(n) for n in listed_interviewers(participant.interviewer)})
    if kind.is_interview and names:
        # Who asks the questions decides which turns are coded: naming the interviewer in the
        # manifest after a first import must re-mark the turns of an unchanged text.
        metadata["interviewers"] = names
    return metadata


def ingest_transcript(
    study: Study,
    path: Path,
    participant: Participant,
    *,
    params: SegmentationParams,
    splitter: SentenceSplitter | None = None,
    transcript: ReadTranscript | None = None,
    kind: SourceKind = SourceKind.TRANSCRIPT,
) -> SourceChange:
    """Read, segment and store one transcript or written text in its own transaction."""
    transcript = transcript or read_transcript(path)
    source = Source(
        key=f"transcript:{participant.id}:{path.name}",
        kind=kind,
        text=transcript.text,
        participant_id=participant.id,
        territory_id=participant.territory_id,
        path=_relative(study, path),
        format=transcript.format,
        metadata=_transcript_metadata(transcript, path, participant, kind),
    )
    signature = segmentation_signature(params, kind)
    unchanged = unchanged_source(study.conn, source, signature=signature)
    if unchanged is not None:
        return unchanged
    segments = (
        segment_interview(transcript, participant, params, splitter)
        if kind.is_interview
        else segment_written(transcript, params, splitter)
    )
    with study.transaction() as conn:
        return store_source(conn, source, segments, signature=signature)


def segment_interview(
    transcript: ReadTranscript,
    participant: Participant,
    params: SegmentationParams,
    splitter: SentenceSplitter | None,
) -> list[Segment]:
    """Speaker turns, interviewer turns marked (never coded)."""
    return segment_transcript(
        transcript.text,
        transcript.turns,
        params=params,
        is_interviewer=_with_preamble(transcript.turns, interviewer_detector(participant)),
        speaker_label=speaker_labeller(participant),
        splitter=splitter,
    )


def segment_written(
    transcript: ReadTranscript, params: SegmentationParams, splitter: SentenceSplitter | None
) -> list[Segment]:
    """A written text is entirely its author's: paragraphs (short lines and bullets joined to
    their item), long ones cut into sentences. Speaker labels are not looked for."""
    units = join_short_paragraphs(
        transcript.text,
        list(transcript.paragraphs or transcript.turns),
        min_chars=params.min_chars,
        max_chars=params.max_turn_chars,
    )
    return segment_transcript(
        transcript.text, units, params=params, is_interviewer=lambda _: False, splitter=splitter
    )


def _error_outcome(path: Path, error: QualipipeError) -> FileOutcome:
    return FileOutcome(str(path), "erreur", error=error)


def _unexpected_error(path: Path, error: Exception) -> InputError:
    return InputError(
        f"{path.name} n'a pas pu être ingéré.",
        [Problem(str(path), f"erreur inattendue ({type(error).__name__}: {error}) ; signalez-la.")],
    )


def _read_error(path: Path, error: OSError) -> InputError:
    return InputError(
        f"{path.name} est illisible.",
        [
            Problem(
                str(path), f"lecture impossible ({error.strerror or error}) ; vérifiez le fichier."
            )
        ],
    )


# ---------------------------------------------------------------------------------------------
# The batch
# ---------------------------------------------------------------------------------------------


ProgressCallback = Callable[[str, int, int], None]


def ingest_paths(
    study: Study,
    paths: Sequence[Path],
    *,
    manifest: Path | None = None,
    instrument: Path | str | None = None,
    territory: str | None = None,
    params: SegmentationParams | None = None,
    splitter: SentenceSplitter | None = None,
    progress: ProgressCallback | None = None,
    kind: SourceKind | None = None,
    table_options: TableOptions | None = None,
) -> IngestReport:
    """Ingest files and folders; one bad file is reported, the others are ingested.

    `manifest` (CSV/XLSX) is loaded first (all or nothing: a manifest error stops everything).
    `.csv`/`.xlsx` files are LimeSurvey exports of `instrument` (a YAML path or a name in
    `surveys/`) for `territory`. Other files are of the kind the manifest gives their
    participant (column « type_source »), else `kind`, else interviews. Without an instrument,
    a `.csv`/`.xlsx` file named on its own is a table of written answers (`table_options`).
    """
    params = params or SegmentationParams()
    report = IngestReport()
    if manifest is not None:
        report.manifest = apply_manifest(study, Path(manifest))
    loaded_instrument = _load_instrument(study, instrument) if instrument else None
    territory_id = study.config.territory(territory).id if territory else None
    if loaded_instrument is not None and territory_id is None:
        raise InputError(
            "Territoire manquant pour l'export de questionnaire.",
            [Problem("--territory", "indiquez le territoire des réponses avec --territory ID.")],
        )
    files, report.skipped = collect_files(paths, with_surveys=loaded_instrument is not None)
    links = load_links(study)
    participants = {p.id: p for p in list_participants(study.conn, with_real_names=True)}
    # Every file is read (and refused, for a bad one) before the study is written: when no file
    # is usable, the study stays byte for byte as it was.
    read: dict[Path, _Read | FileOutcome] = {}
    for index, path in enumerate(files):
        if progress:
            progress(path.name, index, len(files))
        if path.suffix.lower() in SURVEY_EXTENSIONS and loaded_instrument is not None:
            read[path] = _read_survey_file(path, loaded_instrument, territory_id or "")
        elif path.suffix.lower() in SURVEY_EXTENSIONS:
            read[path] = _guarded_read(
                path,
                partial(read_answer_table, path, study.config, table_options, territory_id, kind),
            )
        else:
            read[path] = _read_transcript_file(path, links, participants, kind)
    if progress:
        progress("", len(files), len(files))
    if all(isinstance(r, FileOutcome) for r in read.values()) and report.manifest is None:
        report.files = [r for r in read.values() if isinstance(r, FileOutcome)]
        return report
    with study.transaction() as conn:
        run_id = start_run(conn, "ingest", {"files": [str(f) for f in files], **params.as_dict()})
        set_meta(conn, SEGMENTATION_META_KEY, params.as_dict())
    lazy_splitter = _LazySplitter(splitter)
    for path, prepared in read.items():
        if isinstance(prepared, FileOutcome):
            report.files.append(prepared)
        elif isinstance(prepared, AnswerTable):
            report.files.append(
                _ingest_table_file(study, prepared, params, lazy_splitter, report, progress)
            )
        elif isinstance(prepared, _ReadSurvey):
            report.files.append(
                _ingest_survey_file(study, path, prepared, params, lazy_splitter, report)
            )
        else:
            report.files.append(
                _ingest_transcript_file(study, path, prepared, params, lazy_splitter)
            )
    with study.transaction() as conn:
        finish_run(conn, run_id, summarize(report))
    return report


@dataclass(frozen=True)
class _ReadTranscript:
    transcript: ReadTranscript
    participant: Participant
    kind: SourceKind


@dataclass(frozen=True)
class _ReadSurvey:
    instrument: Instrument
    responses: list[SurveyResponse]


_Read = _ReadTranscript | _ReadSurvey | AnswerTable


def _read_transcript_file(
    path: Path,
    links: ParticipantLinks,
    participants: dict[str, Participant],
    default_kind: SourceKind | None,
) -> _ReadTranscript | FileOutcome:
    try:
        transcript = read_transcript(path)
        participant = participant_for_file(path, links, participants)
        kind = links.kinds.get(participant.id) or default_kind or SourceKind.TRANSCRIPT
    except QualipipeError as error:
        return _error_outcome(path, error)
    except OSError as error:
        return _error_outcome(path, _read_error(path, error))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        return _error_outcome(path, _unexpected_error(path, error))
    return _ReadTranscript(transcript, participant, kind)


def _ingest_transcript_file(
    study: Study,
    path: Path,
    read: _ReadTranscript,
    params: SegmentationParams,
    splitter: SentenceSplitter,
) -> FileOutcome:
    transcript, participant, kind = read.transcript, read.participant, read.kind
    try:
        change = ingest_transcript(
            study,
            path,
            participant,
            params=params,
            splitter=splitter,
            transcript=transcript,
            kind=kind,
        )
    except QualipipeError as error:
        return _error_outcome(path, error)
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
        return _error_outcome(path, _unexpected_error(path, error))
    own, asked, share = speaker_split(study, change.source_id)
    return FileOutcome(
        str(path),
        change.status,
        participant.id,
        change.segments,
        change.kept,
        change.added,
        change.retired,
        sum(
            len(t.within(transcript.text).split())
            for t in (transcript.turns if kind.is_interview else transcript.paragraphs)
            or transcript.turns
        ),
        change.lost_decisions,
        kind=kind,
        participant_segments=own,
        interviewer_segments=asked,
        interviewer_share=share,
        speakers=len({t.speaker for t in transcript.turns if t.speaker}),
        likely_interviewer=likely_interviewer(transcript.turns, transcript.text),
    )


def speaker_split(study: Study, source_id: int) -> tuple[int, int, float]:
    """Segments of the participant, segments of an interviewer, interviewer share of the text."""
    counts = {0: (0, 0), 1: (0, 0)}
    for row in study.conn.execute(
        'SELECT is_interviewer, count(*), sum("end" - start) FROM segments '
        "WHERE source_id = ? AND retired = 0 GROUP BY is_interviewer",
        (source_id,),
    ):
        counts[int(row[0])] = (int(row[1]), int(row[2] or 0))
    chars = counts[0][1] + counts[1][1]
    return counts[0][0], counts[1][0], counts[1][1] / chars if chars else 0.0


_R = TypeVar("_R")


def _guarded_read(path: Path, read: Callable[[], _R]) -> _R | FileOutcome:
    """Run a file's reader: its French error, or an OS error, becomes the file's outcome."""
    try:
        return read()
    except QualipipeError as error:
        return _error_outcome(path, error)
    except OSError as error:
        return _error_outcome(path, _read_error(path, error))


def _read_survey_file(
    path: Path, instrument: Instrument, territory_id: str
) -> _ReadSurvey | FileOutcome:
    return _guarded_read(
        path,
        lambda: _ReadSurvey(instrument, list(read_survey_export(path, instrument, territory_id))),
    )


def _ingest_survey_file(
    study: Study,
    path: Path,
    read: _ReadSurvey,
    params: SegmentationParams,
    splitter: SentenceSplitter,
    report: IngestReport,
) -> FileOutcome:
    try:
        survey = ingest_survey_responses(
            study,
            read.instrument,
            read.responses,
            params=params,
            splitter=splitter,
        )
    except QualipipeError as error:
        return _error_outcome(path, error)
    report.surveys.append(survey)
    responses = survey.responses
    status = NEW if responses.new else UPDATED if responses.changed else UNCHANGED
    return FileOutcome(
        str(path),
        status,
        None,
        sum(c.segments for c in survey.sources),
        sum(c.kept for c in survey.sources),
        sum(c.added for c in survey.sources),
        sum(c.retired for c in survey.sources),
        lost_decisions=[d for c in survey.sources for d in c.lost_decisions],
    )


def _ingest_table_file(
    study: Study,
    read: AnswerTable,
    params: SegmentationParams,
    splitter: SentenceSplitter,
    report: IngestReport,
    progress: ProgressCallback | None,
) -> FileOutcome:
    path = read.path
    try:
        table = ingest_answer_table(
            study,
            read,
            relative_path=_relative(study, path),
            params=params,
            signature=segmentation_signature(params, read.kind),
            splitter=splitter,
            progress=progress,
        )
    except QualipipeError as error:
        return _error_outcome(path, error)
    report.tables.append(table)
    return FileOutcome(
        str(path),
        table.status,
        None,
        table.total("segments"),
        table.total("kept"),
        table.total("added"),
        table.total("retired"),
        lost_decisions=table.lost_decisions,
        kind=read.kind,
        participant_segments=table.total("segments"),
    )


def _load_instrument(study: Study, instrument: Path | str) -> Instrument:
    return load_instrument(resolve.instrument(str(instrument), study_root=study.root))


class _LazySplitter:
    """Loads spaCy only when a punctuated long turn needs sentence boundaries."""

    def __init__(self, splitter: SentenceSplitter | None) -> None:
        self._splitter = splitter

    def __call__(self, texts: list[str]) -> list[list[tuple[int, int]]]:
        if self._splitter is None:
            self._splitter = spacy_sentence_splitter()
        return self._splitter(texts)


def summarize(report: IngestReport) -> dict[str, object]:
    return {
        "fichiers": len(report.files),
        NEW: report.count(NEW),
        UPDATED: report.count(UPDATED),
        UNCHANGED: report.count(UNCHANGED),
        "erreurs": [f.path for f in report.failed],
        "décisions non reportées": [d.decision_id for d in report.lost_decisions],
    }
