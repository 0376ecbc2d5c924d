"""Where the rows go: a local file, or a bucket object. Both append completed chunks durably.

Local file: each chunk is one ``write`` + ``flush`` + ``fsync`` on the file opened for append, so a
crash or Ctrl-C loses at most the chunk in flight; a partial last line (a kill mid-write) is cut
off when the run resumes. The manifest sits beside it (``RESULTS.manifest.json``), written before
the first row and rewritten (atomically) when the run ends.

Bucket object (``s3://b/out/results.jsonl``): objects cannot be appended to, so each chunk is one
part object under ``RESULTS.parts/`` (durable once the PUT returns); when the run ends the final
object is composed -- the previous final object (on a resume), then the parts in order, a source
that is already there never added twice -- and then the parts are deleted. A resume reads the
final object and any parts left by an interrupted run; so does the next compose, which is why a
crash between writing the final object and deleting the parts loses and doubles nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path
from typing import Protocol

from ocrkit.batch import formats
from ocrkit.batch.formats import OutputFormat
from ocrkit.batch.manifest import MANIFEST_SUFFIX, Manifest
from ocrkit.batch.records import ResultRow
from ocrkit.batch.storage import ObjectStore, open_store
from ocrkit.batch.urls import BucketUrl, is_bucket_url, parse_bucket_url
from ocrkit.errors import OcrkitError


class Sink(Protocol):
    #: where the output is, as the user named it
    location: str
    fmt: OutputFormat

    def results_exist(self) -> bool: ...

    def read_manifest(self) -> Manifest | None: ...

    def done_sources(self) -> set[str]: ...

    def start(self, manifest: Manifest, *, fresh: bool) -> None: ...

    def append(self, rows: list[ResultRow]) -> None: ...

    def finish(self, manifest: Manifest) -> None: ...

    def close(self) -> None: ...


def _complete_length(data: bytes) -> int:
    """Bytes up to and including the last newline: what complete rows occupy."""
    return data.rfind(b"\n") + 1


class LocalSink:
    def __init__(self, path: Path, fmt: OutputFormat) -> None:
        self.path = path
        self.fmt = fmt
        self.location = str(path)
        self.manifest_path = path.with_name(path.name + MANIFEST_SUFFIX)
        self._fh = None
        if path.is_dir():
            raise OcrkitError(f"--out {path} is a directory", hint="name a file, e.g. results.jsonl")
        if path.parent.exists() and not path.parent.is_dir():
            raise OcrkitError(f"--out {path}: {path.parent} is not a directory")

    def results_exist(self) -> bool:
        return self.path.exists()

    def read_manifest(self) -> Manifest | None:
        if not self.manifest_path.is_file():
            return None
        return Manifest.from_bytes(self.manifest_path.read_bytes(), str(self.manifest_path))

    def done_sources(self) -> set[str]:
        if not self.path.exists():
            return set()
        try:
            return {row.source for row in formats.decode(self.path.read_bytes(), self.fmt)}
        except (ValueError, KeyError, TypeError) as exc:
            raise OcrkitError(
                f"{self.path}: cannot read the rows already written ({exc})",
                hint="pass --overwrite to start again",
            ) from None

    def _write_manifest(self, manifest: Manifest) -> None:
        tmp = self.manifest_path.with_name(self.manifest_path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(manifest.to_bytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.manifest_path)

    def start(self, manifest: Manifest, *, fresh: bool) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write_manifest(manifest)
        if fresh or not self.path.exists():
            self._fh = open(self.path, "wb")  # noqa: SIM115 - kept open for the run, closed by close()
            self._fh.write(formats.header(self.fmt))
        else:
            keep = _complete_length(self.path.read_bytes())
            if keep < self.path.stat().st_size:
                os.truncate(self.path, keep)  # the partial row a kill left mid-write
            self._fh = open(self.path, "ab")  # noqa: SIM115
            if keep == 0:
                self._fh.write(formats.header(self.fmt))
        self._sync()

    def _sync(self) -> None:
        assert self._fh is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def append(self, rows: list[ResultRow]) -> None:
        if not rows:
            return
        assert self._fh is not None, "start() first"
        self._fh.write(formats.encode(rows, self.fmt))
        self._sync()

    def finish(self, manifest: Manifest) -> None:
        self.close()
        self._write_manifest(manifest)

    def close(self) -> None:
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._sync()
            self._fh.close()
            self._fh = None


_PART = re.compile(r"part-(\d{6,})\.")


class BucketSink:
    def __init__(self, url: BucketUrl, fmt: OutputFormat, store: ObjectStore | None = None) -> None:
        if not url.key or url.key.endswith("/"):
            raise OcrkitError(
                f"--out {url} names a folder, not an object",
                hint=f"name the results object, e.g. {url.scheme}://{url.bucket}/{url.key}results.jsonl",
            )
        self.url = url
        self.fmt = fmt
        self.location = str(url)
        self.store = store or open_store(url)
        self.manifest_key = url.key + MANIFEST_SUFFIX
        self.parts_prefix = url.key + ".parts/"
        self._next_part = 1

    def check(self) -> None:
        self.store.check()

    def _part_keys(self) -> list[str]:
        keys = [k for k in self.store.list(self.parts_prefix) if _PART.search(k)]
        return sorted(keys, key=lambda k: int(_PART.search(k).group(1)))

    def results_exist(self) -> bool:
        return self.store.exists(self.url.key) or bool(self._part_keys())

    def read_manifest(self) -> Manifest | None:
        if not self.store.exists(self.manifest_key):
            return None
        return Manifest.from_bytes(self.store.get(self.manifest_key), f"{self.url}{MANIFEST_SUFFIX}")

    def _rows(self) -> list[ResultRow]:
        rows: list[ResultRow] = []
        try:
            if self.store.exists(self.url.key):
                rows.extend(formats.decode(self.store.get(self.url.key), self.fmt))
            for key in self._part_keys():
                rows.extend(formats.decode(self.store.get(key), self.fmt))
        except (ValueError, KeyError, TypeError) as exc:
            raise OcrkitError(
                f"{self.url}: cannot read the rows already written ({exc})",
                hint="pass --overwrite to start again",
            ) from None
        return rows

    def done_sources(self) -> set[str]:
        return {row.source for row in self._rows()}

    def start(self, manifest: Manifest, *, fresh: bool) -> None:
        if fresh:  # --overwrite (or a first run): nothing of an earlier output may count as done
            for key in self._part_keys():
                self.store.delete(key)
            if self.store.exists(self.url.key):
                self.store.delete(self.url.key)
        self.store.put(self.manifest_key, manifest.to_bytes(), "application/json")
        parts = self._part_keys()
        self._next_part = int(_PART.search(parts[-1]).group(1)) + 1 if parts else 1

    def append(self, rows: list[ResultRow]) -> None:
        if not rows:
            return
        key = f"{self.parts_prefix}part-{self._next_part:06d}.{self.fmt.value}"
        self.store.put(key, formats.encode(rows, self.fmt))
        self._next_part += 1

    def finish(self, manifest: Manifest) -> None:
        rows = self._rows()
        seen: set[str] = set()
        unique = []
        for row in rows:
            if row.source not in seen:
                seen.add(row.source)
                unique.append(row)
        body = formats.header(self.fmt) + formats.encode(unique, self.fmt)
        content_type = "application/x-ndjson" if self.fmt is OutputFormat.jsonl else "text/csv"
        self.store.put(self.url.key, body, content_type)
        for key in self._part_keys():
            self.store.delete(key)
        self.store.put(self.manifest_key, manifest.to_bytes(), "application/json")

    def close(self) -> None:
        pass


def open_sink(out: str, fmt: OutputFormat) -> Sink:
    if is_bucket_url(out):
        sink = BucketSink(parse_bucket_url(out), fmt)
        sink.check()
        return sink
    return LocalSink(Path(out).expanduser(), fmt)
