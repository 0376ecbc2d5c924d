"""Both image backends (OpenCV, and Pillow + numpy resize) give the network the same arrays."""

from __future__ import annotations

import io

import numpy as np
import pytest

from ocrkit.engine.preprocess import OPENCV, PILLOW, backend, normalize, preprocess_batch, preprocess_image
from ocrkit.prediction import ImageDecodeError

from .conftest import sample_files

cv2 = pytest.importorskip("cv2")
Image = pytest.importorskip("PIL.Image")


def _max_diff(images: list[bytes]) -> float:
    a = preprocess_batch(images, using=OPENCV)
    b = preprocess_batch(images, using=PILLOW)
    assert a.shape == b.shape == (len(images), 3, 64, 256)
    return float(np.abs(a - b).max())


def test_shipped_samples_bit_exact():
    assert _max_diff([p.read_bytes() for p in sample_files()]) == 0.0


def test_builtin_bench_samples_bit_exact():
    from ocrkit.core_model.samples import sample_images

    images = [s.png for s in sample_images()]
    assert len(images) == 32
    assert _max_diff(images) == 0.0


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_other_modes_and_formats_bit_exact():
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (50, 170, 3), dtype=np.uint8))
    rgba = rgb.copy()
    rgba.putalpha(128)
    images = [
        _encode(rgb, "PNG"),
        _encode(rgb, "JPEG", quality=80),
        _encode(rgb.convert("L"), "PNG"),
        _encode(rgb.convert("L"), "JPEG"),
        _encode(rgba, "PNG"),
        _encode(rgb.convert("P"), "PNG"),
        _encode(rgb, "BMP"),
        _encode(rgb.resize((700, 40)), "PNG"),  # wide: squashed
        _encode(rgb.resize((40, 128)), "PNG"),  # tall and narrow: padded
    ]
    assert _max_diff(images) == 0.0


def test_exif_orientation_applied_like_opencv():
    rng = np.random.default_rng(1)
    img = Image.fromarray(rng.integers(0, 256, (40, 120, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    data = _encode(img, "JPEG", exif=exif.tobytes())
    assert OPENCV.decode(data).shape == PILLOW.decode(data).shape == (120, 40, 3)
    assert _max_diff([data]) == 0.0


@pytest.mark.parametrize("using", [OPENCV, PILLOW], ids=["opencv", "pillow"])
def test_unreadable_bytes_are_one_clear_error(using):
    for bad in (b"", b"not an image", _encode(Image.new("RGB", (30, 30)), "PNG")[:40]):
        with pytest.raises(ImageDecodeError):
            preprocess_image(bad, using=using)
    with pytest.raises(ImageDecodeError, match="image 2 of 2"):
        preprocess_batch([_encode(Image.new("RGB", (30, 30)), "PNG"), b"junk"], using=using)


def test_backend_choice(monkeypatch):
    monkeypatch.delenv("OCRKIT_IMAGE_BACKEND", raising=False)
    assert backend("pillow") is PILLOW and backend("opencv") is OPENCV
    monkeypatch.setenv("OCRKIT_IMAGE_BACKEND", "pillow")
    assert backend("opencv") is PILLOW
    monkeypatch.setenv("OCRKIT_IMAGE_BACKEND", "gimp")
    from ocrkit.errors import OcrkitError

    with pytest.raises(OcrkitError, match="opencv or pillow"):
        backend()


def test_torch_path_uses_the_shared_steps():
    """core_model.preprocess is a tensor wrapper around the shared numpy steps."""
    pytest.importorskip("torch")
    from ocrkit.core_model.preprocess import preprocess_images

    images = [p.read_bytes() for p in sample_files()[:3]]
    assert np.array_equal(preprocess_images(images).numpy(), preprocess_batch(images, using=OPENCV))


def test_normalize_divides_in_float32_exactly_as_the_report_in_float64():
    # every uint8 value over every possible peak: the float32 division equals float64 then cast
    values = np.arange(256, dtype=np.uint8)
    for peak in range(1, 256):
        report = (values / peak).astype(np.float32)
        assert np.array_equal(
            np.divide(values, np.float32(peak), dtype=np.float32).view(np.uint32), report.view(np.uint32)
        ), peak
    rng = np.random.default_rng(0)
    for peak in (0, 1, 37, 255):
        img = rng.integers(0, peak + 1, size=(64, 256, 3)).astype(np.float32) + 0.7  # truncated to uint8
        report = np.ascontiguousarray(
            np.transpose(img.astype("uint8") / max(peak, 1), (2, 0, 1)), dtype=np.float32
        )
        got = normalize(img)
        assert got.flags.c_contiguous and got.dtype == np.float32 and got.shape == (3, 64, 256)
        assert np.array_equal(got.view(np.uint32), report.view(np.uint32))
