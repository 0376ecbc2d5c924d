"""Preprocessing reproduces the report's input_fn + process_image, and bad bytes fail cleanly."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
cv2 = pytest.importorskip("cv2")

from ocrkit.core_model.preprocess import (  # noqa: E402
    decode_image,
    preprocess_array,
    preprocess_image,
    preprocess_images,
    process_image,
)
from ocrkit.errors import OcrkitError  # noqa: E402
from ocrkit.prediction import ImageDecodeError  # noqa: E402

from .conftest import png_bytes, synthetic_image  # noqa: E402

pytestmark = pytest.mark.model


def report_input_fn(request_body: bytes) -> torch.Tensor:
    """The report's code, transcribed literally (hp.height = 64, hp.width = 256)."""
    image = np.frombuffer(request_body, dtype=np.uint8)
    image = cv2.imdecode(image, cv2.IMREAD_COLOR)
    w, h, _ = image.shape
    new_w = 64
    new_h = int(h * (new_w / w))
    image = cv2.resize(image, (new_h, new_w))
    w, h, _ = image.shape
    image = image.astype("float32")
    new_h = 256
    if h < new_h:
        add_zeros = np.full((w, new_h - h, 3), 255)
        image = np.concatenate((image, add_zeros), axis=1)
    if h > new_h:
        image = cv2.resize(image, (new_h, new_w))
    image = image.astype("uint8")
    image = image / image.max()
    image = np.transpose(image, (2, 0, 1))
    return torch.FloatTensor(image).unsqueeze(0)


@pytest.mark.parametrize(
    ("seed", "width", "height"),
    [(0, 60, 90), (1, 700, 40), (2, 256, 64), (3, 333, 50), (4, 1200, 95), (5, 90, 30)],
    ids=["narrow", "wide", "exact", "slightly-wide", "very-wide", "small"],
)
def test_matches_the_report_bit_for_bit(seed, width, height):
    """Padding, squashing (with the float resize + uint8 truncation) and scaling all agree."""
    data = png_bytes(synthetic_image(seed, width=width, height=height))
    ours = torch.from_numpy(preprocess_image(data)).unsqueeze(0)
    assert ours.dtype == torch.float32
    assert torch.equal(ours, report_input_fn(data))


def test_narrow_image_is_padded_right_with_white():
    img = np.full((32, 50, 3), 40, np.uint8)  # uniform grey, 32 high -> 64 high, 100 wide
    img[:, :10] = 200
    out = preprocess_array(img)
    assert out.shape == (3, 64, 256) and out.dtype == np.float32
    # grey 40 scaled by the padding's 255 (the image's max), then white padding from column 100
    assert np.allclose(out[:, :, 30:95], 40 / 255)
    assert np.all(out[:, :, 100:] == 1.0)
    assert np.allclose(out[:, :, :15], 200 / 255)


def test_wide_image_is_squashed():
    img = np.zeros((64, 1000, 3), np.uint8)
    img[:, :500] = 120  # left half grey, right half black
    hwc = process_image(img)
    assert hwc.shape == (64, 256, 3)
    out = preprocess_array(img)
    assert np.allclose(out[:, :, :120], 1.0)  # divided by its own max (120)
    assert np.all(out[:, :, 136:] == 0.0)


def test_exact_width_and_tall_images():
    assert preprocess_array(np.full((64, 256, 3), 9, np.uint8)).shape == (3, 64, 256)
    tall = np.full((4000, 20, 3), 255, np.uint8)  # 64 * 20 / 4000 < 1 column: still one column
    assert preprocess_array(tall).shape == (3, 64, 256)


def test_normalisation_uses_the_image_max_and_guards_black():
    dim = np.full((64, 256, 3), 100, np.uint8)
    dim[0, 0] = 50
    out = preprocess_array(dim)
    assert out.max() == 1.0 and out.min() == pytest.approx(0.5)
    black = preprocess_array(np.zeros((64, 256, 3), np.uint8))
    assert not np.isnan(black).any() and black.max() == 0.0


def test_grey_and_alpha_pngs_become_three_channels():
    grey = np.full((40, 120), 180, np.uint8)
    ok, buf = cv2.imencode(".png", grey)
    assert decode_image(buf.tobytes()).shape == (40, 120, 3)
    rgba = np.full((40, 120, 4), 255, np.uint8)
    ok, buf = cv2.imencode(".png", rgba)
    assert preprocess_image(buf.tobytes()).shape == (3, 64, 256)
    assert preprocess_array(grey).shape == (3, 64, 256)


def test_jpeg_input():
    ok, buf = cv2.imencode(".jpg", synthetic_image(3))
    assert preprocess_image(buf.tobytes()).shape == (3, 64, 256)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"definitely not an image",
        b"\x89PNG\r\n\x1a\n",  # a PNG signature and nothing else
        b"%PDF-1.7\n" + b"0" * 200,
    ],
    ids=["empty", "text", "png-signature-only", "pdf"],
)
def test_unreadable_bytes(data):
    with pytest.raises(ImageDecodeError, match="not a readable image"):
        preprocess_image(data)


def test_truncated_png():
    data = png_bytes(synthetic_image(1))
    with pytest.raises(ImageDecodeError, match="not a readable image") as err:
        preprocess_image(data[: len(data) // 2])
    assert isinstance(err.value, OcrkitError)


def test_batch_tensor_and_bad_image_position(image_bytes):
    batch = preprocess_images(image_bytes[:3])
    assert batch.shape == (3, 3, 64, 256) and batch.dtype == torch.float32
    assert torch.equal(batch[1], torch.from_numpy(preprocess_image(image_bytes[1])))
    assert preprocess_images([]).shape == (0, 3, 64, 256)
    with pytest.raises(ImageDecodeError, match="image 2 of 3: not a readable image"):
        preprocess_images([image_bytes[0], b"junk", image_bytes[2]])
