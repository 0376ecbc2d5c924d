"""A ``.pt`` given to the ONNX engine is exported once, into a cache keyed by the file's sha256.

The cache lives in ``$OCRKIT_CACHE_DIR/onnx/<sha256>`` (default ``~/.cache/ocrkit/onnx/<sha256>``).
An entry is used only when its manifest validates and names the same checkpoint; otherwise (another
ocrkit version, a damaged entry) it is exported again -- the cache is ocrkit's own, so replacing an
entry there changes nothing the user made. Exporting needs torch (``ocrkit[model]``); a torch-free
install takes an export directory instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

from ocrkit.engine.manifest import file_sha256, read_manifest
from ocrkit.errors import OcrkitError

CACHE_ENV = "OCRKIT_CACHE_DIR"
log = logging.getLogger("ocrkit.model")


def cache_root() -> Path:
    env = os.environ.get(CACHE_ENV, "").strip()
    root = Path(env).expanduser() if env else Path.home() / ".cache" / "ocrkit"
    return root / "onnx"


def _valid(directory: Path, sha256: str) -> bool:
    if not directory.is_dir():
        return False
    try:
        return read_manifest(directory).source_sha256 == sha256
    except OcrkitError:
        return False


def cached_export(weights: Path, *, progress: Callable[[str], None] | None = None) -> Path:
    """The export directory for ``weights``: from the cache, or exported into it now."""
    say = progress or log.info
    sha256 = file_sha256(weights)
    target = cache_root() / sha256
    if _valid(target, sha256):
        return target
    try:
        from ocrkit.core_model.onnx_export import export_checkpoint  # noqa: PLC0415 - needs torch
    except ImportError as exc:
        raise OcrkitError(
            f"{weights} is a PyTorch checkpoint: exporting it to ONNX needs torch ({exc.name} is not "
            "installed)",
            hint="pip install 'ocrkit[model]' once to export, or pass an export directory made by "
            "`ocrkit export --format onnx`",
        ) from None
    say(f"exporting {weights} to ONNX (once; cached in {target})")
    try:
        export_checkpoint(weights, target, replace=target.exists(), progress=None)
    except OSError:
        if _valid(target, sha256):  # another process finished the same export first
            return target
        raise
    return target
