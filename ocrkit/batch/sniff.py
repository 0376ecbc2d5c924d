"""Is this file an image? Decided by its first bytes (magic numbers), never by its name."""

from __future__ import annotations

#: bytes needed to recognise every format below
HEAD_BYTES = 16

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"BM", "bmp"),
    (b"II*\x00", "tiff"),
    (b"MM\x00*", "tiff"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def image_kind(head: bytes) -> str | None:
    """The image format that ``head`` (a file's first bytes) starts, or None when it is not one.

    The formats are those OpenCV decodes (GIF is recognised so that it becomes an error row that
    says so rather than a silently skipped file)."""
    for magic, kind in _SIGNATURES:
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:1] == b"P" and head[1:2] in (b"1", b"2", b"3", b"4", b"5", b"6") and head[2:3].isspace():
        return "pnm"
    if head[4:12] in (b"ftypavif", b"ftypheic"):
        return head[8:12].decode()
    return None
