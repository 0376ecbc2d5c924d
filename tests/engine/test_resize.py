"""The numpy bilinear resize equals OpenCV's ``cv2.resize`` bit for bit (uint8 and float32)."""

from __future__ import annotations

import numpy as np
import pytest

from ocrkit.engine.resize import resize_linear

cv2 = pytest.importorskip("cv2")

HEIGHTS = (1, 7, 10, 31, 33, 63, 64, 65, 100, 128, 200, 257)
WIDTHS = (1, 7, 50, 129, 256, 300, 513, 1000)


@pytest.mark.parametrize("height", HEIGHTS)
def test_uint8_to_height_64_like_opencv(height):
    rng = np.random.default_rng(height)
    for width in WIDTHS:
        img = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        new_width = max(1, int(width * (64 / height)))
        expected = cv2.resize(img, (new_width, 64))
        assert np.array_equal(resize_linear(img, new_width, 64), expected), (height, width)


def test_float32_squash_to_width_like_opencv():
    rng = np.random.default_rng(1)
    for width in (257, 300, 511, 512, 777, 2048):
        img = rng.integers(0, 256, (64, width, 3)).astype(np.float32)
        assert np.array_equal(resize_linear(img, 256, 64), cv2.resize(img, (256, 64))), width


def test_flat_regions_and_exact_2x_downscale():
    """White pages (the common case) and the 2x case OpenCV routes to INTER_AREA."""
    white = np.full((128, 512, 3), 255, np.uint8)
    assert np.array_equal(resize_linear(white, 256, 64), cv2.resize(white, (256, 64)))
    rng = np.random.default_rng(2)
    img = rng.integers(0, 256, (128, 300, 3), dtype=np.uint8)
    assert np.array_equal(resize_linear(img, 150, 64), cv2.resize(img, (150, 64)))
    flat = np.full((64, 400, 3), 255.0, np.float32)
    assert np.array_equal(resize_linear(flat, 256, 64), cv2.resize(flat, (256, 64)))


def test_grey_and_same_size():
    rng = np.random.default_rng(3)
    grey = rng.integers(0, 256, (40, 90), dtype=np.uint8)
    assert np.array_equal(resize_linear(grey, 144, 64), cv2.resize(grey, (144, 64)))
    same = rng.integers(0, 256, (64, 100, 3), dtype=np.uint8)
    out = resize_linear(same, 100, 64)
    assert np.array_equal(out, same) and out is not same


def test_rejects_other_dtypes_and_sizes():
    with pytest.raises(TypeError):
        resize_linear(np.zeros((4, 4, 3), np.float64), 8, 8)
    with pytest.raises(ValueError):
        resize_linear(np.zeros((4, 4, 3), np.uint8), 0, 8)
