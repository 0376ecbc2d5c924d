"""Handwriting fonts with Cyrillic from the npm registry (fontsource packages), installed into a cache.

Debian carries few handwriting faces with Cyrillic, so ``make fonts`` (``ocrkit fonts
--install``) fetches fontsource's packages of Google Fonts families, pinned by version
and SHA-256, and writes one TTF per family into the cache folder (``$OCRKIT_FONT_CACHE``, default
``~/.cache/ocrkit/fonts``; never into git). fontsource splits each face by Unicode range, so the
Cyrillic and the Latin subset (digits and punctuation live there) are merged with fontTools into
one font. Every family is under the SIL Open Font License 1.1 (docs/fonts.md lists them with
their sources).
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ocrkit.errors import OcrkitError

CACHE_ENV = "OCRKIT_FONT_CACHE"
REGISTRY = "https://registry.npmjs.org"


@dataclass(frozen=True)
class FontPackage:
    #: ocrkit's family name (``--fonts``), also the npm package ``@fontsource/<family>``
    family: str
    version: str
    sha256: str
    #: "connected" (letters joined, as a school hand) or "print" (separate letters)
    script: str

    @property
    def url(self) -> str:
        return f"{REGISTRY}/@fontsource/{self.family}/-/{self.family}-{self.version}.tgz"

    @property
    def file_name(self) -> str:
        return f"ocrkit-{self.family}.ttf"


PACKAGES: tuple[FontPackage, ...] = (
    FontPackage(
        "marck-script",
        "5.3.0",
        "c4e6f14fd3736ec94a872db215192ea7dea04f1315df1385b451c153510575da",
        "connected",
    ),
    FontPackage(
        "great-vibes",
        "5.3.0",
        "0bfdc957fa42a6d17288fce79a9299dab14742b77bdbb223c4385739d4035ca9",
        "connected",
    ),
    FontPackage(
        "lobster", "5.3.0", "4ac6f6ab805b684026cb719f55dd605c892ca5d1db3f32fca88ca554a63b86d7", "connected"
    ),
    FontPackage(
        "pacifico", "5.3.0", "397f4f0a8a4c44e929cafa4cfede7240f7ac81a922f6779d3fefe2192c67d619", "connected"
    ),
    FontPackage(
        "caveat", "5.3.0", "ebf746fc0667b9d10fcac7c8604e2ba40a264da85a1c9b48bd679c0af3221293", "connected"
    ),
    FontPackage(
        "shantell-sans", "5.3.0", "e967981462dc976f2e887e3c94586fd44826435a59c643160b1734b83165decf", "print"
    ),
    FontPackage(
        "playpen-sans", "5.3.0", "cc638f6c358ee318701ff65788540db3019aab408267b5b5d81c2a84226e4706", "print"
    ),
    FontPackage(
        "zen-kurenaido", "5.3.0", "f8a7fb316996b6d8a7daa9faf3a5f8baab1622cdca9e2aec4af807036ddb2fa4", "print"
    ),
    FontPackage(
        "comic-relief", "5.3.0", "ef5a608d9d4750a798d9785bd8e75d509420af6e02e7f87e6260cf4ca49a5b0d", "print"
    ),
    # held out by default (test_unseen): never trained on
    FontPackage(
        "bad-script", "5.3.0", "3b51fb49d57c31345272b0d483be17ec99d67a3e6baf06d462b800fd6d9478cd", "connected"
    ),
    FontPackage(
        "neucha", "5.3.0", "8f2718549556a0c406a766edc9689801a950dc79a71cbb646fc5e2d67c49cca0", "print"
    ),
    FontPackage(
        "comforter", "5.2.8", "10b6e81941ded0f7a1ad11054a07370273ba221c516d9d3da50ec668cb0fadb5", "connected"
    ),
)
BY_FAMILY = {p.family: p for p in PACKAGES}


def cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or "~/.cache/ocrkit/fonts").expanduser()


def installed(package: FontPackage, folder: Path | None = None) -> bool:
    return ((folder or cache_dir()) / package.file_name).is_file()


def missing_packages(families: list[str] | None = None, folder: Path | None = None) -> list[str]:
    """Families (of ``families``, or all) whose font is not in the cache."""
    names = [f for f in (families if families is not None else BY_FAMILY) if f in BY_FAMILY]
    return [f for f in names if not installed(BY_FAMILY[f], folder)]


def _subset(tar: tarfile.TarFile, family: str, subset: str) -> bytes:
    name = f"package/files/{family}-{subset}-400-normal.woff"
    member = tar.extractfile(name)
    if member is None:
        raise OcrkitError(f"@fontsource/{family}: no {name} in the package")
    return member.read()


def build_ttf(package: FontPackage, tarball: bytes) -> bytes:
    """One TTF from the package's Cyrillic and Latin WOFF subsets (regular weight)."""
    from fontTools.merge import Merger
    from fontTools.ttLib import TTFont

    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as tar:
        parts = [_subset(tar, package.family, s) for s in ("cyrillic", "latin")]
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, data in enumerate(parts):
            font = TTFont(io.BytesIO(data))
            font.flavor = None  # WOFF -> plain sfnt, which the merger reads
            path = Path(tmp) / f"{i}.ttf"
            font.save(path)
            paths.append(str(path))
        merged = Merger().merge(paths)
        buf = io.BytesIO()
        merged.save(buf)
    return buf.getvalue()


def fetch(package: FontPackage, timeout: float = 60.0) -> bytes:
    with urllib.request.urlopen(package.url, timeout=timeout) as resp:  # noqa: S310 - fixed https URL
        data = resp.read()
    digest = hashlib.sha256(data).hexdigest()
    if digest != package.sha256:
        raise OcrkitError(f"{package.url}: SHA-256 {digest} is not the pinned {package.sha256}")
    return data


def install(families: list[str] | None = None, folder: Path | None = None) -> list[Path]:
    """Download and build the fonts not yet in the cache; returns the files written."""
    folder = folder or cache_dir()
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for family in missing_packages(families, folder):
        package = BY_FAMILY[family]
        ttf = build_ttf(package, fetch(package))
        target = folder / package.file_name
        staged = target.with_suffix(".part")
        staged.write_bytes(ttf)
        os.replace(staged, target)
        written.append(target)
    return written
