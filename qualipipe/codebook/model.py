"""The codebook as data: a YAML file with French keys, read into `records.Codebook`.

The file is parsed at the YAML node level (not with `safe_load`) so that every problem can be
reported with its line, and so that duplicate keys — which `safe_load` silently drops — are caught.
All problems of a file are collected and reported at once (`InputError`).

Schema (documented for analysts in docs/codebook.md)::

    nom: Grille PTCE
    version: "1.0"
    description: ...
    familles:
      - id: BES                       # a family = root code, never applied to text
        libelle: Besoins du PTCE
        definition: ...
        couleur: "#FF7F0E"
        codes:
          - id: BES_FINANCEMENT
            libelle: Financement
            definition: ...
            quand_utiliser: ...
            quand_ne_pas_utiliser: ...
            expressions: [financement, subvention]
            exemples: ["..."]
            couleur: "#RRGGBB"       # optional
            codable: oui             # optional, default oui
            parent: BES_AUTRE        # optional: another code of the same family (default: family)
            s_applique_a:            # optional (family or code): where it applies (allow-lists)
              roles: [fondateur]     # participant roles (records.Role values)
              sources: [transcript]  # source kinds (records.SourceKind values)
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from qualipipe import yamlio
from qualipipe.errors import InputError, Problem
from qualipipe.records import Code, Codebook, Role, Scope, SourceKind
from qualipipe.store import Study

CODE_ID_PATTERN = re.compile(r"^[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*$")
COLOR_PATTERN = re.compile(r"^#(?:[0-9A-Fa-f]{6}|[0-9A-Fa-f]{3})$")

TOP_KEYS = ("nom", "version", "description", "familles")
FAMILY_KEYS = ("id", "libelle", "definition", "couleur", "s_applique_a", "codes")
SCOPE_KEY = "s_applique_a"
SCOPE_VALUES = {
    "roles": tuple(r.value for r in Role),
    "sources": tuple(k.value for k in SourceKind),
}
CODE_KEYS = (
    "id",
    "libelle",
    "definition",
    "quand_utiliser",
    "quand_ne_pas_utiliser",
    "expressions",
    "exemples",
    "couleur",
    "codable",
    "parent",
    "s_applique_a",
)
TRUE_WORDS = {"oui", "vrai", "true", "yes", "o"}
FALSE_WORDS = {"non", "faux", "false", "no", "n"}


def normalize_text(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


def normalize_color(value: str) -> str:
    """`#abc` / `#aabbcc` → `#AABBCC` (the form REFI-QDA tools expect)."""
    digits = value[1:]
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return "#" + digits.upper()


@dataclass
class _Entry:
    """A code as read, with the line of each field (for messages about relations)."""

    code: Code
    line: int
    parent_line: int
    explicit_parent: bool


class _Reader:
    """Walks the YAML node tree, building codes and collecting every problem on the way."""

    def __init__(self, file_label: str) -> None:
        self.file = file_label
        self.problems: list[Problem] = []
        # The mapping being read: where a missing field is reported.
        self._last_anchor: Node | None = None
        # Required keys already reported as misspelled: not reported missing a second time.
        self._misspelled: set[str] = set()

    def problem(self, node: Node | None, message: str) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.problems.append(Problem(file=self.file, message=message, line=line))

    # -- generic node helpers -------------------------------------------------------------

    def mapping(self, node: Node, where: str, allowed: tuple[str, ...]) -> dict[str, Node]:
        if not isinstance(node, MappingNode):
            self.problem(node, f"{where} : une liste de champs « clé: valeur » est attendue ici.")
            return {}
        fields: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)  # duplicate keys were refused by yamlio.compose
            if key not in allowed:
                close = difflib.get_close_matches(normalize_key(key), allowed, n=1, cutoff=0.6)
                hint = f" Vouliez-vous dire « {close[0]} » ?" if close else ""
                self._misspelled.update(close)
                self.problem(
                    key_node,
                    f"{where} : champ inconnu « {key} ».{hint} "
                    f"Champs possibles : {', '.join(allowed)}.",
                )
                continue
            fields[key] = value_node
        return fields

    def text(self, fields: dict[str, Node], key: str, where: str, *, required: bool) -> str:
        node = fields.get(key)
        if node is None or (isinstance(node, ScalarNode) and node.tag.endswith(":null")):
            if required and key not in self._misspelled:
                self.problem(
                    node or self._last_anchor,
                    f"{where} : le champ « {key} » est obligatoire ; ajoutez-le.",
                )
            return ""
        if not isinstance(node, ScalarNode):
            self.problem(node, f"{where} : « {key} » doit être un texte, pas une liste.")
            return ""
        value = normalize_text(str(node.value))
        if required and not value:
            self.problem(node, f"{where} : « {key} » est vide ; écrivez-le.")
        return value

    def text_list(self, fields: dict[str, Node], key: str, where: str) -> tuple[str, ...]:
        node = fields.get(key)
        if node is None or (isinstance(node, ScalarNode) and node.tag.endswith(":null")):
            return ()
        if not isinstance(node, SequenceNode):
            self.problem(
                node,
                f"{where} : « {key} » doit être une liste : une ligne « - texte » par élément, "
                f"ou les éléments entre crochets séparés par des virgules.",
            )
            return ()
        items: list[str] = []
        for item in node.value:
            if not isinstance(item, ScalarNode):
                self.problem(item, f"{where} : chaque élément de « {key} » doit être un texte.")
                continue
            value = normalize_text(str(item.value))
            if not value:
                self.problem(item, f"{where} : un élément de « {key} » est vide ; retirez-le.")
                continue
            items.append(value)
        return tuple(items)

    def color(self, fields: dict[str, Node], where: str) -> str | None:
        node = fields.get("couleur")
        if node is None or (isinstance(node, ScalarNode) and node.tag.endswith(":null")):
            return None
        value = str(node.value).strip() if isinstance(node, ScalarNode) else ""
        if not COLOR_PATTERN.match(value):
            self.problem(
                node,
                f"{where} : couleur « {value} » invalide ; écrivez-la en hexadécimal entre "
                f'guillemets, par exemple "#1F77B4".',
            )
            return None
        return normalize_color(value)

    def flag(self, fields: dict[str, Node], key: str, where: str, default: bool) -> bool:
        node = fields.get(key)
        if node is None:
            return default
        word = str(node.value).strip().lower() if isinstance(node, ScalarNode) else ""
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        self.problem(node, f"{where} : « {key} » doit valoir oui ou non (lu : « {word} »).")
        return default

    def scope(self, fields: dict[str, Node], where: str) -> Scope | None:
        """`s_applique_a: {roles: [...], sources: [...]}`, values checked against the enums."""
        node = fields.get(SCOPE_KEY)
        if node is None or (isinstance(node, ScalarNode) and node.tag.endswith(":null")):
            return None
        inner = self.mapping(node, f"{where}, {SCOPE_KEY}", tuple(SCOPE_VALUES))
        lists: dict[str, tuple[str, ...]] = {}
        for key, allowed in SCOPE_VALUES.items():
            if key not in inner:
                continue
            values = self.text_list(inner, key, f"{where}, {SCOPE_KEY}")
            for value_node, value in zip(_items(inner[key]), values, strict=False):
                if value not in allowed:
                    self.problem(
                        value_node,
                        f"{where}, {SCOPE_KEY} : « {value} » n'est pas une valeur possible de "
                        f"« {key} » ; valeurs possibles : {', '.join(allowed)}.",
                    )
            lists[key] = tuple(v for v in values if v in allowed)
        if isinstance(node, MappingNode) and not lists:
            self.problem(
                node,
                f"{where} : « {SCOPE_KEY} » doit contenir « roles » et/ou « sources » (listes).",
            )
            return None
        return Scope(roles=lists.get("roles"), sources=lists.get("sources"))

    def identifier(self, fields: dict[str, Node], node: Node, where: str) -> str:
        id_node = fields.get("id")
        if id_node is None or not isinstance(id_node, ScalarNode) or not str(id_node.value):
            self.problem(id_node or node, f"{where} : le champ « id » est obligatoire.")
            return ""
        value = str(id_node.value).strip()
        if not CODE_ID_PATTERN.match(value):
            suggestion = suggest_identifier(value)
            self.problem(
                id_node,
                f"{where} : identifiant « {value} » mal formé ; utilisez des majuscules sans "
                f"accent, des chiffres et des « _ » (par exemple « {suggestion} »).",
            )
        return value


def _items(node: Node) -> list[Node]:
    return list(node.value) if isinstance(node, SequenceNode) else []


def normalize_key(key: str) -> str:
    """`Libellé` → `libelle`, so that a near miss gets a useful suggestion."""
    stripped = unicodedata.normalize("NFKD", key.lower())
    return "".join(ch for ch in stripped if not unicodedata.combining(ch)).replace(" ", "_")


def suggest_identifier(text: str) -> str:
    ascii_text = normalize_key(text).upper()
    cleaned = re.sub(r"[^A-Z0-9]+", "_", ascii_text).strip("_")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = "CODE_" + cleaned
    return cleaned or "CODE"


def parse_codebook(text: str, file_label: str) -> tuple[Codebook | None, list[Problem]]:
    """Parse codebook YAML text; return the codebook (None if unusable) and every problem."""
    reader = _Reader(file_label)
    try:
        root = yamlio.compose(text, file_label)
    except InputError as error:
        return None, list(error.problems)
    if root is None:
        return None, [Problem(file=file_label, message="le fichier est vide.")]
    reader._last_anchor = root
    top = reader.mapping(root, "en-tête", TOP_KEYS)
    name = reader.text(top, "nom", "en-tête", required=True)
    version = reader.text(top, "version", "en-tête", required=True)
    description = reader.text(top, "description", "en-tête", required=False)
    entries = _read_families(reader, top.get("familles"), root)
    _check_relations(reader, entries)
    codebook = Codebook(
        name=name,
        version=version,
        description=description,
        codes=tuple(entry.code for entry in entries),
        path=file_label,
    )
    return codebook, reader.problems


def _read_families(reader: _Reader, node: Node | None, root: Node) -> list[_Entry]:
    if node is None:
        reader.problem(root, "le champ « familles » est obligatoire (la liste des familles).")
        return []
    if not isinstance(node, SequenceNode) or not node.value:
        reader.problem(node, "« familles » doit être une liste non vide de familles.")
        return []
    entries: list[_Entry] = []
    for family_node in node.value:
        where = f"famille {_peek_id(family_node) or f'ligne {family_node.start_mark.line + 1}'}"
        reader._last_anchor = family_node
        reader._misspelled = set()
        fields = reader.mapping(family_node, where, FAMILY_KEYS)
        if not fields:
            continue
        family_id = reader.identifier(fields, family_node, where)
        where = f"famille {family_id}" if family_id else where
        family = Code(
            id=family_id,
            label=reader.text(fields, "libelle", where, required=True),
            family=family_id,
            definition=reader.text(fields, "definition", where, required=True),
            color=reader.color(fields, where),
            codable=False,
            applies_to=reader.scope(fields, where),
        )
        line = family_node.start_mark.line + 1
        entries.append(_Entry(family, line, line, explicit_parent=False))
        codes_node = fields.get("codes")
        if not isinstance(codes_node, SequenceNode) or not codes_node.value:
            reader.problem(
                codes_node or family_node,
                f"{where} : « codes » doit être une liste non vide ; une famille sans code ne "
                f"sert à rien.",
            )
            continue
        for code_node in codes_node.value:
            entry = _read_code(reader, code_node, family_id)
            if entry is not None:
                entries.append(entry)
    return entries


def _peek_id(node: Node) -> str:
    """The id written in a mapping, if any, to name the code in messages about its fields."""
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if key_node.value == "id" and isinstance(value_node, ScalarNode):
                return str(value_node.value).strip()
    return ""


def _read_code(reader: _Reader, node: Node, family_id: str) -> _Entry | None:
    where = f"code {_peek_id(node) or f'ligne {node.start_mark.line + 1}'}"
    reader._last_anchor = node
    reader._misspelled = set()
    fields = reader.mapping(node, where, CODE_KEYS)
    if not fields:
        return None
    code_id = reader.identifier(fields, node, where)
    where = f"code {code_id}" if code_id else where
    parent_node = fields.get("parent")
    parent = reader.text(fields, "parent", where, required=False) or None
    code = Code(
        id=code_id,
        label=reader.text(fields, "libelle", where, required=True),
        family=family_id,
        definition=reader.text(fields, "definition", where, required=True),
        parent=parent or family_id,
        include=reader.text(fields, "quand_utiliser", where, required=False),
        exclude=reader.text(fields, "quand_ne_pas_utiliser", where, required=False),
        expressions=reader.text_list(fields, "expressions", where),
        examples=reader.text_list(fields, "exemples", where),
        color=reader.color(fields, where),
        codable=reader.flag(fields, "codable", where, default=True),
        applies_to=reader.scope(fields, where),
    )
    line = node.start_mark.line + 1
    parent_line = parent_node.start_mark.line + 1 if parent_node is not None else line
    return _Entry(code, line, parent_line, explicit_parent=parent is not None)


def _check_relations(reader: _Reader, entries: list[_Entry]) -> None:
    """Duplicate ids, unknown parents, parents in another family, cycles."""
    first_line: dict[str, int] = {}
    by_id: dict[str, _Entry] = {}
    for entry in entries:
        code_id = entry.code.id
        if not code_id:
            continue
        if code_id in first_line:
            reader.problems.append(
                Problem(
                    file=reader.file,
                    line=entry.line,
                    message=f"identifiant « {code_id} » en double (déjà utilisé ligne "
                    f"{first_line[code_id]}) ; chaque code doit avoir un identifiant unique.",
                )
            )
            continue
        first_line[code_id] = entry.line
        by_id[code_id] = entry
    for entry in by_id.values():
        code = entry.code
        if not entry.explicit_parent or code.parent is None:
            continue
        where = f"code {code.id}"
        if code.parent == code.id:
            reader.problems.append(
                Problem(
                    reader.file,
                    f"{where} : un code ne peut pas être son propre parent.",
                    entry.parent_line,
                )
            )
        elif code.parent not in by_id:
            close = difflib.get_close_matches(code.parent, list(by_id), n=1)
            hint = f" Vouliez-vous dire « {close[0]} » ?" if close else ""
            reader.problems.append(
                Problem(
                    reader.file,
                    f"{where} : le parent « {code.parent} » n'existe pas.{hint}",
                    entry.parent_line,
                )
            )
        elif by_id[code.parent].code.family != code.family:
            reader.problems.append(
                Problem(
                    reader.file,
                    f"{where} : le parent « {code.parent} » est dans la famille "
                    f"{by_id[code.parent].code.family}, pas dans {code.family} ; placez le code "
                    f"sous la famille de son parent.",
                    entry.parent_line,
                )
            )
    for cycle in _parent_cycles(by_id):
        first = by_id[cycle[0]]
        reader.problems.append(
            Problem(
                reader.file,
                "cycle de parents : "
                + " → ".join([*cycle, cycle[0]])
                + " ; un code ne peut pas descendre de lui-même, corrigez un des « parent ».",
                first.parent_line,
            )
        )


def _parent_cycles(by_id: dict[str, _Entry]) -> list[list[str]]:
    cycles: list[list[str]] = []
    in_cycle: set[str] = set()
    for start in by_id:
        path: list[str] = []
        current: str | None = start
        while current in by_id and current not in path and current not in in_cycle:
            path.append(current)
            parent = by_id[current].code.parent
            current = parent if parent != current else None
        if current in path:
            cycle = path[path.index(current) :]
            if not in_cycle.intersection(cycle):
                cycles.append(cycle)
                in_cycle.update(cycle)
    return cycles


def read_codebook_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"Codebook introuvable : {path}",
            [Problem(str(path), "ce fichier n'existe pas ; vérifiez le chemin.")],
        ) from None
    except UnicodeDecodeError:
        raise InputError(
            f"Codebook illisible : {path}",
            [Problem(str(path), "le fichier n'est pas en UTF-8 ; réenregistrez-le en UTF-8.")],
        ) from None


def check_codebook(path: Path | str) -> tuple[Codebook | None, list[Problem]]:
    """Every problem of a codebook file (empty list = valid)."""
    path = Path(path)
    return parse_codebook(read_codebook_text(path), str(path))


def codebook_from_text(text: str, file_label: str) -> Codebook:
    codebook, problems = parse_codebook(text, file_label)
    if problems or codebook is None:
        raise InputError(
            f"Le codebook {file_label} contient {len(problems)} problème(s) ; corrigez-les "
            f"(qualipipe codebook check {file_label}) :",
            problems,
        )
    return codebook


def load_codebook(path: Path | str) -> Codebook:
    """Read and validate a codebook file; `InputError` lists every problem at once."""
    path = Path(path)
    return codebook_from_text(read_codebook_text(path), str(path))


def code_depths(codebook: Codebook) -> dict[str, int]:
    """0 for a family, 1 for its direct codes, and so on."""
    by_id = codebook.by_id()
    depths: dict[str, int] = {}
    for code in codebook.codes:
        depth, current, seen = 0, code, {code.id}
        while current.parent and current.parent in by_id and current.parent not in seen:
            seen.add(current.parent)
            current = by_id[current.parent]
            depth += 1
        depths[code.id] = depth
    return depths


def children_map(codebook: Codebook) -> dict[str | None, list[Code]]:
    """parent id (None for families) -> its children, in file order."""
    children: dict[str | None, list[Code]] = {}
    for code in codebook.codes:
        children.setdefault(code.parent, []).append(code)
    return children


# ---------------------------------------------------------------------------------------------
# Writing a codebook back to YAML (used by `codebook import`)
# ---------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def codebook_to_yaml(codebook: Codebook, *, header: str = "") -> str:
    """The codebook in the documented YAML schema (families grouping their codes)."""
    document: dict[str, object] = {"nom": codebook.name, "version": codebook.version}
    if codebook.description:
        document["description"] = codebook.description
    families = []
    for family in (code for code in codebook.codes if code.parent is None):
        entry: dict[str, object] = {
            "id": family.id,
            "libelle": family.label,
            "definition": family.definition,
        }
        if family.color:
            entry["couleur"] = family.color
        if family.applies_to is not None:
            entry[SCOPE_KEY] = scope_mapping(family.applies_to)
        entry["codes"] = [
            _code_to_mapping(code)
            for code in codebook.codes
            if code.parent is not None and code.family == family.id
        ]
        families.append(entry)
    document["familles"] = families
    body = yaml.dump(
        document, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=100, indent=2
    )
    return header + body


def _code_to_mapping(code: Code) -> dict[str, object]:
    entry: dict[str, object] = {"id": code.id}
    if code.parent and code.parent != code.family:
        entry["parent"] = code.parent
    entry["libelle"] = code.label
    entry["definition"] = code.definition
    if code.include:
        entry["quand_utiliser"] = code.include
    if code.exclude:
        entry["quand_ne_pas_utiliser"] = code.exclude
    if code.expressions:
        entry["expressions"] = list(code.expressions)
    if code.examples:
        entry["exemples"] = list(code.examples)
    if code.color:
        entry["couleur"] = code.color
    if not code.codable:
        entry["codable"] = False
    if code.applies_to is not None:
        entry[SCOPE_KEY] = scope_mapping(code.applies_to)
    return entry


def scope_mapping(scope: Scope) -> dict[str, list[str]]:
    entry = {}
    if scope.roles is not None:
        entry["roles"] = list(scope.roles)
    if scope.sources is not None:
        entry["sources"] = list(scope.sources)
    return entry


# ---------------------------------------------------------------------------------------------
# Loading into a study (implemented in codebook_changes, which needs the store)
# ---------------------------------------------------------------------------------------------


def study_codebook(study: Study) -> Codebook:
    """The codebook currently loaded in the study, with every field, as it was loaded."""
    row = study.conn.execute(
        "SELECT document, source_path FROM codebook_versions ORDER BY id DESC LIMIT 1"
    ).fetchone()
    if row is None:
        raise InputError(
            "Aucun codebook n'est chargé dans cette étude.",
            [
                Problem(
                    str(study.root),
                    "chargez-en un (qualipipe codebook load codebooks/ptce.yaml) ou donnez le "
                    "fichier YAML à exporter.",
                )
            ],
        )
    return codebook_from_text(row["document"], row["source_path"] or "codebook de l'étude")
