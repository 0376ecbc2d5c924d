"""A fixed, deterministic set of rendered Russian word images, for `ocrkit bench`, the README and tests.

The texts are hard-coded, lengths like the Kaggle crops (most 5-15 characters), all inside the model's
alphabet. They are rendered with Pillow in a Cyrillic TrueType font, black on a white page with a
slightly varied size and margin per sample, and returned as PNG bytes with their label. Printed text is
not handwriting: use these for speed, not for accuracy.

Torch-free (Pillow only).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ocrkit.errors import OcrkitError

#: 32 words and short phrases; several are the report's own test labels.
SAMPLE_TEXTS: tuple[str, ...] = (
    "заявление",
    "выписывала",
    "продажа",
    "правый",
    "с детьми",
    "их успех",
    "15.09.03",
    "Стипендию получаю",
    "определение",
    "Москва",
    "договор",
    "подпись",
    "паспорт",
    "Иванов И.И.",
    "отправление",
    "налоговая",
    "рубль",
    "квартира",
    "Санкт-Петербург",
    "образование",
    "12 мая 2003 г.",
    "работает",
    "сообщение",
    "ёлка",
    "школа 5",
    "в течение года",
    "учебник",
    "хорошо",
    "улица Ленина",
    "счёт",
    "(подпись)",
    "объявление",
)

#: Environment variable naming a TrueType font file to render with (overrides the search).
FONT_ENV = "OCRKIT_FONT"

_FONT_CANDIDATES: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial Unicode.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:/Windows/Fonts/arial.ttf",
)


@dataclass(frozen=True)
class Sample:
    """One rendered image: its label and the PNG bytes."""

    label: str
    png: bytes


def find_font() -> Path:
    """A TrueType font that has Cyrillic glyphs: $OCRKIT_FONT, known paths, then ``fc-match``."""
    override = os.environ.get(FONT_ENV)
    if override:
        path = Path(override)
        if not path.is_file():
            raise OcrkitError(f"${FONT_ENV} names {override}, which is not a file")
        return path
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    fc_match = shutil.which("fc-match")
    if fc_match:
        try:
            found = subprocess.run(
                [fc_match, "-f", "%{file}", "DejaVu Sans:lang=ru"],
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if found and Path(found).is_file() and found.lower().endswith((".ttf", ".otf")):
            return Path(found)
    raise OcrkitError(
        "no TrueType font with Cyrillic glyphs found to render the sample images",
        hint="install DejaVu Sans (e.g. apt-get install fonts-dejavu-core) "
        f"or set ${FONT_ENV} to a .ttf file",
    )


def render_text(
    text: str, *, font_path: Path | str | None = None, font_size: int = 36, margin: int = 12
) -> bytes:
    """PNG bytes of ``text`` in black on white, cropped to the text plus ``margin`` pixels."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path or find_font()), font_size)
    left, top, right, bottom = font.getbbox(text)
    width = right - left + 2 * margin
    height = bottom - top + 2 * margin
    image = Image.new("RGB", (max(width, 1), max(height, 1)), "white")
    ImageDraw.Draw(image).text((margin - left, margin - top), text, font=font, fill="black")
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


@lru_cache(maxsize=4)
def _rendered(font_path: str) -> tuple[Sample, ...]:
    out = []
    for i, text in enumerate(SAMPLE_TEXTS):
        # small deterministic variation, so that the set is not 32 copies of one layout
        size = 30 + (i * 7) % 13
        margin = 8 + (i * 5) % 9
        out.append(
            Sample(label=text, png=render_text(text, font_path=font_path, font_size=size, margin=margin))
        )
    return tuple(out)


def sample_images(n: int | None = None) -> list[Sample]:
    """The first ``n`` (default all 32) samples, always the same images in the same order."""
    samples = _rendered(str(find_font()))
    return list(samples if n is None else samples[:n])
