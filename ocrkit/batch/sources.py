"""Where the images come from: a folder (recursive), a glob, a labels TSV (Kaggle layout) or a bucket.

Every source lists its images as sorted string keys -- the ``source`` column of the output, and what
``--resume`` matches on -- and reads one key's bytes. Keys are stable across working directories
where they can be: a folder's keys are paths relative to it, a TSV's are its filenames, a bucket's
are full URLs; a glob's are the paths it matched (its manifest spec is the absolute pattern, so a
resume from elsewhere is refused rather than mismatched). Sources are picklable (a Ray worker reads
with its own copy).

Folders and globs keep only files whose first bytes are an image's (``sniff``), whatever their
names; a bucket's objects are checked when read (one request each, not two), so a non-image object
there becomes an error row.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ocrkit.batch.sniff import HEAD_BYTES, image_kind
from ocrkit.batch.storage import ObjectStore, open_store
from ocrkit.batch.urls import BucketUrl, is_bucket_url, parse_bucket_url
from ocrkit.errors import OcrkitError


class Source(Protocol):
    #: what the manifest records: an absolute path, an absolute pattern or a URL
    spec: str
    #: files seen that are not images (folders and globs only)
    skipped: int

    def keys(self) -> list[str]: ...

    def read(self, key: str) -> bytes:
        """The image's bytes; ``OSError`` or ``OcrkitError`` when it cannot be read."""


def _is_image_file(path: Path) -> bool:
    """True for an image by content; also for a file that cannot be opened (it becomes an error row)."""
    try:
        with open(path, "rb") as fh:
            return image_kind(fh.read(HEAD_BYTES)) is not None
    except OSError:
        return True


@dataclass
class FolderSource:
    root: Path
    spec: str = ""
    skipped: int = 0

    def __post_init__(self) -> None:
        self.spec = str(self.root.resolve())

    def keys(self) -> list[str]:
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames.sort()
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if _is_image_file(path):
                    found.append(path.relative_to(self.root).as_posix())
                else:
                    self.skipped += 1
        return sorted(found)

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()


@dataclass
class GlobSource:
    pattern: str
    spec: str = ""
    skipped: int = 0

    def __post_init__(self) -> None:
        self.spec = os.path.abspath(os.path.expanduser(self.pattern))

    def keys(self) -> list[str]:
        found = []
        for match in glob.glob(os.path.expanduser(self.pattern), recursive=True):
            if not os.path.isfile(match):
                continue
            if _is_image_file(Path(match)):
                found.append(match)
            else:
                self.skipped += 1
        return sorted(found)

    def read(self, key: str) -> bytes:
        return Path(key).read_bytes()


@dataclass
class LabelsSource:
    """``ROOT/split.tsv`` with its images in ``ROOT/split/`` (else beside the TSV), as ``ocrkit eval``
    reads them; a listed file that is missing becomes an error row."""

    tsv: Path
    images_dir: Path = field(init=False)
    spec: str = ""
    skipped: int = 0

    def __post_init__(self) -> None:
        beside = self.tsv.with_suffix("")
        self.images_dir = beside if beside.is_dir() else self.tsv.parent
        self.spec = str(self.tsv.resolve())

    def keys(self) -> list[str]:
        from ocrkit.core_model.evaluate import read_labels

        items = read_labels(self.tsv, self.images_dir, check_files=False)
        return sorted({item.filename for item in items})

    def read(self, key: str) -> bytes:
        return (self.images_dir / key).read_bytes()


@dataclass
class BucketSource:
    url: BucketUrl
    store: ObjectStore
    #: keys under this prefix are the run's own output and never images to read
    exclude_prefix: str | None = None
    spec: str = ""
    skipped: int = 0

    def __post_init__(self) -> None:
        self.spec = str(self.url)

    def keys(self) -> list[str]:
        self.store.check()
        found = []
        for key in self.store.list(self.url.key):
            if key.endswith("/") or (self.exclude_prefix and key.startswith(self.exclude_prefix)):
                continue
            found.append(f"{self.url.scheme}://{self.url.bucket}/{key}")
        return sorted(found)

    def read(self, key: str) -> bytes:
        data = self.store.get(parse_bucket_url(key).key)
        if image_kind(data[:HEAD_BYTES]) is None:
            raise OcrkitError("not an image (its first bytes are no image format's)")
        return data


def open_source(text: str, *, exclude_prefix: str | None = None) -> Source:
    """A source from the command line's SOURCE; a clear error when it names nothing usable."""
    if is_bucket_url(text):
        url = parse_bucket_url(text)
        return BucketSource(url, open_store(url), exclude_prefix=exclude_prefix)
    path = Path(text).expanduser()
    if path.is_dir():
        return FolderSource(path)
    if path.is_file():
        if path.suffix.lower() == ".tsv":
            return LabelsSource(path)
        raise OcrkitError(
            f"{text}: a single file is not a batch source",
            hint="pass a folder, a glob in quotes ('scans/*.png'), a labels .tsv, or an s3:// / gs:// URL",
        )
    if glob.has_magic(text):
        return GlobSource(text)
    raise OcrkitError(f"{text}: no such folder or file")
