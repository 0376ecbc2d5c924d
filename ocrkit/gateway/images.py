"""Recognise an encoded image by its magic bytes and read its size from the header, without decoding it.

This runs before any decoder sees the bytes, so that a small file which claims to be 100 000 x 100 000
pixels (a decompression bomb) is refused with 413, an obviously truncated upload with 400, and a GIF with
415, in microseconds and with the standard library only.

Supported: PNG and JPEG, the formats the HTTP contract names, recognised by content (the Content-Type is
a hint). For both, the size read here is the size the decoder allocates, by the decoder's own rule:
PNG's IHDR must be the first chunk (libpng refuses anything else), and libjpeg stops with "duplicate
SOF" at a second frame header, so the first SOF is the frame. Formats whose headers allow several
answers (TIFF: several IFDs and repeated tags; WebP: a canvas and a frame size) are refused with 415,
not measured; a TIFF whose first tags said 20000 x 20000 and whose last said 10 x 10 once passed a
guard that kept the last and was decoded at the first. The servers also cap the decoder itself
(`ocrkit.server.decoder`), so a header read wrongly still cannot make it allocate more.

Recognised and refused (415): WebP, TIFF, BigTIFF, GIF, BMP, ICO, JPEG 2000, HEIF/HEIC/AVIF, PSD, SVG, PDF.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ocrkit.gateway.errors import Code, bad_request, too_large, unsupported
from ocrkit.gateway.limits import Limits

SUPPORTED_FORMATS = ("png", "jpeg")
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}
_UNSUPPORTED_NAMES = {
    "webp": "WebP",
    "tiff": "TIFF",
    "gif": "GIF",
    "bmp": "BMP",
    "ico": "ICO",
    "jp2": "JPEG 2000",
    "heif": "HEIF/HEIC",
    "avif": "AVIF",
    "bigtiff": "BigTIFF",
    "psd": "Photoshop (PSD)",
    "svg": "SVG",
    "pdf": "PDF",
}
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


@dataclass(frozen=True)
class ImageInfo:
    format: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self.format]


class _Truncated(Exception):
    pass


class _Corrupt(Exception):
    pass


def sniff(data: bytes) -> str | None:
    """The format named by the magic bytes ("png", "gif", ...), or None when it is no image we know."""
    head = data[:32]
    if head.startswith(_PNG_SIGNATURE):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:4] in (b"II+\x00", b"MM\x00+"):
        return "bigtiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(head) >= 14 and head[6:10] == b"\x00\x00\x00\x00":
        return "bmp"
    if head[:4] == b"\x00\x00\x01\x00" and len(head) >= 6 and head[4:6] != b"\x00\x00":
        return "ico"
    if head[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or head[:4] == b"\xff\x4f\xff\x51":
        return "jp2"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "avif"
        if brand in (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"):
            return "heif"
    if head[:4] == b"8BPS":
        return "psd"
    if head[:5] == b"%PDF-":
        return "pdf"
    text_head = data[:256].lstrip().lower()
    if text_head.startswith(b"<svg") or (text_head.startswith(b"<?xml") and b"<svg" in data[:1024].lower()):
        return "svg"
    return None


def inspect_image(data: bytes, limits: Limits, *, label: str = "the image") -> ImageInfo:
    """Check one encoded image against the limits; raise a GatewayError saying what is wrong.

    Order: size in bytes (413), format (400 / 415), dimensions (413), completeness (400).
    """
    if len(data) > limits.max_image_bytes:
        raise too_large(
            Code.IMAGE_TOO_LARGE,
            f"{label} is {len(data):,} bytes; the limit is {limits.max_image_bytes:,} bytes",
        )
    if not data:
        raise bad_request(Code.NOT_AN_IMAGE, f"{label} is empty")
    fmt = sniff(data)
    if fmt is None:
        raise bad_request(
            Code.NOT_AN_IMAGE,
            f"{label} is not a PNG or JPEG image (its first bytes match no image format)",
        )
    if fmt not in SUPPORTED_FORMATS:
        raise unsupported(
            Code.UNSUPPORTED_IMAGE_FORMAT,
            f"{label} is {_UNSUPPORTED_NAMES[fmt]}; send PNG or JPEG",
        )
    reader = {"png": _png, "jpeg": _jpeg}[fmt]
    try:
        width, height, complete = reader(data)
    except _Truncated as exc:
        raise bad_request(
            Code.TRUNCATED_IMAGE, f"{label} is a truncated {fmt.upper()} file ({exc})"
        ) from None
    except _Corrupt as exc:
        raise bad_request(Code.NOT_AN_IMAGE, f"{label} is not a valid {fmt.upper()} file ({exc})") from None
    if width < 1 or height < 1:
        raise bad_request(Code.NOT_AN_IMAGE, f"{label} declares a size of {width} x {height} pixels")
    if width > limits.max_width or height > limits.max_height or width * height > limits.max_pixels:
        raise too_large(
            Code.IMAGE_TOO_MANY_PIXELS,
            f"{label} is {width:,} x {height:,} pixels; the limits are {limits.max_width:,} wide, "
            f"{limits.max_height:,} high and {limits.max_pixels:,} pixels in all",
        )
    if not complete:
        raise bad_request(
            Code.TRUNCATED_IMAGE, f"{label} is a truncated {fmt.upper()} file (its end marker is missing)"
        )
    return ImageInfo(fmt, width, height)


# Each reader returns (width, height, complete) or raises _Truncated / _Corrupt.


def _png(data: bytes) -> tuple[int, int, bool]:
    if len(data) < 33:
        raise _Truncated("the header is cut short")
    length, ctype = struct.unpack(">I4s", data[8:16])
    if ctype != b"IHDR" or length != 13:
        raise _Corrupt("the first chunk is not IHDR")
    width, height = struct.unpack(">II", data[16:24])
    return width, height, _png_complete(data)


def _png_complete(data: bytes) -> bool:
    if data.endswith(_PNG_IEND):
        return True
    # Walk the chunks: allows bytes after IEND, spots a body cut anywhere.
    pos, size = 8, len(data)
    while pos + 12 <= size:
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > size:
            return False
        if ctype == b"IEND":
            return True
        pos = end
    return False


def _jpeg(data: bytes) -> tuple[int, int, bool]:
    size = len(data)
    pos = 2
    frame: tuple[int, int] | None = None
    while True:
        if pos >= size:
            raise _Truncated("it ends inside the headers")
        if data[pos] != 0xFF:
            raise _Corrupt(f"expected a marker at byte {pos}")
        while pos < size and data[pos] == 0xFF:
            pos += 1
        if pos >= size:
            raise _Truncated("it ends inside the headers")
        marker = data[pos]
        pos += 1
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            continue  # markers without a length
        if marker == 0xD9:
            raise _Corrupt("it ends before any image data")
        if pos + 2 > size:
            raise _Truncated("it ends inside the headers")
        (length,) = struct.unpack(">H", data[pos : pos + 2])
        if length < 2:
            raise _Corrupt(f"bad segment length at byte {pos}")
        if marker in _JPEG_SOF and frame is None:
            if pos + 7 > size:
                raise _Truncated("it ends inside the frame header")
            height, width = struct.unpack(">HH", data[pos + 3 : pos + 7])
            frame = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data follows, EOI must come after it
            if frame is None:
                raise _Corrupt("image data comes before the frame header")
            return frame[0], frame[1], data.rfind(b"\xff\xd9", pos) != -1
        pos += length
