"""Magic-byte sniffing and header-only size reading, before any decoder runs."""

from __future__ import annotations

import struct

import pytest

from ocrkit.gateway.errors import GatewayError
from ocrkit.gateway.images import inspect_image, sniff
from ocrkit.gateway.limits import Limits
from tests.gateway.imagegen import (
    make_bmp,
    make_gif,
    make_png,
    make_tiff_header_only,
    make_tiff_two_sizes,
    pil_image,
)

LIMITS = Limits()


def refused(data: bytes, limits: Limits = LIMITS) -> GatewayError:
    with pytest.raises(GatewayError) as info:
        inspect_image(data, limits)
    return info.value


def patch_jpeg_size(data: bytes, width: int, height: int) -> bytes:
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = data.find(marker)
        if at != -1:
            return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]
    raise AssertionError("no SOF in the test JPEG")


@pytest.fixture(scope="module")
def pil():
    return pytest.importorskip("PIL")


def test_png_dimensions_read_from_ihdr() -> None:
    info = inspect_image(make_png(37, 11), LIMITS)
    assert (info.format, info.width, info.height, info.media_type) == ("png", 37, 11, "image/png")


@pytest.mark.parametrize(
    ("fmt", "kind", "args"),
    [
        ("JPEG", "jpeg", {"quality": 90}),
        ("JPEG", "jpeg", {"progressive": True}),
    ],
)
def test_real_images_are_measured(pil, fmt: str, kind: str, args: dict) -> None:
    info = inspect_image(pil_image(fmt, 45, 13, **args), LIMITS)
    assert (info.format, info.width, info.height) == (kind, 45, 13)


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (make_tiff_header_only(30, 7), "TIFF"),
        (make_tiff_header_only(300, 70, big_endian=True), "TIFF"),
        (make_tiff_header_only(100_000, 100_000), "TIFF"),
    ],
)
def test_tiff_is_refused_by_content_not_measured(data: bytes, name: str) -> None:
    """The contract names PNG and JPEG; TIFF's repeated tags give a header two sizes (see below)."""
    err = refused(data)
    assert (err.status, err.code) == (415, "unsupported_image_format")
    assert name in err.message and "PNG or JPEG" in err.message


@pytest.mark.parametrize(
    ("fmt", "args"), [("WEBP", {"lossless": False}), ("WEBP", {"lossless": True}), ("TIFF", {})]
)
def test_real_webp_and_tiff_are_415(pil, fmt: str, args: dict) -> None:
    err = refused(pil_image(fmt, 45, 13, **args))
    assert (err.status, err.code) == (415, "unsupported_image_format")


def test_tiff_whose_first_tags_say_20000_square_is_never_read_as_10x10() -> None:
    """libtiff keeps the first ImageWidth/ImageLength; the old guard kept the last and let this pass."""
    err = refused(make_tiff_two_sizes((20_000, 20_000), (10, 10)))
    assert err.status in (413, 415) and err.code != "ok"
    assert err.code == "unsupported_image_format"


def test_jpeg_with_two_frame_headers_is_measured_by_the_first(pil) -> None:
    """libjpeg stops at a second SOF ("duplicate SOF"), so the first one is the size it allocates."""
    data = pil_image("JPEG", 16, 16)
    sof = data.find(b"\xff\xc0")
    length = struct.unpack(">H", data[sof + 2 : sof + 4])[0]
    segment = data[sof : sof + 2 + length]
    big = segment[:5] + struct.pack(">HH", 20_000, 20_000) + segment[9:]
    err = refused(data[:sof] + big + segment + data[sof + 2 + length :])
    assert (err.status, err.code) == (413, "image_too_many_pixels")


# -- decompression bombs: refused from the header, 413 ------------------------------------------------


def test_png_claiming_100000_square_is_413() -> None:
    err = refused(make_png(4, 4, claim=(100_000, 100_000)))
    assert (err.status, err.code) == (413, "image_too_many_pixels")
    assert "100,000 x 100,000" in err.message


def test_jpeg_claiming_huge_size_is_413(pil) -> None:
    err = refused(patch_jpeg_size(pil_image("JPEG", 16, 16), 60_000, 60_000))
    assert (err.status, err.code) == (413, "image_too_many_pixels")


def test_width_limit_alone_applies() -> None:
    err = refused(make_png(4, 4, claim=(30_000, 2)))
    assert err.code == "image_too_many_pixels"
    assert inspect_image(make_png(4, 4), Limits(max_width=4, max_height=4, max_pixels=16)).pixels == 16
    assert refused(make_png(5, 4), Limits(max_width=4)).status == 413


def test_bytes_over_limit_is_413() -> None:
    err = refused(make_png(64, 64), Limits(max_image_bytes=100))
    assert (err.status, err.code) == (413, "image_too_large")


# -- truncation, 400 ------------------------------------------------------------------------------------


def test_png_without_iend_is_truncated() -> None:
    data = make_png(40, 10)
    err = refused(data[:-12])
    assert (err.status, err.code) == (400, "truncated_image")
    err = refused(data[: len(data) // 2])
    assert err.code == "truncated_image"


def test_png_header_cut_short_is_truncated() -> None:
    assert refused(make_png()[:20]).code == "truncated_image"


def test_png_with_bytes_after_iend_is_accepted() -> None:
    assert inspect_image(make_png() + b"trailing", LIMITS).format == "png"


def test_jpeg_without_eoi_is_truncated(pil) -> None:
    data = pil_image("JPEG", 64, 16)
    assert data.endswith(b"\xff\xd9")
    err = refused(data[:-2])
    assert (err.status, err.code) == (400, "truncated_image")
    assert refused(data[:40]).code == "truncated_image"  # cut inside the headers


# -- not images, unsupported formats ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [b"hello world", b"<html><body>hi</body></html>", b'{"image": "x"}', b"\x00" * 64, b"PK\x03\x04zip"],
)
def test_non_images_are_400(data: bytes) -> None:
    err = refused(data)
    assert (err.status, err.code) == (400, "not_an_image")


def test_empty_is_400() -> None:
    assert refused(b"").code == "not_an_image"


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (make_gif(), "GIF"),
        (make_bmp(), "BMP"),
        (b"%PDF-1.7\n...", "PDF"),
        (b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00", "HEIF"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "AVIF"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"></svg>', "SVG"),
        (b"II+\x00\x08\x00\x00\x00" + b"\x00" * 16, "BigTIFF"),
    ],
)
def test_recognised_unsupported_formats_are_415(data: bytes, name: str) -> None:
    err = refused(data)
    assert (err.status, err.code) == (415, "unsupported_image_format")
    assert name in err.message


def test_corrupt_png_header_is_not_an_image() -> None:
    data = bytearray(make_png())
    data[12:16] = b"IDAT"
    assert refused(bytes(data)).code == "not_an_image"


def test_zero_size_is_not_an_image() -> None:
    assert refused(make_png(4, 4, claim=(0, 4))).code == "not_an_image"


def test_sniff_names() -> None:
    assert sniff(make_png()) == "png"
    assert sniff(make_gif()) == "gif"
    assert sniff(make_bmp()) == "bmp"
    assert sniff(b"BM is also how this sentence starts") is None
    assert sniff(b"") is None
