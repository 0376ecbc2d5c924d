"""Synthetic handwriting-like training data in the Kaggle dataset's layout (`ocrkit synth`).

Torch-free: Pillow renders Russian words from ``wordfreq``'s list in fonts that really carry the
Cyrillic glyphs, albumentations varies them the way scans of handwriting vary, and the writer lays
them out as ``train/`` + ``train.tsv``, ``test/`` + ``test.tsv`` and ``test_unseen/`` +
``test_unseen.tsv`` (a font family kept out of training), which ``ocrkit eval`` and
``ocrkit train`` read.
"""

from __future__ import annotations

from ocrkit.synth import font_cache
from ocrkit.synth.fonts import FONT_FAMILIES, FontFace, find_fonts
from ocrkit.synth.generate import SPLITS, SynthConfig, SynthSummary, generate_dataset
from ocrkit.synth.render import render_sample
from ocrkit.synth.texts import TextSampler

__all__ = [
    "FONT_FAMILIES",
    "SPLITS",
    "FontFace",
    "SynthConfig",
    "SynthSummary",
    "TextSampler",
    "find_fonts",
    "font_cache",
    "generate_dataset",
    "render_sample",
]
