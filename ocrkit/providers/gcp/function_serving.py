"""`serving: function` on GCP: the Cloud Function holds the model (the ONNX engine), no Vertex AI at all.

The local build stage (no remote calls) makes two things:

- `model-onnx.zip`: the ONNX export of the checkpoint (`encoder.onnx`, `decoder_step.onnx`,
  `ocrkit-onnx.json`, as `ocrkit export --format onnx` writes them), one object in the private bucket at
  `models/<sha12>/model-onnx.zip`, read once per cold start (`OCRKIT_MODEL_URI`); one object, so that the
  function's service account can be allowed to read exactly it;
- the function source: `main.py` (-> ocrkit.runtime.onnx_function_entry), the ocrkit modules it imports and
  a `requirements.txt` with the ONNX extra's runtime packages and functions-framework, pinned
  (`REQUIREMENTS`; tests/providers/gcp/test_function_serving.py checks them against pyproject's extra).

Before anything is created it refuses, in one line: a build without the ONNX extra (onnxruntime must load
the export here, as it will in the cloud), a memory size outside what Cloud Functions 2nd gen offers, a
model that does not fit the function's memory (on Cloud Run functions the unpacked model in /tmp counts
against the instance's memory, and so do the ONNX Runtime sessions), and a source over the 100 MB
(compressed) deployment limit.

Limits (Google Cloud documentation, read 2026-12):
- memory 128 MiB .. 32 GiB (2nd gen tiers: https://cloud.google.com/functions/docs/configuring/memory);
- files written to the file system count toward the instance's memory
  (https://cloud.google.com/run/docs/configuring/memory-limits);
- 100 MB compressed source (https://cloud.google.com/functions/quotas; listed for 1st gen, "N/A" for 2nd
  gen, which builds with Cloud Build: ocrkit keeps the 1st gen figure as a conservative bound).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from ocrkit.deploy.artifact import BuildOutputs, BuiltArchive, Entry, build_cached, build_zip, module_entries
from ocrkit.errors import OcrkitError
from ocrkit.gateway.limits import MiB
from ocrkit.providers.gcp.spec import FUNCTION_MAX_MEMORY_MB as MAX_MEMORY_MB
from ocrkit.providers.gcp.spec import FUNCTION_MAX_REQUEST, GcpDeploySpec

MODEL_ZIP = "model-onnx.zip"
ENTRY_MODULE = "ocrkit.runtime.onnx_function_entry"
MAX_SOURCE_BYTES = 100 * 1000 * 1000
# The function's requirements.txt: the ONNX extra (pyproject `onnx`) pinned to the versions the tests
# install into a fresh virtual environment, plus functions-framework (Flask) that serves `predict`.
REQUIREMENTS: dict[str, str] = {
    "onnxruntime": "1.32.0",
    "numpy": "2.4.6",
    "pillow": "13.0.0",
    "functions-framework": "3.10.2",
}
# Memory an instance needs (an estimate from one measurement, tests/providers/gcp/
# test_function_onnx_data_path.py: functions-framework in a fresh venv, the demo model's 55 MiB export):
# 65 MiB before the model loads (Python, Flask, gunicorn), +199 MiB once ONNX Runtime holds it and has
# answered (3.6x the export), +55 MiB for the unpacked files, which live in memory on Cloud Functions' /tmp.
# Kept with a margin: 128 MiB + 5x the export.
BASE_MEMORY_MB = 128
MODEL_COPIES = 5
MAIN_PY = (
    '"""Cloud Function entry point (functions-framework target `predict`): the model in the function."""\n\n'
    "from ocrkit.runtime.onnx_function_entry import predict  # noqa: F401\n"
)


def function_environment(spec: GcpDeploySpec, model_uri: str, model_sha256: str) -> dict[str, str]:
    """The function's environment: where its model is, and the gateway's limits (one hop: the function)."""
    return {
        "OCRKIT_MODEL_URI": model_uri,
        "OCRKIT_MODEL_SHA256": model_sha256,
        "OCRKIT_MAX_REQUEST_BYTES": str(FUNCTION_MAX_REQUEST),
        "OCRKIT_MAX_IMAGE_BYTES": str(spec.limits.max_image_bytes),
        "OCRKIT_MAX_BATCH": str(spec.limits.max_batch),
        "OCRKIT_BACKEND_TIMEOUT_S": str(max(1, spec.function.timeout_s - 1)),
        "OCRKIT_URL_INPUT": "true" if spec.function.url_input else "false",
    }


def requirements_txt() -> str:
    lines = ["# ocrkit[onnx] runtime packages + functions-framework, pinned (no torch, no ocrkit)"]
    lines += [f"{name}=={version}" for name, version in REQUIREMENTS.items()]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ModelFit:
    unpacked_bytes: int
    needed_mb: int


def memory_needed_mb(unpacked_bytes: int) -> int:
    """Estimated instance memory for a model export of `unpacked_bytes` (see BASE_MEMORY_MB)."""
    return BASE_MEMORY_MB + -(-MODEL_COPIES * unpacked_bytes // MiB)


def require_onnx_extra() -> None:
    """The build checks the export with ONNX Runtime, as the function will run it: the extra must be here."""
    missing = [m for m in ("onnxruntime", "numpy", "PIL") if importlib.util.find_spec(m) is None]
    if missing:
        raise OcrkitError(
            f"--serving function needs the onnx extra to build the function's model ({missing[0]} is not "
            "installed)",
            hint="pip install 'ocrkit[onnx]'",
        )


def export_for(weights: Path) -> Path:
    """The ONNX export folder of `weights` (exported once into ocrkit's cache; needs torch + onnx)."""
    from ocrkit.engine.cache import cached_export
    from ocrkit.engine.manifest import is_export_dir

    return weights if weights.is_dir() and is_export_dir(weights) else cached_export(weights)


def build_model_zip(export: Path, out: Path) -> BuiltArchive:
    from ocrkit.engine.manifest import DECODER_FILE, ENCODER_FILE, MANIFEST_FILE

    entries = [Entry(name, export / name) for name in (MANIFEST_FILE, ENCODER_FILE, DECODER_FILE)]
    return build_cached(entries, out, build_zip)


def source_modules() -> dict[str, Path]:
    from ocrkit.deploy.artifact import bundle_modules
    from ocrkit.providers.gcp.package import PACKAGE_ROOT

    return bundle_modules([ENTRY_MODULE], package_root=PACKAGE_ROOT)


def build_source_zip(out: Path) -> BuiltArchive:
    from ocrkit.providers.gcp.package import PACKAGE_ROOT

    entries = [
        Entry("main.py", MAIN_PY.encode()),
        Entry("requirements.txt", requirements_txt().encode()),
        *module_entries(source_modules(), package_root=PACKAGE_ROOT),
    ]
    return build_cached(entries, out, build_zip)


def unpacked_size(export: Path) -> int:
    return sum(p.stat().st_size for p in export.iterdir() if p.is_file())


def check_fit(memory: str, memory_mb: int, unpacked_bytes: int, source: BuiltArchive) -> ModelFit:
    """One line, before anything is created, when the function cannot hold the model or its source."""
    needed = memory_needed_mb(unpacked_bytes)
    if needed > MAX_MEMORY_MB:
        raise OcrkitError(
            f"the model is too big for a Cloud Function: its export is {unpacked_bytes / MiB:,.0f} MiB, "
            f"about {needed:,} MiB of memory with it unpacked in /tmp (the limit is "
            f"{MAX_MEMORY_MB // 1024} GiB)",
            hint="use --serving cpu-endpoint or gpu-endpoint",
        )
    if needed > memory_mb:
        raise OcrkitError(
            f"function.model_memory {memory} is too small for this model: its export is "
            f"{unpacked_bytes / MiB:,.0f} MiB, about {needed:,} MiB with it unpacked in /tmp (an estimate)",
            hint=f"set function.model_memory to at least {-(-needed // 1024)}Gi in the deploy config",
        )
    if source.size > MAX_SOURCE_BYTES:
        raise OcrkitError(
            f"the function source is {source.size / 1e6:,.1f} MB, over the {MAX_SOURCE_BYTES // 10**6} MB "
            "(compressed) a Cloud Functions deployment may be"
        )
    return ModelFit(unpacked_bytes, needed)


def build_function_outputs(weights: Path, build_dir: Path, memory: str, memory_mb: int) -> BuildOutputs:
    """The model zip and the function source for `serving: function`, checked against the limits."""
    require_onnx_extra()
    export = export_for(weights)
    from ocrkit.engine.onnx_runtime import OnnxPredictor

    OnnxPredictor(export, threads=1)  # loads here as it will in the function (fails in one line if not)
    source = build_source_zip(build_dir / "function-onnx.zip")
    check_fit(memory, memory_mb, unpacked_size(export), source)
    model = build_model_zip(export, build_dir / MODEL_ZIP)
    return BuildOutputs(model=model, function=source)
