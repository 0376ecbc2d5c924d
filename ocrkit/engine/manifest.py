"""The export directory's manifest (``ocrkit-onnx.json``): what the graphs are and how to feed them.

An export directory holds ``encoder.onnx``, ``decoder_step.onnx`` and this manifest: the alphabet,
the architecture, the preprocessing parameters, the token limit the position table covers, the
sha256 of the source checkpoint and of each graph, and the ocrkit version that wrote it. Reading is
strict: a directory from another ocrkit version, a missing graph or a damaged manifest is one
``OcrkitError`` line. Standard library only (plus ocrkit's torch-free alphabet), so that a Lambda
zip with the ONNX engine reads it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from ocrkit import __version__
from ocrkit.core_model.alphabet import ALPHABET, EOS, PAD, SOS
from ocrkit.engine.preprocess import PREPROCESSING
from ocrkit.errors import OcrkitError

MANIFEST_FILE = "ocrkit-onnx.json"
ENCODER_FILE = "encoder.onnx"
DECODER_FILE = "decoder_step.onnx"
KIND = "ocrkit-onnx-export"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Architecture:
    bb_name: str
    outtoken: int
    hidden: int
    enc_layers: int
    dec_layers: int
    nhead: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.nhead

    def describe(self) -> str:
        return (
            f"{self.bb_name} / hidden {self.hidden} / {self.enc_layers}+{self.dec_layers} layers / "
            f"{self.nhead} heads"
        )


@dataclass(frozen=True)
class ExportManifest:
    ocrkit_version: str
    architecture: Architecture
    alphabet: list[str]
    pad: int
    sos: int
    eos: int
    max_len: int
    preprocessing: dict
    source_name: str
    source_sha256: str
    graphs: dict[str, str]  # file name -> sha256
    kind: str = KIND
    format_version: int = FORMAT_VERSION

    def to_json(self) -> dict:
        return asdict(self)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def manifest_for(
    config: dict, *, max_len: int, source_sha256: str, source_name: str, graphs: dict[str, str]
) -> ExportManifest:
    arch = Architecture(**{k: config[k] for k in Architecture.__dataclass_fields__})
    return ExportManifest(
        ocrkit_version=__version__,
        architecture=arch,
        alphabet=list(ALPHABET),
        pad=PAD,
        sos=SOS,
        eos=EOS,
        max_len=max_len,
        preprocessing=dict(PREPROCESSING),
        source_name=source_name,
        source_sha256=source_sha256,
        graphs=graphs,
    )


def write_manifest(manifest: ExportManifest, directory: Path) -> Path:
    path = Path(directory) / MANIFEST_FILE
    path.write_text(json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def is_export_dir(path: Path) -> bool:
    return Path(path).is_dir() and (Path(path) / MANIFEST_FILE).is_file()


def read_manifest(directory: Path) -> ExportManifest:
    """The manifest of an export directory, validated; any problem is one OcrkitError line."""
    directory = Path(directory)
    path = directory / MANIFEST_FILE
    if not directory.is_dir():
        raise OcrkitError(f"{directory} is not an ONNX export directory")
    if not path.is_file():
        raise OcrkitError(
            f"{directory} is not an ONNX export directory (no {MANIFEST_FILE})",
            hint="create one with: ocrkit export --format onnx --weights model.pt --out DIR",
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise OcrkitError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise OcrkitError(f"{path}: not an ocrkit ONNX export manifest (kind must be {KIND!r})")
    version = data.get("ocrkit_version")
    if data.get("format_version") != FORMAT_VERSION or version != __version__:
        raise OcrkitError(
            f"{directory} was exported by ocrkit {version} (format {data.get('format_version')}); "
            f"this is ocrkit {__version__} (format {FORMAT_VERSION})",
            hint="export it again: ocrkit export --format onnx --weights model.pt --out DIR",
        )
    try:
        arch = Architecture(**data["architecture"])
        manifest = ExportManifest(**{**data, "architecture": arch})
    except (KeyError, TypeError) as exc:
        raise OcrkitError(f"{path}: malformed manifest ({exc})") from None
    if manifest.alphabet != ALPHABET or (manifest.pad, manifest.sos, manifest.eos) != (PAD, SOS, EOS):
        raise OcrkitError(f"{path}: the export's alphabet differs from this ocrkit's 92-token alphabet")
    if arch.outtoken != len(ALPHABET) or arch.hidden % arch.nhead:
        raise OcrkitError(f"{path}: inconsistent architecture ({arch.describe()}, {arch.outtoken} tokens)")
    if manifest.preprocessing != PREPROCESSING:
        raise OcrkitError(f"{path}: preprocessing {manifest.preprocessing} differs from this ocrkit's")
    for name in (ENCODER_FILE, DECODER_FILE):
        graph = directory / name
        if name not in manifest.graphs:
            raise OcrkitError(f"{path}: the manifest does not list {name}")
        if not graph.is_file() or graph.stat().st_size == 0:
            raise OcrkitError(f"{directory}: the graph {name} is missing", hint="export the model again")
    return manifest
