"""Writing output files safely, and saying in French what the system refused.

Every file qualipipe writes goes through `atomic_write`: the content is written to a temporary file
in the same folder, then renamed over the final name. A full disk, a read-only folder or a file
locked by Excel leave either the old file or the new one — never half a file, never a temporary
file behind. The CLI turns any `OSError` into one French line with `french_os_error`.
"""

from __future__ import annotations

import errno
import gc
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it replaces `path`, on failure it is
    removed. An OSError is re-raised naming `path` (not the temporary name) so that the
    message tells the analyst which file could not be written."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partiel", dir=path.parent)
        os.close(handle)
    except OSError as error:
        raise naming(error, path) from None
    temporary = Path(name)
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        temporary.unlink(missing_ok=True)
        drop_abandoned_writers(error)
        raise naming(error, path) from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def drop_abandoned_writers(error: BaseException) -> None:
    """Collect, now and quietly, what the failed save left open.

    A library whose save fails half-way (zipfile under openpyxl, XlsxWriter, python-docx) leaves
    its archive open in the frames of the error. Python closes it when it is collected — at the
    latest when the program ends — and on a full disk that close fails again and is printed as a
    traceback after the French line. The temporary file is deleted anyway, so nothing is lost by
    releasing those frames here with the « exception ignored » report silenced."""
    previous = sys.unraisablehook
    sys.unraisablehook = lambda _unraisable: None
    try:
        traceback.clear_frames(error.__traceback__)
        gc.collect()
    finally:
        sys.unraisablehook = previous


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    with atomic_write(path) as temporary:
        temporary.write_bytes(data)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def naming(error: OSError, path: Path) -> OSError:
    """The same system error, naming `path` (what the analyst knows) as the file at fault."""
    code = error.errno if error.errno is not None else _errno_in(error)
    return OSError(code, error.strerror or str(error), str(path))


def _errno_in(error: OSError) -> int:
    # zipfile and openpyxl sometimes wrap the system error without its errno.
    cause = error.__cause__ or error.__context__
    if isinstance(cause, OSError) and cause.errno is not None:
        return cause.errno
    return errno.EIO


# errno -> (what happened, what to do)
_CAUSES: dict[int, tuple[str, str]] = {
    errno.ENOSPC: ("disque plein", "libérez de la place sur le disque puis relancez"),
    errno.EDQUOT: ("quota disque dépassé", "libérez de la place puis relancez"),
    errno.EROFS: (
        "support en lecture seule",
        "choisissez un dossier où vous pouvez écrire (option --sortie) ou copiez l'étude ailleurs",
    ),
    errno.EACCES: (
        "accès refusé",
        "vérifiez les droits du dossier, ou fermez le programme qui a ouvert ce fichier "
        "(Excel, LibreOffice) puis relancez",
    ),
    errno.EPERM: (
        "opération non permise",
        "vérifiez les droits du dossier, ou fermez le programme qui a ouvert ce fichier "
        "(Excel, LibreOffice) puis relancez",
    ),
    errno.EBUSY: (
        "fichier verrouillé par un autre programme",
        "fermez-le (Excel, LibreOffice) puis relancez",
    ),
    errno.ETXTBSY: (
        "fichier verrouillé par un autre programme",
        "fermez-le (Excel, LibreOffice) puis relancez",
    ),
    errno.ENOENT: ("introuvable", "vérifiez le chemin"),
    errno.ENOTDIR: ("un élément du chemin n'est pas un dossier", "vérifiez le chemin"),
    errno.EISDIR: ("c'est un dossier, pas un fichier", "donnez un nom de fichier"),
    errno.ENAMETOOLONG: ("nom trop long", "choisissez un chemin plus court"),
    errno.EIO: ("erreur d'entrée-sortie", "vérifiez le disque, la clé USB ou le partage réseau"),
}


def french_os_error(error: OSError) -> str:
    """One French line: the path, what the system refused, what to do; the study is unchanged
    because every step writes the store in one transaction and files through `atomic_write`."""
    where = error.filename or error.filename2 or "fichier"
    if getattr(error, "winerror", None) in (32, 33):  # Windows sharing/lock violation
        cause, advice = _CAUSES[errno.EBUSY]
    else:
        cause, advice = _CAUSES.get(
            error.errno or 0, (f"erreur système ({error.strerror or error})", "vérifiez le disque")
        )
    return f"{where} : {cause} ; {advice}. Rien n'a été modifié dans l'étude."
