"""Typed records passed between stages (no dicts across module boundaries)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    FOUNDER = "fondateur"
    ACTOR = "acteur"
    CONTRIBUTOR = "contributeur"  # a citizen or author of a written contribution or report


class ActorType(StrEnum):
    COLLECTIVITE = "collectivité"
    ETAT = "État/opérateur public"
    ENTREPRISE = "entreprise"
    ESS = "structure de l'ESS"
    SIAE = "SIAE"
    CHAMBRE = "chambre consulaire"
    RECHERCHE = "recherche/formation"
    FINANCEUR = "financeur"
    ACCOMPAGNEMENT = "accompagnement/réseau"
    CITOYEN = "citoyen"
    AUTRE = "autre"


class SourceKind(StrEnum):
    """What a source is; wording in outputs and which codes apply follow it."""

    TRANSCRIPT = "transcript"  # interview transcript (entretien)
    SURVEY = "survey"  # survey answer (réponse de questionnaire)
    WRITTEN = "written"  # written contribution (contribution écrite)
    WORKSHOP = "workshop"  # workshop notes (notes d'atelier)
    REPORT = "report"  # meeting report (compte rendu de réunion)

    @property
    def is_interview(self) -> bool:
        """Only interviews have speakers to tell apart; everything else is its author's text."""
        return self is SourceKind.TRANSCRIPT


# What analysts type (manifest column « type_source », `ingest --type`) and read in outputs.
SOURCE_KIND_WORDS = {
    "entretien": SourceKind.TRANSCRIPT,
    "transcription": SourceKind.TRANSCRIPT,
    "contribution": SourceKind.WRITTEN,
    "contribution-ecrite": SourceKind.WRITTEN,
    "ecrit": SourceKind.WRITTEN,
    "compte-rendu": SourceKind.REPORT,
    "cr": SourceKind.REPORT,
    "atelier": SourceKind.WORKSHOP,
    "notes-atelier": SourceKind.WORKSHOP,
}
INGEST_TYPES = ("entretien", "contribution", "compte-rendu", "atelier")
# (singular, plural) as shown to analysts.
SOURCE_KIND_NOUNS = {
    SourceKind.TRANSCRIPT: ("entretien", "entretiens"),
    SourceKind.SURVEY: ("réponse", "réponses"),
    SourceKind.WRITTEN: ("contribution", "contributions"),
    SourceKind.WORKSHOP: ("notes d'atelier", "notes d'atelier"),
    SourceKind.REPORT: ("compte rendu", "comptes rendus"),
}


class Action(StrEnum):
    """What an analyst did to a code on a segment. The history is append-only."""

    ACCEPT = "accept"
    REJECT = "reject"
    ADD = "add"
    COMMENT = "comment"


@dataclass(frozen=True)
class Territory:
    id: str
    name: str
    ptce_name: str
    ptce_type: str  # "filière" | "généraliste"
    stage: str  # "émergent" | "existant"
    setting: str  # "rural" | "urbain"
    communes: tuple[str, ...] = ()  # INSEE commune codes, kept as text ("01004", "2A004")
    epci_siren: tuple[str, ...] = ()


@dataclass(frozen=True)
class Participant:
    id: str
    territory_id: str
    role: Role
    pseudonym: str
    real_name: str = ""
    organisation: str = ""
    actor_type: str = ActorType.AUTRE.value
    consent: bool = True
    interview_date: str = ""
    interviewer: str = ""


@dataclass(frozen=True)
class Source:
    """One text as read: a transcript, or one free-text survey answer."""

    key: str  # stable identity across re-ingests (e.g. relative path, or survey:instrument:resp:question)
    kind: SourceKind
    text: str  # NFC, "\n" line ends; segments are offsets into it
    participant_id: str | None = None
    territory_id: str | None = None
    path: str = ""
    format: str = ""
    instrument: str = ""
    question_code: str = ""
    metadata: dict[str, object] = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class Span:
    """A stretch of a stored text, by offsets: `text[start:end]` (a source's text never changes
    once stored, so offsets are how segments, speaker turns and their timed pieces point into it)."""

    start: int
    end: int

    def within(self, text: str) -> str:
        """The stretch of `text` this span covers."""
        return text[self.start : self.end]


@dataclass(frozen=True)
class Segment(Span):
    """A coding unit: `source.text[start:end] == text` always holds."""

    text: str
    speaker: str = ""
    is_interviewer: bool = False
    section: str = ""
    start_time: float | None = None
    end_time: float | None = None
    ordinal: int = 0
    id: int | None = None
    source_id: int | None = None


@dataclass(frozen=True)
class Scope:
    """Where a family or code applies: allow-lists of participant roles and source kinds.

    None means "no restriction" on that axis. An allow-list excludes what it does not name,
    including roles or kinds added later and segments without a participant.
    """

    roles: tuple[str, ...] | None = None
    sources: tuple[str, ...] | None = None

    def allows(self, role: str | None, kind: str) -> bool:
        if self.roles is not None and role not in self.roles:
            return False
        return self.sources is None or kind in self.sources


@dataclass(frozen=True)
class Code:
    id: str  # stable identifier, e.g. BES_FINANCEMENT
    label: str
    family: str
    definition: str = ""
    parent: str | None = None
    include: str = ""  # when to use
    exclude: str = ""  # when not to use
    expressions: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    color: str | None = None
    codable: bool = True
    applies_to: Scope | None = None  # None: inherits its parent's scope (family: anywhere)


@dataclass(frozen=True)
class Codebook:
    name: str
    version: str
    codes: tuple[Code, ...]
    description: str = ""
    path: str = ""

    def by_id(self) -> dict[str, Code]:
        return {code.id: code for code in self.codes}

    def codable(self) -> list[Code]:
        return [code for code in self.codes if code.codable]


@dataclass(frozen=True)
class Suggestion:
    """A code the machine proposes for a segment, with its score and the reason shown."""

    segment_id: int
    code_id: str
    score: float
    method: str  # "lexique", "sémantique", "supervisé", "combiné"
    explanation: str  # French reason shown to analysts
    model_version: str = ""
    codebook_version_id: int | None = None


@dataclass(frozen=True)
class Decision:
    """One analyst's decision on a segment (append-only history; the latest one counts)."""

    segment_id: int
    action: Action
    coder: str
    code_id: str | None = None
    comment: str = ""
    origin: str = ""  # file the decision came from
    decided_at: str = ""
    codebook_version_id: int | None = None
    id: int | None = None


@dataclass(frozen=True)
class SurveyResponse:
    """One LimeSurvey response row, from the API (`survey fetch`) or an export file."""

    survey_id: int  # 0 when read from an export file not linked to a deployment
    response_id: int
    instrument: str  # survey file stem, e.g. "priorisation_enjeux"
    territory_id: str
    token: str
    submitted: bool
    values: dict[str, str]  # export column with code headings ("P01", "P02[SQ001]") -> short answer
