"""Codebook exchange: REFI-QDA `.qdc` (NVivo, ATLAS.ti, MAXQDA, QualCoder…), `.xlsx`, `.docx`.

REFI-QDA Codebook Exchange (QDA-XML 1.0, namespace `urn:QDA-XML:codebook:1.0`) only knows a code's
name, colour, codability, nesting and one free `Description`. So that nothing of ours is lost on a
round trip, the description carries the other fields under French headings (definition first, then
« Quand l'utiliser : », « Expressions : »…, and the qualipipe identifier last); a file from another
tool, without those headings, gets its whole description as the definition.

GUIDs are uuid5 of the code id: exporting the same codebook twice gives the same bytes, and
export → import → export is byte-identical.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from docx import Document
from docx.enum.section import WD_ORIENT
from docx.shared import Pt, RGBColor
from lxml import etree
from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side

from qualipipe import resources
from qualipipe.codebook.model import (
    CODE_ID_PATTERN,
    COLOR_PATTERN,
    children_map,
    code_depths,
    codebook_to_yaml,
    normalize_color,
    normalize_text,
    suggest_identifier,
)
from qualipipe.containers import MB, ContainerLimits
from qualipipe.errors import InputError, Problem
from qualipipe.files import atomic_write, write_bytes_atomic, write_text_atomic
from qualipipe.records import Code, Codebook, Scope
from qualipipe.xlsx_layout import fit_row_heights, print_setup

QDC_NAMESPACE = "urn:QDA-XML:codebook:1.0"
QDC = f"{{{QDC_NAMESPACE}}}"
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:qualipipe:codebook")
XSD_PATH = resources.data_dir() / "refi-qda-codebook.xsd"
ORIGIN_PATTERN = re.compile(r"^qualipipe : (?P<name>.*) \(version (?P<version>.*)\)$")

HEAD_INCLUDE = "Quand l'utiliser : "
HEAD_EXCLUDE = "Quand ne pas l'utiliser : "
HEAD_EXPRESSIONS = "Expressions :"
HEAD_EXAMPLES = "Exemples :"
HEAD_ID = "Identifiant qualipipe : "
HEAD_ROLES = "S'applique aux rôles : "  # codebook `s_applique_a.roles`
HEAD_SOURCES = "S'applique aux sources : "  # codebook `s_applique_a.sources`


def code_guid(code_id: str) -> str:
    return str(uuid.uuid5(GUID_NAMESPACE, code_id))


def codebook_schema() -> etree.XMLSchema:
    """The REFI-QDA Codebook XSD shipped with qualipipe (MIT licence, QDA-XML 1.0)."""
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


# ---------------------------------------------------------------------------------------------
# QDC export
# ---------------------------------------------------------------------------------------------


def describe(code: Code) -> str:
    """All our fields in one REFI-QDA Description, under French headings."""
    blocks = [code.definition]
    if code.include:
        blocks.append(HEAD_INCLUDE + code.include)
    if code.exclude:
        blocks.append(HEAD_EXCLUDE + code.exclude)
    if code.expressions:
        blocks.append("\n".join([HEAD_EXPRESSIONS, *(f"- {e}" for e in code.expressions)]))
    if code.examples:
        blocks.append("\n".join([HEAD_EXAMPLES, *(f"- {e}" for e in code.examples)]))
    if code.applies_to is not None:
        for head, values in (
            (HEAD_ROLES, code.applies_to.roles),
            (HEAD_SOURCES, code.applies_to.sources),
        ):
            if values is not None:
                blocks.append(head + ", ".join(values))
    blocks.append(HEAD_ID + code.id)
    return "\n\n".join(block for block in blocks if block)


def codebook_to_qdc(codebook: Codebook) -> bytes:
    """A REFI-QDA codebook (.qdc), valid against Codebook.xsd, stable from one export to the next."""
    root = etree.Element(
        QDC + "CodeBook",
        nsmap={None: QDC_NAMESPACE},
        origin=f"qualipipe : {codebook.name} (version {codebook.version})",
    )
    codes_element = etree.SubElement(root, QDC + "Codes")
    children = children_map(codebook)
    for family in children.get(None, []):
        _append_code(codes_element, family, children)
    xml = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    schema = codebook_schema()
    if not schema.validate(etree.fromstring(xml)):  # a bug of ours, never the analyst's input
        raise RuntimeError(f"QDC export invalid against Codebook.xsd: {schema.error_log}")
    return xml


def _append_code(
    parent: etree._Element, code: Code, children: dict[str | None, list[Code]]
) -> None:
    attributes = {
        "guid": code_guid(code.id),
        "name": code.label,
        "isCodable": "true" if code.codable else "false",
    }
    if code.color:
        attributes["color"] = code.color
    element = etree.SubElement(parent, QDC + "Code", attributes)
    etree.SubElement(element, QDC + "Description").text = describe(code)
    for child in children.get(code.id, []):
        _append_code(element, child, children)


# ---------------------------------------------------------------------------------------------
# QDC import
# ---------------------------------------------------------------------------------------------


@dataclass
class QdcImport:
    codebook: Codebook
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Described:
    definition: str = ""
    include: str = ""
    exclude: str = ""
    expressions: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)
    code_id: str = ""
    scope: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def applies_to(self) -> Scope | None:
        if not self.scope:
            return None
        return Scope(roles=self.scope.get("roles"), sources=self.scope.get("sources"))


def parse_description(text: str) -> _Described:
    """Inverse of `describe`; a description without our headings is all definition."""
    result = _Described()
    section = "definition"
    definition_lines: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.startswith(HEAD_INCLUDE):
            section, result.include = "include", line[len(HEAD_INCLUDE) :]
        elif line.startswith(HEAD_EXCLUDE):
            section, result.exclude = "exclude", line[len(HEAD_EXCLUDE) :]
        elif line.strip() == HEAD_EXPRESSIONS.strip():
            section = "expressions"
        elif line.strip() == HEAD_EXAMPLES.strip():
            section = "examples"
        elif line.startswith((HEAD_ROLES, HEAD_SOURCES)):
            key, head = (
                ("roles", HEAD_ROLES) if line.startswith(HEAD_ROLES) else ("sources", HEAD_SOURCES)
            )
            values = (v.strip() for v in line[len(head) :].split(","))
            section, result.scope[key] = "scope", tuple(v for v in values if v)
        elif line.startswith(HEAD_ID):
            section, result.code_id = "id", line[len(HEAD_ID) :].strip()
        elif section == "definition":
            definition_lines.append(line)
        elif section in ("expressions", "examples") and line.startswith("- "):
            getattr(result, section).append(normalize_text(line[2:]))
        elif section == "include" and line.strip():
            result.include += "\n" + line
        elif section == "exclude" and line.strip():
            result.exclude += "\n" + line
    result.definition = normalize_text("\n".join(definition_lines))
    result.include = normalize_text(result.include)
    result.exclude = normalize_text(result.exclude)
    return result


def _qdc_problem(path: Path, message: str, line: int | None = None) -> InputError:
    return InputError(
        f"{path} n'est pas un fichier XML lisible.",
        [Problem(str(path), f"{message} ; réexportez-le depuis votre logiciel.", line)],
    )


def _parse_qdc(path: Path) -> etree._ElementTree:
    """Parse without DTD, entities or network; a DOCTYPE (entities, XXE) is refused outright:
    REFI-QDA files never need one."""
    if not path.is_file():
        raise InputError(
            f"Fichier introuvable : {path}", [Problem(str(path), "vérifiez le chemin.")]
        )
    limits = ContainerLimits.from_environment()
    if path.stat().st_size > limits.max_xml:
        raise _qdc_problem(
            path, f"fichier de plus de {limits.max_xml // MB} Mo (limite QUALIPIPE_MAX_XML_MO)"
        )
    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False
    )
    try:
        tree = etree.parse(str(path), parser)
    except OSError as error:
        raise _qdc_problem(path, f"lecture impossible ({error.strerror or error})") from None
    except etree.XMLSyntaxError as error:
        raise _qdc_problem(path, f"XML invalide ({error.msg})", error.lineno) from None
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _qdc_problem(
            path,
            "le fichier déclare un DOCTYPE (entités XML) : refusé par sécurité, un codebook "
            "REFI-QDA n'en contient pas",
        )
    return tree


def read_qdc(path: Path | str) -> QdcImport:
    """Read a .qdc written by qualipipe or another REFI-QDA tool into a codebook."""
    path = Path(path)
    tree = _parse_qdc(path)
    schema = codebook_schema()
    try:
        valid = schema.validate(tree)
    except etree.Error as error:  # libxml2 gives up on some malformed inputs
        raise _qdc_problem(path, f"validation impossible ({error})") from None
    if not valid:
        raise InputError(
            f"{path} n'est pas un codebook REFI-QDA valide (Codebook.xsd, QDA-XML 1.0).",
            [
                Problem(str(path), f"non conforme au schéma : {entry.message}", entry.line)
                for entry in schema.error_log
            ],
        )
    root = tree.getroot()
    reader = _QdcReader(path)
    origin = ORIGIN_PATTERN.match(root.get("origin", ""))
    name = origin.group("name") if origin else path.stem
    version = origin.group("version") if origin else "1.0"
    orphans = []
    for element in root.find(QDC + "Codes").findall(QDC + "Code"):
        if element.get("isCodable") in ("true", "1"):
            orphans.append(element)
        else:
            reader.read(element, parent=None, family=None)
    if orphans:
        reader.read_orphans(orphans)
    codebook = Codebook(name=name, version=version, codes=tuple(reader.codes), path=str(path))
    return QdcImport(codebook=codebook, warnings=reader.warnings)


class _QdcReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.codes: list[Code] = []
        self.used_ids: set[str] = set()
        self.warnings: list[str] = []

    def read(self, element: etree._Element, parent: Code | None, family: str | None) -> None:
        name = normalize_text(element.get("name", ""))
        description = element.findtext(QDC + "Description") or ""
        described = parse_description(description)
        code_id = self.unique_id(described.code_id, name, parent)
        codable = element.get("isCodable") in ("true", "1") and parent is not None
        where = f"ligne {element.sourceline}, « {name} »"
        if not described.definition:
            self.warnings.append(
                f"{where} : pas de description ; écrivez la définition de {code_id}."
            )
        color = element.get("color")
        code = Code(
            id=code_id,
            label=name,
            family=family or code_id,
            definition=described.definition,
            parent=parent.id if parent else None,
            include=described.include,
            exclude=described.exclude,
            expressions=tuple(described.expressions),
            examples=tuple(described.examples),
            color=normalize_color(color) if color and COLOR_PATTERN.match(color) else None,
            codable=codable,
            applies_to=described.applies_to(),
        )
        self.codes.append(code)
        for child in element.findall(QDC + "Code"):
            self.read(child, parent=code, family=code.family)

    def read_orphans(self, elements: list[etree._Element]) -> None:
        """Codable root codes: qualipipe roots are families, so they go under one family."""
        family_id = self.unique_id("", "AUTRES", None)
        family = Code(
            id=family_id,
            label="Codes sans famille",
            family=family_id,
            definition="Codes placés à la racine dans le fichier importé ; rangez-les dans une "
            "famille.",
            codable=False,
        )
        self.codes.append(family)
        names = ", ".join(f"« {element.get('name', '')} »" for element in elements)
        self.warnings.append(
            f"codes codables à la racine ({names}) : placés dans la famille {family.id} "
            f"« Codes sans famille » ; une famille qualipipe regroupe des codes et ne s'applique "
            f"pas au texte."
        )
        for element in elements:
            self.read(element, parent=family, family=family.id)

    def unique_id(self, written: str, name: str, parent: Code | None) -> str:
        """The qualipipe id when the file carries one, else one made from the name."""
        if written and CODE_ID_PATTERN.match(written) and written not in self.used_ids:
            self.used_ids.add(written)
            return written
        if parent is None:  # a family: a short id, it prefixes all its codes
            base = suggest_identifier(name).split("_")[0][:8]
        else:
            base = f"{parent.family}_{suggest_identifier(name)[:30].rstrip('_')}"
        candidate, n = base, 2
        while candidate in self.used_ids:
            candidate, n = f"{base}_{n}", n + 1
        self.used_ids.add(candidate)
        return candidate


# ---------------------------------------------------------------------------------------------
# Printable exports for analysts
# ---------------------------------------------------------------------------------------------

XLSX_HEADERS = (
    ("Famille", 14),
    ("Identifiant", 30),
    ("Libellé", 34),
    ("Parent", 26),
    ("Codable", 9),
    ("Définition", 60),
    ("Quand l'utiliser", 45),
    ("Quand ne pas l'utiliser", 45),
    ("Expressions typiques", 45),
    ("Exemples", 60),
    ("Couleur", 10),
)


def codebook_to_xlsx(codebook: Codebook, path: Path) -> None:
    """One sheet, one row per code, families as shaded rows; ready to filter and print."""
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "Codebook"
    sheet.append([header for header, _ in XLSX_HEADERS])
    header_fill = PatternFill("solid", fgColor="1F3864")
    thin = Side(style="thin", color="BFBFBF")
    for index, (_, width) in enumerate(XLSX_HEADERS, start=1):
        cell = sheet.cell(row=1, column=index)
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = header_fill
        cell.alignment = Alignment(vertical="center", wrap_text=True)
        sheet.column_dimensions[cell.column_letter].width = width
    depths = code_depths(codebook)
    wrap = Alignment(vertical="top", wrap_text=True)
    for code in _tree_order(codebook):
        sheet.append(
            [
                code.family,
                code.id,
                "    " * max(depths[code.id] - 1, 0) + code.label,
                code.parent or "",
                "oui" if code.codable else "non",
                code.definition,
                code.include,
                code.exclude,
                " ; ".join(code.expressions),
                "\n".join(f"« {example} »" for example in code.examples),
                code.color or "",
            ]
        )
        row = sheet.max_row
        for cell in sheet[row]:
            cell.alignment = wrap
            cell.border = Border(top=thin, bottom=thin, left=thin, right=thin)
        if code.parent is None:
            for cell in sheet[row]:
                cell.font = Font(bold=True)
                cell.fill = PatternFill("solid", fgColor="D9E1F2")
        if code.color:
            sheet.cell(row=row, column=len(XLSX_HEADERS)).fill = PatternFill(
                "solid", fgColor=code.color[1:]
            )
    sheet.freeze_panes = "C2"
    sheet.auto_filter.ref = sheet.dimensions
    print_setup(sheet, "1:1")
    sheet.oddHeader.center.text = f"{codebook.name} — version {codebook.version}"
    workbook.properties.title = f"{codebook.name} {codebook.version}"
    fit_row_heights(sheet)
    workbook.save(path)


def codebook_to_docx(codebook: Codebook, path: Path) -> None:
    """A printable document: a summary table, then one section per family and per code."""
    document = Document()
    section = document.sections[0]
    section.orientation = WD_ORIENT.PORTRAIT
    document.styles["Normal"].font.name = "Calibri"
    document.styles["Normal"].font.size = Pt(10)
    document.core_properties.title = codebook.name
    document.add_heading(f"{codebook.name} — version {codebook.version}", level=0)
    if codebook.description:
        document.add_paragraph(codebook.description)
    _docx_summary_table(document, codebook)
    depths = code_depths(codebook)
    for code in _tree_order(codebook):
        depth = depths[code.id]
        heading = document.add_heading(
            f"{code.label} ({code.id})" if depth else f"Famille {code.id} — {code.label}",
            level=min(depth + 1, 4),
        )
        if code.color:
            for run in heading.runs:
                run.font.color.rgb = RGBColor.from_string(code.color[1:])
        if code.parent is not None and not code.codable:
            note = document.add_paragraph().add_run(
                "Rubrique non codable (regroupe des sous-codes)."
            )
            note.italic = True
        _labelled(document, "Définition", code.definition)
        _labelled(document, "Quand l'utiliser", code.include)
        _labelled(document, "Quand ne pas l'utiliser", code.exclude)
        _labelled(document, "Expressions typiques", " ; ".join(code.expressions))
        for example in code.examples:
            paragraph = document.add_paragraph(style="Quote")
            paragraph.add_run(f"« {example} »")
    document.save(str(path))


def _docx_summary_table(document, codebook: Codebook) -> None:
    depths = code_depths(codebook)
    document.add_heading("Vue d'ensemble", level=1)
    table = document.add_table(rows=1, cols=3)
    table.style = "Light Grid Accent 1"
    for cell, title in zip(table.rows[0].cells, ("Identifiant", "Libellé", "Codable"), strict=True):
        cell.text = title
    for code in _tree_order(codebook):
        cells = table.add_row().cells
        cells[0].text = code.id
        cells[1].text = "    " * max(depths[code.id] - 1, 0) + code.label
        cells[2].text = "oui" if code.codable else "non"


def _labelled(document, label: str, text: str) -> None:
    if not text:
        return
    paragraph = document.add_paragraph()
    paragraph.add_run(f"{label} : ").bold = True
    paragraph.add_run(text)


def _tree_order(codebook: Codebook) -> list[Code]:
    """Families, each followed depth-first by its codes (the reading order of the codebook)."""
    children = children_map(codebook)
    ordered: list[Code] = []

    def visit(code: Code) -> None:
        ordered.append(code)
        for child in children.get(code.id, []):
            visit(child)

    for family in children.get(None, []):
        visit(family)
    return ordered


EXPORTERS = {"xlsx": codebook_to_xlsx, "docx": codebook_to_docx}


def export_codebook(codebook: Codebook, fmt: str, path: Path) -> Path:
    """Write the codebook as `fmt` (qdc, xlsx, docx) to `path`; return the path written."""
    if fmt == "qdc":
        return write_bytes_atomic(path, codebook_to_qdc(codebook))
    with atomic_write(path) as temporary:
        EXPORTERS[fmt](codebook, temporary)
    return path


def import_qdc_to_yaml(path: Path, target: Path, *, overwrite: bool = False) -> QdcImport:
    """Read `path` (.qdc) and write it as a qualipipe YAML codebook at `target`."""
    if target.exists() and not overwrite:
        raise InputError(
            f"{target} existe déjà : rien n'a été écrit.",
            [Problem(str(target), "choisissez un autre --sortie, ou ajoutez --ecraser.")],
        )
    result = read_qdc(path)
    header = f"# Codebook importé de {path.name} (REFI-QDA). Format : docs/codebook.md\n"
    write_text_atomic(target, codebook_to_yaml(result.codebook, header=header))
    return result
