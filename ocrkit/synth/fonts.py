"""Fonts with Cyrillic glyphs, grouped into families; handwriting-like families first.

A family is a name and file-name patterns searched under the system font folders (Debian packages
fonts-sjfonts, fonts-urw-base35, fonts-uralic, fonts-cmu, fonts-dejavu-core, fonts-liberation,
fonts-paratype), under ``$OCRKIT_FONT_DIRS`` (``os.pathsep``-separated) and in the handwriting-font
cache that ``ocrkit fonts --install`` fills (font_cache.py). Each face is checked
for real glyphs of every letter, digit and sign of the alphabet: a character whose rendering equals
the font's ``.notdef`` box, or that renders nothing, means the face is skipped (with the reason).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from ocrkit.core_model.alphabet import CHAR_TO_ID
from ocrkit.errors import OcrkitError
from ocrkit.synth import font_cache

FONT_DIRS_ENV = "OCRKIT_FONT_DIRS"
DEFAULT_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.local/share/fonts", "~/.fonts")


@dataclass(frozen=True)
class FontFamily:
    name: str
    patterns: tuple[str, ...]
    handwriting: bool = False
    #: relative weight when a face is drawn for an image (handwriting-like families come up more)
    weight: float = 1.0
    #: installed by ``ocrkit fonts --install`` (not a Debian package); used only when named in
    #: ``--fonts`` / ``--unseen-font``, so the default font set (and the old splits) stay as they were
    downloaded: bool = False


#: Handwriting-like first. Patterns are file names (fnmatch) anywhere under the font folders.
FONT_FAMILIES: tuple[FontFamily, ...] = (
    FontFamily("stevehand", ("SteveHand.ttf",), handwriting=True, weight=4.0),
    FontFamily("z003", ("Z003-MediumItalic.otf", "Z003-MediumItalic.ttf"), handwriting=True, weight=3.0),
    FontFamily("chancery", ("chanui__.ttf",), handwriting=True, weight=3.0),
    FontFamily("delphine", ("Delphine.ttf",), handwriting=True, weight=2.0),
    FontFamily(
        "uralic",
        ("romau*.ttf", "booku*.ttf", "pallu*.ttf", "schou*.ttf", "gothu*.ttf", "sansu*.ttf", "sansc*.ttf"),
    ),
    FontFamily(
        "urw",
        (
            "URWBookman-*.otf",
            "URWGothic-*.otf",
            "C059-*.otf",
            "P052-*.otf",
            "NimbusSans-*.otf",
            "NimbusRoman-*.otf",
        ),
    ),
    FontFamily("cmu", ("cmun*.ttf",)),
    FontFamily("dejavu", ("DejaVu*.ttf",)),
    FontFamily("paratype", ("PT[A-Z]*.ttf",)),
    FontFamily("liberation", ("Liberation*.ttf",)),
    *(
        FontFamily(p.family, (p.file_name,), handwriting=True, weight=3.0, downloaded=True)
        for p in font_cache.PACKAGES
    ),
)
FAMILY_NAMES = tuple(f.name for f in FONT_FAMILIES)
#: the families used when ``--fonts`` is not given: the Debian ones
DEFAULT_FAMILIES = tuple(f.name for f in FONT_FAMILIES if not f.downloaded)
#: the handwriting families from the font cache (``make fonts``)
DOWNLOADED_FAMILIES = tuple(f.name for f in FONT_FAMILIES if f.downloaded)

#: Characters every usable face must draw (space aside).
REQUIRED_CHARS = "".join(ch for ch in CHAR_TO_ID if ch != " ")


@dataclass(frozen=True)
class FontFace:
    family: str
    path: Path
    handwriting: bool
    weight: float

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class FontScan:
    faces: tuple[FontFace, ...]
    #: "path: reason" for each face found but refused
    skipped: tuple[str, ...]


def font_dirs() -> list[Path]:
    extra = [p for p in os.environ.get(FONT_DIRS_ENV, "").split(os.pathsep) if p.strip()]
    return [Path(p).expanduser() for p in (*extra, *DEFAULT_FONT_DIRS)] + [font_cache.cache_dir()]


def missing_glyphs(path: Path, chars: str = REQUIRED_CHARS) -> list[str]:
    """Characters of ``chars`` that ``path`` cannot draw (renders as ``.notdef`` or as nothing)."""
    font = ImageFont.truetype(str(path), 32)

    def bits(ch: str) -> tuple:
        mask = font.getmask(ch)
        return mask.size, bytes(mask)

    notdef = bits("\ue000")  # a private-use code point: no text font maps it
    missing = []
    for ch in chars:
        b = bits(ch)
        if b == notdef or font.getmask(ch).getbbox() is None:
            missing.append(ch)
    return missing


@lru_cache(maxsize=8)
def _scan(dirs: tuple[Path, ...]) -> FontScan:
    files: dict[str, list[Path]] = {}
    for root in dirs:
        if root.is_dir():
            for p in sorted(root.rglob("*")):
                if p.suffix.lower() in (".ttf", ".otf") and p.is_file():
                    files.setdefault(p.name, []).append(p)
    faces, skipped = [], []
    seen: set[str] = set()
    for fam in FONT_FAMILIES:
        for pattern in fam.patterns:
            for name in sorted(n for n in files if Path(n).match(pattern)):
                if name in seen:
                    continue
                seen.add(name)
                path = files[name][0]
                try:
                    missing = missing_glyphs(path)
                except OSError as exc:
                    skipped.append(f"{path}: unreadable ({exc})")
                    continue
                if missing:
                    shown = "".join(missing[:12])
                    skipped.append(f"{path}: no glyphs for {len(missing)} characters ({shown}...)")
                    continue
                faces.append(FontFace(fam.name, path, fam.handwriting, fam.weight))
    return FontScan(tuple(faces), tuple(skipped))


def find_fonts(families: list[str] | None = None) -> FontScan:
    """Usable faces of ``families`` (the default, Debian families when None), in catalogue order."""
    if families is not None:
        unknown = [f for f in families if f not in FAMILY_NAMES]
        if unknown:
            raise OcrkitError(
                f"unknown font family: {', '.join(unknown)}",
                hint=f"choose from {', '.join(FAMILY_NAMES)}",
            )
    scan = _scan(tuple(font_dirs()))
    wanted = set(families if families is not None else DEFAULT_FAMILIES)
    return FontScan(tuple(f for f in scan.faces if f.family in wanted), scan.skipped)


def missing_downloaded(families: list[str]) -> list[str]:
    """Families of ``families`` that come from the font cache and are not installed there."""
    return font_cache.missing_packages([f for f in families if f in DOWNLOADED_FAMILIES])


def load_font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return _load_font(str(path), int(size))


@lru_cache(maxsize=512)
def _load_font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)
