"""The rendered benchmark samples: fixed, deterministic, inside the alphabet (torch-free)."""

from __future__ import annotations

import io

import pytest

Image = pytest.importorskip("PIL.Image", reason="Pillow comes with the ocrkit[model] extra")

from ocrkit.core_model.alphabet import encode  # noqa: E402
from ocrkit.core_model.samples import FONT_ENV, SAMPLE_TEXTS, find_font, render_text, sample_images  # noqa: E402
from ocrkit.errors import OcrkitError  # noqa: E402


def test_thirty_two_texts_of_realistic_length_inside_the_alphabet():
    assert len(SAMPLE_TEXTS) == 32
    assert len(set(SAMPLE_TEXTS)) == 32
    lengths = [len(t) for t in SAMPLE_TEXTS]
    assert sum(5 <= n <= 15 for n in lengths) >= 24
    for text in SAMPLE_TEXTS:
        encode(text)  # raises on a character the model cannot output


def test_samples_are_png_with_labels_in_order():
    samples = sample_images()
    assert [s.label for s in samples] == list(SAMPLE_TEXTS)
    for s in samples[:4]:
        assert s.png.startswith(b"\x89PNG\r\n\x1a\n")
        image = Image.open(io.BytesIO(s.png))
        assert image.mode == "RGB"
        assert image.width > image.height > 16
    assert [s.label for s in sample_images(3)] == list(SAMPLE_TEXTS[:3])


def test_rendering_is_deterministic():
    font = find_font()
    assert render_text("заявление", font_path=font) == render_text("заявление", font_path=font)
    assert render_text("заявление", font_path=font) != render_text("заявления", font_path=font)


def test_missing_font_override_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "nope.ttf"))
    with pytest.raises(OcrkitError, match="not a file"):
        find_font()
