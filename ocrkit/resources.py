"""Where shipped data lives: configs (ocrkit.configs) and assets, found the same way installed or editable."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def configs_dir() -> Path:
    """The configs/ folder: the repo's own in a checkout, the packaged copy in an installed wheel."""
    return Path(str(resources.files("ocrkit.configs")))


def assets_dir() -> Path:
    return Path(str(resources.files("ocrkit"))) / "assets"
