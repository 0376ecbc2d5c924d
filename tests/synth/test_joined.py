"""`ocrkit synth --style joined`: letters set closer and joined by connecting strokes."""

from __future__ import annotations

import numpy as np

from ocrkit.synth import find_fonts
from ocrkit.synth.render import draw_joined_ink, render_sample


def _dejavu():
    return next(f for f in find_fonts(["dejavu"]).faces if "Bold" not in f.name and "Oblique" not in f.name)


def _gaps(mask: np.ndarray) -> int:
    """Empty columns between the first and the last column with ink."""
    cols = np.nonzero(mask.max(axis=0) > 127)[0]
    return int(np.sum(mask[:, cols.min() : cols.max() + 1].max(axis=0) <= 127))


def test_joined_letters_leave_no_gap_inside_a_word(have_fonts):
    face = _dejavu()  # a print face: its letters stand apart
    for seed in range(4):
        apart = draw_joined_ink("шилом", face, np.random.default_rng(seed), np.random.default_rng(seed), 0.0)
        joined = draw_joined_ink("шилом", face, np.random.default_rng(seed), np.random.default_rng(seed), 1.0)
        assert _gaps(apart) > 0
        assert _gaps(joined) == 0
        assert (joined > 127).sum() > (apart > 127).sum()  # the strokes add ink, none is removed
        assert np.all(joined[apart > 127] > 127)


def test_capitals_digits_and_spaces_are_not_joined(have_fonts):
    face = _dejavu()
    for text in ("Ш И", "12", "А-Б"):
        rng = np.random.default_rng(1)
        a = draw_joined_ink(text, face, rng, np.random.default_rng(1), 0.0)
        b = draw_joined_ink(text, face, np.random.default_rng(1), np.random.default_rng(1), 1.0)
        assert np.array_equal(a, b), text


def test_joined_style_is_deterministic_and_differs_from_pen(have_fonts):
    face = _dejavu()
    a = render_sample("тетрадь где", face, 5, style="joined")
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, render_sample("тетрадь где", face, 5, style="joined"))
    assert not np.array_equal(a, render_sample("тетрадь где", face, 6, style="joined"))
    assert not np.array_equal(a, render_sample("тетрадь где", face, 5, style="pen"))
