"""The local build stage for GCP: `model.mar` for the Vertex AI PyTorch container and the function source.

Why a TorchServe archive in Google's prebuilt PyTorch prediction container, and not a custom container:
nothing has to be built or pushed (no Docker here, no Cloud Build, no Artifact Registry repository to pay
for and clean up), Google patches the serving image, and the archive is one file in the bucket that
`ocrkit deploy` builds reproducibly. `torch-model-archiver` is not needed: a `.mar` is a zip with
`MAR-INF/MANIFEST.json`, written here with fixed dates and sorted entries (the same inputs give the same
sha256, which is what the planner compares with what is deployed). Layout:

    MAR-INF/MANIFEST.json   {"runtime": "python", "archiverVersion", "createdOn",
                             "model": {"modelName": "model", "modelVersion": "1.0",
                                       "serializedFile": "model.pt", "handler": "ocrkit_handler.py",
                                       "requirementsFile": "requirements.txt",
                                       "configFile": "model-config.yaml"}}
    model-config.yaml       TorchServe's per-model settings: batchSize, maxBatchDelay (ms). TorchServe
                            0.8+ reads it from the archive; it outranks config.properties (only the
                            management API outranks it): pytorch/serve docs/configuration.md, "Config model"
    model.pt                the checkpoint
    ocrkit_handler.py       ocrkit.runtime.torchserve_handler (module-level initialize/handle)
    requirements.txt        what the container lacks (OpenCV, for the preprocessing); TorchServe installs
                            it when install_py_dep_per_model=true
    ocrkit/...              the ocrkit modules the handler imports (extra files, on sys.path at load)

The function source zip holds `main.py` (`from ocrkit.runtime.function_entry import predict`), an
empty-ish `requirements.txt` and the gateway modules: standard library only, far under 1 MB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import ocrkit
from ocrkit.deploy.artifact import (
    BuildOutputs,
    BuiltArchive,
    Entry,
    build_cached,
    build_zip,
    bundle_modules,
    existing_weights,
    imports_of_file,
    module_entries,
)

PACKAGE_ROOT = Path(ocrkit.__file__).resolve().parent.parent
HANDLER_SOURCE = Path(ocrkit.__file__).resolve().parent / "runtime" / "torchserve_handler.py"
HANDLER_MODULE = "ocrkit.runtime.torchserve_handler"
HANDLER_FILE = "ocrkit_handler.py"
FUNCTION_MODULE = "ocrkit.runtime.function_entry"
MODEL_NAME = "model"  # the prebuilt container serves the archive as model.mar
MAR_NAME = "model.mar"
CONTAINER_REQUIREMENTS = "opencv-python-headless>=4.8,<5\n"
FUNCTION_REQUIREMENTS = "# the gateway uses the standard library only\n"
MAIN_PY = (
    '"""Cloud Function entry point (functions-framework target `predict`)."""\n\n'
    "from ocrkit.runtime.function_entry import predict  # noqa: F401\n"
)


MODEL_CONFIG = "model-config.yaml"


@dataclass(frozen=True)
class Batching:
    """TorchServe's request batching for the model: up to `batch_size` requests arriving within
    `max_batch_delay_ms` of each other reach the handler together (1: no batching)."""

    batch_size: int = 1
    max_batch_delay_ms: int = 100


def model_config(batching: Batching) -> str:
    """The archive's model-config.yaml (TorchServe frontend parameters)."""
    return (
        "# TorchServe per-model settings, from vertex.batch_size and vertex.max_batch_delay_ms\n"
        f"batchSize: {int(batching.batch_size)}\n"
        f"maxBatchDelay: {int(batching.max_batch_delay_ms)}\n"
    )


def manifest() -> dict:
    """The TorchServe archive manifest (what torch-model-archiver writes), with a fixed creation date."""
    return {
        "createdOn": "01/01/1980 00:00:00",
        "runtime": "python",
        "model": {
            "modelName": MODEL_NAME,
            "serializedFile": "model.pt",
            "handler": HANDLER_FILE,
            "modelVersion": "1.0",
            "requirementsFile": "requirements.txt",
            "configFile": MODEL_CONFIG,
        },
        "archiverVersion": "0.12.0",
    }


def handler_modules() -> dict[str, Path]:
    roots = imports_of_file(HANDLER_SOURCE, HANDLER_MODULE)
    return bundle_modules(roots, package_root=PACKAGE_ROOT)


def function_modules() -> dict[str, Path]:
    return bundle_modules([FUNCTION_MODULE], package_root=PACKAGE_ROOT)


def build_mar(weights: Path, out: Path, batching: Batching | None = None) -> BuiltArchive:
    weights = existing_weights(weights)
    entries = [
        Entry("MAR-INF/MANIFEST.json", (json.dumps(manifest(), indent=2, sort_keys=True) + "\n").encode()),
        Entry(MODEL_CONFIG, model_config(batching or Batching()).encode()),
        Entry("model.pt", weights),
        Entry(HANDLER_FILE, HANDLER_SOURCE.read_bytes()),
        Entry("requirements.txt", CONTAINER_REQUIREMENTS.encode()),
        *module_entries(handler_modules(), package_root=PACKAGE_ROOT),
    ]
    return build_cached(entries, out, build_zip)


def build_function_zip(out: Path) -> BuiltArchive:
    entries = [
        Entry("main.py", MAIN_PY.encode()),
        Entry("requirements.txt", FUNCTION_REQUIREMENTS.encode()),
        *module_entries(function_modules(), package_root=PACKAGE_ROOT),
    ]
    return build_cached(entries, out, build_zip)


def build_all(weights: Path, build_dir: Path, batching: Batching | None = None) -> BuildOutputs:
    return BuildOutputs(
        model=build_mar(weights, build_dir / MAR_NAME, batching),
        function=build_function_zip(build_dir / "function.zip"),
    )
