"""The local build stage for AWS: `model.tar.gz` for SageMaker and the Lambda zip. No remote calls.

`model.tar.gz`, laid out for the SageMaker PyTorch serving container:

    model.pt               the checkpoint (the weights at the root)
    code/inference.py      model_fn / input_fn / predict_fn / output_fn (ocrkit.runtime.sagemaker_entry)
    code/requirements.txt  what the container lacks (it has torch, torchvision and numpy)
    code/ocrkit/...        the ocrkit modules inference.py imports: the container cannot pip-install ocrkit

The Lambda zip holds `ocrkit/runtime/lambda_entry.py` and what it imports: the gateway and the
SageMaker backend, and the S3 trigger's entry (`s3_trigger_entry`, for `--trigger s3`): standard library
only (boto3 comes with the runtime), far under 1 MB.

Both archives are reproducible (see ocrkit.deploy.artifact): the same weights and code give the same sha256.
"""

from __future__ import annotations

from pathlib import Path

import ocrkit
from ocrkit.deploy.artifact import (
    BuildOutputs,
    BuiltArchive,
    Entry,
    build_cached,
    build_targz,
    build_zip,
    bundle_modules,
    existing_weights,
    imports_of_file,
    module_entries,
)

PACKAGE_ROOT = Path(ocrkit.__file__).resolve().parent.parent
INFERENCE_SOURCE = Path(ocrkit.__file__).resolve().parent / "runtime" / "sagemaker_entry.py"
INFERENCE_MODULE = "ocrkit.runtime.sagemaker_entry"
LAMBDA_MODULE = "ocrkit.runtime.lambda_entry"
LAMBDA_HANDLER = f"{LAMBDA_MODULE}.handler"
# --trigger s3: the S3-triggered Lambda runs the same zip as the deployment's function, another handler
TRIGGER_MODULE = "ocrkit.runtime.s3_trigger_entry"
TRIGGER_HANDLER = f"{TRIGGER_MODULE}.handler"
# The PyTorch inference containers ship torch, torchvision, numpy and Pillow; the preprocessing needs OpenCV.
CONTAINER_REQUIREMENTS = "opencv-python-headless>=4.8,<5\n"


def inference_modules() -> dict[str, Path]:
    """The ocrkit modules that code/inference.py imports, directly or not (torch-backed ones included)."""
    roots = imports_of_file(INFERENCE_SOURCE, INFERENCE_MODULE)
    return bundle_modules(roots, package_root=PACKAGE_ROOT)


def lambda_modules() -> dict[str, Path]:
    return bundle_modules([LAMBDA_MODULE, TRIGGER_MODULE], package_root=PACKAGE_ROOT)


def build_model_artifact(weights: Path, out: Path) -> BuiltArchive:
    weights = existing_weights(weights)
    entries = [
        Entry("model.pt", weights),
        Entry("code/inference.py", INFERENCE_SOURCE.read_bytes()),
        Entry("code/requirements.txt", CONTAINER_REQUIREMENTS.encode()),
        *module_entries(inference_modules(), prefix="code/", package_root=PACKAGE_ROOT),
    ]
    return build_cached(entries, out, build_targz)


def build_lambda_zip(out: Path) -> BuiltArchive:
    return build_cached(module_entries(lambda_modules(), package_root=PACKAGE_ROOT), out, build_zip)


def build_all(weights: Path, build_dir: Path) -> BuildOutputs:
    return BuildOutputs(
        model=build_model_artifact(weights, build_dir / "model.tar.gz"),
        function=build_lambda_zip(build_dir / "gateway.zip"),
    )
