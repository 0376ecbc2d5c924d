"""Recognise an encoded image by its magic bytes and read its size from the header, without decoding it.

This runs before any decoder sees the bytes, so that a small file which claims to be 100 000 x 100 000
pixels (a decompression bomb) is refused with 413, an obviously truncated upload with 400, and a GIF with
415, in microseconds and with the standard library only.

Supported: PNG, JPEG, WebP (lossy, lossless, extended, not animated) and classic TIFF.
Recognised and refused (415): GIF, BMP, ICO, JPEG 2000, HEIF/HEIC/AVIF, BigTIFF, PSD, SVG, PDF.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from ocrkit.gateway.errors import Code, bad_request, too_large, unsupported
from ocrkit.gateway.limits import Limits

SUPPORTED_FORMATS = ("png", "jpeg", "webp", "tiff")
MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "tiff": "image/tiff"}
_UNSUPPORTED_NAMES = {
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
            f"{label} is not a PNG, JPEG, WebP or TIFF image (its first bytes match no image format)",
        )
    if fmt not in SUPPORTED_FORMATS:
        raise unsupported(
            Code.UNSUPPORTED_IMAGE_FORMAT,
            f"{label} is {_UNSUPPORTED_NAMES[fmt]}; send PNG, JPEG, WebP or TIFF",
        )
    reader = {"png": _png, "jpeg": _jpeg, "webp": _webp, "tiff": _tiff}[fmt]
    try:
        width, height, complete = reader(data)
    except _Truncated as exc:
        raise bad_request(
            Code.TRUNCATED_IMAGE, f"{label} is a truncated {fmt.upper()} file ({exc})"
        ) from None
    except _Corrupt as exc:
        raise bad_request(Code.NOT_AN_IMAGE, f"{label} is not a valid {fmt.upper()} file ({exc})") from None
    except UnsupportedVariant as exc:
        raise unsupported(Code.UNSUPPORTED_IMAGE_FORMAT, f"{label}: {exc}; send a still image") from None
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


class UnsupportedVariant(Exception):
    """A supported container holding something we do not take (an animated WebP)."""


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


def _webp(data: bytes) -> tuple[int, int, bool]:
    if len(data) < 30:
        raise _Truncated("the header is cut short")
    (riff_size,) = struct.unpack("<I", data[4:8])
    complete = len(data) >= 8 + riff_size
    chunk = data[12:16]
    if chunk == b"VP8 ":
        if data[23:26] != b"\x9d\x01\x2a":
            raise _Corrupt("bad VP8 start code")
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF, complete
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            raise _Corrupt("bad VP8L signature")
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1, complete
    if chunk == b"VP8X":
        if data[20] & 0x02:
            raise UnsupportedVariant("animated WebP is not supported")
        width = 1 + int.from_bytes(data[24:27], "little")
        height = 1 + int.from_bytes(data[27:30], "little")
        return width, height, complete
    raise _Corrupt(f"unknown WebP chunk {chunk!r}")


_TIFF_TYPE_SIZES = {1: 1, 3: 2, 4: 4, 16: 8}


def _tiff(data: bytes) -> tuple[int, int, bool]:
    size = len(data)
    order = "<" if data[:2] == b"II" else ">"
    if size < 8:
        raise _Truncated("the header is cut short")
    (ifd,) = struct.unpack(order + "I", data[4:8])
    if ifd < 8:
        raise _Corrupt("bad first IFD offset")
    if ifd + 2 > size:
        raise _Truncated("the first IFD lies past the end of the file")
    (count,) = struct.unpack(order + "H", data[ifd : ifd + 2])
    if ifd + 2 + 12 * count > size:
        raise _Truncated("the first IFD is cut short")
    tags: dict[int, list[int]] = {}
    for i in range(count):
        entry = ifd + 2 + 12 * i
        tag, typ, n = struct.unpack(order + "HHI", data[entry : entry + 8])
        if tag not in (256, 257, 273, 279, 324, 325):
            continue
        item = _TIFF_TYPE_SIZES.get(typ)
        if item is None or item > 4:
            raise _Corrupt(f"tag {tag} has an unexpected type {typ}")
        if n * item <= 4:
            start = entry + 8
        else:
            (start,) = struct.unpack(order + "I", data[entry + 8 : entry + 12])
            if start + n * item > size:
                raise _Truncated(f"tag {tag}'s values lie past the end of the file")
        fmt = {1: "B", 2: "H", 4: "I"}[item]
        tags[tag] = list(struct.unpack(f"{order}{n}{fmt}", data[start : start + n * item]))
    if 256 not in tags or 257 not in tags or not tags[256] or not tags[257]:
        raise _Corrupt("the first IFD has no ImageWidth / ImageLength")
    offsets = tags.get(273) or tags.get(324) or []
    counts = tags.get(279) or tags.get(325) or []
    if len(offsets) != len(counts):
        raise _Corrupt("strip offsets and byte counts disagree")
    complete = all(off + cnt <= size for off, cnt in zip(offsets, counts, strict=True))
    return tags[256][0], tags[257][0], complete
