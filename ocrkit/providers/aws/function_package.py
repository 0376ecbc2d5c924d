"""The local build stage of `--serving function` on AWS: the model function's zip and the ONNX model archive.
No cloud calls (the package index is read for the wheels, once; see function_wheels).

The zip holds `ocrkit/runtime/function_model_entry.py` and the ocrkit modules it imports (the gateway, the
ONNX engine), plus onnxruntime, numpy and Pillow unpacked from the index's manylinux wheels for the
function's runtime and architecture. Its unzipped size is checked against Lambda's 250 MB before anything
is created. The model is not in the zip: `model-onnx.tar.gz` (encoder.onnx, decoder_step.onnx and the
export manifest) goes to the private bucket and is read once per cold start, so that a model too large for
the zip (the report's 176 MB checkpoint) still fits; it must fit Lambda's /tmp and the function's memory.

Both archives are reproducible (ocrkit.deploy.artifact) and cached by the digest of their inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ocrkit.deploy.artifact import (
    BuiltArchive,
    Entry,
    build_cached,
    build_targz,
    build_zip,
    bundle_modules,
    module_entries,
)
from ocrkit.errors import OcrkitError
from ocrkit.providers.aws.function_wheels import (
    WheelTarget,
    download_wheels,
    site_files,
    unpack_wheel,
)
from ocrkit.providers.aws.package import PACKAGE_ROOT, TRIGGER_MODULE

MB = 1024 * 1024
# Lambda quotas (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html, as of 2026-12).
LAMBDA_MAX_UNZIPPED = 250 * MB  # deployment package, unzipped, layers included
LAMBDA_MAX_DIRECT_ZIP = 50 * MB  # a zip passed in the CreateFunction / UpdateFunctionCode request
LAMBDA_TMP_DEFAULT = 512 * MB  # /tmp (ephemeral storage) unless configured higher

FUNCTION_MODULE = "ocrkit.runtime.function_model_entry"
FUNCTION_HANDLER = f"{FUNCTION_MODULE}.handler"
MODEL_FILES = ("encoder.onnx", "decoder_step.onnx", "ocrkit-onnx.json")


@dataclass(frozen=True)
class FunctionBuild:
    """What `--serving function` deploys: the zip (code + wheels) and the model archive."""

    zip: BuiltArchive
    unzipped_bytes: int
    model: BuiltArchive
    model_bytes: int  # the export's files, unpacked


def function_modules() -> dict[str, Path]:
    return bundle_modules([FUNCTION_MODULE, TRIGGER_MODULE], package_root=PACKAGE_ROOT)


def zip_entries(target: WheelTarget, wheels_root: Path | None = None) -> list[Entry]:
    sites = [unpack_wheel(w, wheels_root) for w in download_wheels(target, wheels_root)]
    entries = module_entries(function_modules(), package_root=PACKAGE_ROOT)
    return entries + [Entry(name, path) for name, path in site_files(sites).items()]


def check_unzipped(entries: list[Entry], what: str = "the function's zip") -> int:
    total = sum(e.size() for e in entries)
    if total > LAMBDA_MAX_UNZIPPED:
        raise OcrkitError(
            f"{what} would be {total / MB:.0f} MB unzipped, over Lambda's {LAMBDA_MAX_UNZIPPED // MB} MB "
            "limit; nothing was created"
        )
    return total


def build_function_zip(
    target: WheelTarget, out: Path, wheels_root: Path | None = None
) -> tuple[BuiltArchive, int]:
    """The zip for `target` (cached by content), checked against Lambda's size limits before it is used."""
    entries = zip_entries(target, wheels_root)
    unzipped = check_unzipped(entries)
    built = build_cached(entries, out, build_zip)
    if built.size > LAMBDA_MAX_DIRECT_ZIP:
        raise OcrkitError(
            f"the function's zip is {built.size / MB:.0f} MB, over the {LAMBDA_MAX_DIRECT_ZIP // MB} MB a "
            "direct upload takes; nothing was created"
        )
    return built, unzipped


def export_dir_for(weights: Path) -> Path:
    """The ONNX export of `weights`: an export directory as is, a `.pt` exported once into the cache.
    Fails in one line without the ONNX extra (onnxruntime checks the export loads)."""
    from ocrkit.engine.manifest import is_export_dir, read_manifest
    from ocrkit.engine.onnx_runtime import require_onnxruntime

    try:
        require_onnxruntime()
    except OcrkitError as exc:
        raise OcrkitError(
            "--serving function packs the ONNX engine: onnxruntime is not installed here",
            hint=f"{exc.hint}; nothing was created",
        ) from None
    if weights.is_dir() or is_export_dir(weights):
        read_manifest(weights)
        return weights
    from ocrkit.engine.cache import cached_export

    return cached_export(weights)


def build_model_archive(export_dir: Path, out: Path) -> tuple[BuiltArchive, int]:
    entries = [Entry(name, export_dir / name) for name in MODEL_FILES]
    missing = [e.arcname for e in entries if not Path(e.source).is_file()]  # type: ignore[arg-type]
    if missing:
        raise OcrkitError(f"{export_dir} is not a complete ONNX export (missing {', '.join(missing)})")
    size = sum(e.size() for e in entries)
    return build_cached(entries, out, lambda es, o: build_targz(es, o, compresslevel=1)), size


def check_model_fits(model_bytes: int, memory_mb: int) -> None:
    """The model is unpacked into /tmp and held in memory by ONNX Runtime: refuse what cannot fit."""
    if model_bytes > LAMBDA_TMP_DEFAULT:
        raise OcrkitError(
            f"the ONNX model is {model_bytes / MB:.0f} MB, more than Lambda's {LAMBDA_TMP_DEFAULT // MB} MB "
            "/tmp; --serving function cannot hold it (use an endpoint option); nothing was created"
        )
    if model_bytes > memory_mb * MB // 2:
        raise OcrkitError(
            f"the ONNX model is {model_bytes / MB:.0f} MB: a {memory_mb} MB function cannot load it (the "
            "sessions need about twice the model; raise lambda.memory_mb); nothing was created"
        )


def build_function(
    weights: Path, target: WheelTarget, memory_mb: int, build_dir: Path, wheels_root: Path | None = None
) -> FunctionBuild:
    """Everything `--serving function` uploads, with every size limit checked first."""
    export = export_dir_for(weights)
    model, model_bytes = build_model_archive(export, build_dir / "model-onnx.tar.gz")
    check_model_fits(model_bytes, memory_mb)
    zipped, unzipped = build_function_zip(target, build_dir / f"function-{target.key}.zip", wheels_root)
    return FunctionBuild(zipped, unzipped, model, model_bytes)
