"""The run manifest: what defines a batch output, kept beside it, and the rule for reusing an output.

A RESULTS file (or object) is written together with ``RESULTS.manifest.json``. Its ``params`` are
what decides the rows -- the source, the engine, the weights' SHA-256 and the output format -- so a
second run with the same params resumes (skipping every source already written), and one with other
params is refused unless ``--overwrite``. The batch size, the number of workers and the runner are
recorded for the reader but may change between runs: they change the speed, not the rows' meaning
(a local run and a Ray run of the same job give the same rows; tests check it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ocrkit import __version__
from ocrkit.errors import OcrkitError

MANIFEST_SUFFIX = ".manifest.json"
MANIFEST_KIND = "ocrkit-batch"


@dataclass(frozen=True)
class RunParams:
    """The fields a resumed run must share with the run that started RESULTS."""

    source: str
    engine: str
    weights_sha256: str
    format: str

    def differences(self, other: RunParams) -> list[str]:
        mine, theirs = asdict(self), asdict(other)
        return [f"{k} {theirs[k]!r} (this run: {mine[k]!r})" for k in mine if mine[k] != theirs[k]]


@dataclass
class Manifest:
    params: RunParams
    #: for the reader: weights path, batch size, workers, runner, counts, status, times
    info: dict = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        body = {
            "kind": MANIFEST_KIND,
            "ocrkit": __version__,
            "params": asdict(self.params),
            "info": self.info,
        }
        return (json.dumps(body, ensure_ascii=False, indent=2) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes, where: str) -> Manifest:
        try:
            body = json.loads(data)
            if body.get("kind") != MANIFEST_KIND:
                raise ValueError("not an ocrkit batch manifest")
            return cls(RunParams(**body["params"]), dict(body.get("info") or {}))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise OcrkitError(
                f"{where}: unreadable run manifest ({exc})",
                hint="pass --overwrite to start the results again",
            ) from None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def weights_sha256(path: Path) -> str:
    """SHA-256 of a weights file, or of a folder's files (names and contents, in sorted order)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(item.relative_to(path).as_posix().encode() + b"\0")
            _feed(digest, item)
    else:
        try:
            _feed(digest, path)
        except OSError as exc:
            raise OcrkitError(f"cannot read weights {path}: {exc.strerror or exc}") from None
    return digest.hexdigest()


def _feed(digest, path: Path) -> None:
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)


@dataclass(frozen=True)
class Decision:
    """What to do with an existing RESULTS: ``fresh`` (start it), ``resume`` or ``overwrite``."""

    action: str
    reason: str = ""


def decide(
    *,
    results_exist: bool,
    existing: Manifest | None,
    params: RunParams,
    where: str,
    overwrite: bool,
) -> Decision:
    """The reuse rule. Refusals are ``OcrkitError``s naming what differs."""
    if not results_exist and existing is None:
        return Decision("fresh")
    if overwrite:
        return Decision("overwrite", "--overwrite")
    if existing is None:
        raise OcrkitError(
            f"{where} exists and was not written by `ocrkit batch` (no {Path(where).name}{MANIFEST_SUFFIX})",
            hint="choose another --out, or pass --overwrite to replace it",
        )
    diffs = params.differences(existing.params)
    if diffs:
        raise OcrkitError(
            f"{where} was written by a run with other parameters: {'; '.join(diffs)}",
            hint="pass --overwrite to start it again, or choose another --out",
        )
    return Decision("resume" if results_exist else "fresh")
