"""What `ocrkit predict` reads: image files, the images inside folders, and one image from stdin (`-`).

A folder contributes the files whose first bytes are an image (the batch sniffer, never the name),
sorted, its sub-folders included; a file that cannot be read stays in the list as an error row.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ocrkit.batch.sources import FolderSource
from ocrkit.errors import OcrkitError

STDIN = "-"


@dataclass(frozen=True)
class ImageInput:
    #: what the output shows: the path as given or found, or "-" for stdin
    name: str
    data: bytes | None = None
    #: why the bytes could not be read (data is None)
    error: str | None = None


def _read(path: Path) -> ImageInput:
    try:
        return ImageInput(str(path), data=path.read_bytes())
    except OSError as exc:
        return ImageInput(str(path), error=f"cannot read file: {exc.strerror or exc}")


def expand_inputs(args: list[str], stdin: BinaryIO) -> list[ImageInput]:
    """The images the arguments name, in order: folders expand to their images, `-` reads stdin."""
    if args.count(STDIN) > 1:
        raise OcrkitError("'-' (an image on stdin) may be given once")
    found: list[ImageInput] = []
    for arg in args:
        if arg == STDIN:
            data = stdin.read()
            if not data:
                raise OcrkitError("'-': stdin is empty (pipe one image into ocrkit predict -)")
            found.append(ImageInput(STDIN, data=data))
            continue
        path = Path(arg)
        if not path.is_dir():
            found.append(_read(path))
            continue
        source = FolderSource(path)
        keys = source.keys()
        if not keys:
            skipped = f"{source.skipped} file(s) that are not images"
            raise OcrkitError(f"{path}: folder holds no images ({skipped})")
        found.extend(_read(path / key) for key in keys)
    return found
