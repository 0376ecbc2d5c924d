"""Tiny real test images. PNG is encoded here with zlib + struct; JPEG, WebP and TIFF come from Pillow
(test fixtures only) and the tests that need them skip when Pillow is absent."""

from __future__ import annotations

import io
import random
import struct
import zlib


def _chunk(kind: bytes, data: bytes) -> bytes:
    return (
        struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    )


def make_png(
    width: int = 32, height: int = 8, *, claim: tuple[int, int] | None = None, noisy: bool = False
) -> bytes:
    """An RGB PNG of dark text-like stripes on white (or seeded noise, which does not compress);
    `claim` writes other dimensions into IHDR."""
    rows = []
    rng = random.Random(width * 7919 + height)
    for y in range(height):
        if noisy:
            rows.append(b"\x00" + rng.randbytes(width * 3))
            continue
        row = bytearray()
        for x in range(width):
            ink = (x // 3 + y) % 4 == 0
            row += b"\x20\x20\x20" if ink else b"\xff\xff\xff"
        rows.append(b"\x00" + bytes(row))
    w, h = claim or (width, height)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + _chunk(b"IEND", b"")
    )


def pil_image(fmt: str, width: int = 32, height: int = 8, **save_args) -> bytes:
    from PIL import Image

    img = Image.new("RGB", (width, height), "white")
    for x in range(0, width, 3):
        for y in range(height):
            if (x // 3 + y) % 4 == 0:
                img.putpixel((x, y), (32, 32, 32))
    buf = io.BytesIO()
    img.save(buf, format=fmt, **save_args)
    return buf.getvalue()


def make_gif() -> bytes:
    return (
        b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
        b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
    )


def make_bmp(width: int = 2, height: int = 2) -> bytes:
    row = b"\xff\xff\xff" * width
    row += b"\x00" * (-len(row) % 4)
    pixels = row * height
    header = b"BM" + struct.pack("<IHHI", 54 + len(pixels), 0, 0, 54)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, len(pixels), 2835, 2835, 0, 0)
    return header + info + pixels


def make_tiff_header_only(width: int, height: int, *, big_endian: bool = False) -> bytes:
    """A TIFF whose IFD declares width x height and one (blank) strip that is present."""
    o = ">" if big_endian else "<"
    strip = b"\xff" * 16
    entries = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 1, 8),
        (262, 3, 1, 1),
        (273, 4, 1, 8),  # strip offset, patched below
        (277, 3, 1, 1),
        (279, 4, 1, len(strip)),
    ]
    ifd_offset = 8 + len(strip)
    ifd = struct.pack(o + "H", len(entries))
    for tag, typ, count, value in entries:
        if typ == 3:  # SHORT: the value sits in the first two bytes of the field
            ifd += struct.pack(o + "HHIHH", tag, typ, count, value, 0)
        else:
            ifd += struct.pack(o + "HHII", tag, typ, count, value)
    ifd += struct.pack(o + "I", 0)
    magic = b"MM\x00*" if big_endian else b"II*\x00"
    return magic + struct.pack(o + "I", ifd_offset) + strip + ifd


def make_tiff_two_sizes(first: tuple[int, int], last: tuple[int, int], *, bomb: bool = False) -> bytes:
    """A little-endian greyscale TIFF whose one IFD holds ImageWidth/ImageLength twice: `first`, then
    `last`. libtiff (OpenCV's decoder) keeps the first; a guard that keeps the last is fooled.

    With `bomb=True` the one deflate strip really holds first[0] x first[1] zero bytes (about 1/1000 of
    that on disk: 20000 x 20000 is ~390 KB), so a decoder that believes the first tags allocates it all;
    otherwise the strip holds `last`'s pixels only (cheap, for tests that must not decode it).
    """
    import zlib

    width, height = first if bomb else last
    packer = zlib.compressobj(9)
    row = b"\x00" * width
    strip = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    entries = [
        (256, 4, 1, first[0]),
        (257, 4, 1, first[1]),
        (256, 4, 1, last[0]),
        (257, 4, 1, last[1]),
        (258, 3, 1, 8),
        (259, 3, 1, 8),  # Adobe deflate
        (262, 3, 1, 1),
        (273, 4, 1, 8),
        (277, 3, 1, 1),
        (278, 4, 1, first[1]),
        (279, 4, 1, len(strip)),
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        if typ == 3:
            ifd += struct.pack("<HHIHH", tag, typ, count, value, 0)
        else:
            ifd += struct.pack("<HHII", tag, typ, count, value)
    ifd += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8 + len(strip)) + strip + ifd
