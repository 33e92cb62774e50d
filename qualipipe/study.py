"""Creating a study folder."""

from __future__ import annotations

from pathlib import Path

from qualipipe.config import CONFIG_NAME, CONFIG_TEMPLATE
from qualipipe.errors import StudyError
from qualipipe.store import open_study


def init_study(folder: Path, *, name: str, region: str = "") -> Path:
    """Create `folder/qualipipe.toml` and an empty, migrated `study.db`."""
    folder = Path(folder)
    config_path = folder / CONFIG_NAME
    if config_path.exists():
        raise StudyError(f"{config_path} existe déjà : ce dossier contient déjà une étude.")
    folder.mkdir(parents=True, exist_ok=True)
    config_path.write_text(
        CONFIG_TEMPLATE.format(name=name.replace('"', "'"), region=region), encoding="utf-8"
    )
    open_study(folder).close()
    return folder
