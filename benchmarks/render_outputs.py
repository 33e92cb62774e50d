"""Render every .docx and .xlsx of an output folder as a reader sees it: PDF, then PNG pages.

    python benchmarks/render_outputs.py outputs/demo [--rendu /tmp/rendu] [--dpi 60]
        [--motif 'synthese.*' --motif 'comparaison.*']

Needs LibreOffice (`soffice`) and poppler (`pdftoppm`, `pdfinfo`, `pdftotext`):
`apt-get install -y libreoffice-writer libreoffice-calc poppler-utils`. Writes, under the render
folder, one PDF per document (same relative path, `.docx.pdf` / `.xlsx.pdf`), its text
(`.txt`, from `pdftotext -layout`) and its pages (`-<n>.png`). Prints one line per document
with its page count, then `RENDER documents=D pages=P seconds=S`.

`render_folder` is also used by tests/test_synthesize_render.py (skipped without soffice).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

DOCUMENT_SUFFIXES = (".docx", ".xlsx")
SOFFICE_TIMEOUT_S = 600


@dataclass(frozen=True)
class Rendered:
    source: Path
    pdf: Path
    text: str
    pages: int
    pngs: tuple[Path, ...]


def tools_available() -> bool:
    return all(shutil.which(t) for t in ("soffice", "pdftotext", "pdfinfo", "pdftoppm"))


def documents(folder: Path, patterns: Sequence[str] = ("*",)) -> list[Path]:
    """The .docx / .xlsx under `folder` whose file name matches one of `patterns`."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.suffix in DOCUMENT_SUFFIXES
        and p.is_file()
        and not p.name.startswith((".", "~$"))
        and any(fnmatch(p.name, pattern) for pattern in patterns)
    )


def to_pdf(sources: list[Path], out_dir: Path) -> dict[Path, Path]:
    """One soffice call for all documents (starting LibreOffice costs seconds); a private user
    profile so that it never collides with another LibreOffice running on the machine."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="qp-lo-") as profile:
        staged = {}
        for k, source in enumerate(sources):
            # Same file names in different folders (synthese.docx × territories): stage uniquely.
            link = out_dir / f"{k:04d}{source.suffix}"
            shutil.copyfile(source, link)
            staged[source] = link
        subprocess.run(
            [
                "soffice",
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                "pdf",
                "--outdir",
                str(out_dir),
                *map(str, staged.values()),
            ],
            check=True,
            capture_output=True,
            timeout=SOFFICE_TIMEOUT_S,
        )
        for link in staged.values():
            link.unlink()
    return {source: link.with_suffix(".pdf") for source, link in staged.items()}


def page_count(pdf: Path) -> int:
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True)
    line = next(ln for ln in info.stdout.splitlines() if ln.startswith("Pages:"))
    return int(line.split()[1])


def render_folder(
    folder: Path,
    render_dir: Path,
    *,
    dpi: int = 60,
    pngs: bool = True,
    patterns: Sequence[str] = ("*",),
) -> list[Rendered]:
    """PDF, text and (optionally) PNG pages of the documents under `folder` whose file name
    matches one of `patterns`."""
    sources = documents(folder, patterns)
    if not sources:
        return []
    pdfs = to_pdf(sources, render_dir / ".pdf")
    out = []
    for source, staged in pdfs.items():
        relative = source.relative_to(folder)
        pdf = render_dir / relative.with_name(relative.name + ".pdf")
        pdf.parent.mkdir(parents=True, exist_ok=True)
        staged.replace(pdf)
        text_path = pdf.with_suffix(".txt")
        subprocess.run(["pdftotext", "-layout", str(pdf), str(text_path)], check=True)
        pages: tuple[Path, ...] = ()
        if pngs:
            prefix = pdf.with_suffix("")
            subprocess.run(["pdftoppm", "-png", "-r", str(dpi), str(pdf), str(prefix)], check=True)
            pages = tuple(sorted(pdf.parent.glob(prefix.name + "-*.png")))
        out.append(
            Rendered(source, pdf, text_path.read_text(encoding="utf-8"), page_count(pdf), pages)
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dossier", type=Path, help="output folder (e.g. outputs/demo)")
    parser.add_argument("--rendu", type=Path, default=None, help="where PDFs and PNGs go")
    parser.add_argument("--dpi", type=int, default=60)
    parser.add_argument("--sans-png", action="store_true", help="PDF and text only")
    parser.add_argument(
        "--motif",
        action="append",
        default=None,
        help="only file names matching this pattern (repeatable), e.g. --motif 'synthese.*'",
    )
    args = parser.parse_args()
    if not tools_available():
        raise SystemExit(
            "soffice / poppler introuvables : apt-get install -y libreoffice-writer "
            "libreoffice-calc poppler-utils"
        )
    render_dir = args.rendu or args.dossier.parent / f"{args.dossier.name}-rendu"
    started = time.perf_counter()
    rendered = render_folder(
        args.dossier, render_dir, dpi=args.dpi, pngs=not args.sans_png, patterns=args.motif or ["*"]
    )
    for r in rendered:
        print(f"{r.pages:4d} pages  {r.source.relative_to(args.dossier)}")
    print(
        f"RENDER documents={len(rendered)} pages={sum(r.pages for r in rendered)} "
        f"seconds={time.perf_counter() - started:.0f}"
    )


if __name__ == "__main__":
    main()
