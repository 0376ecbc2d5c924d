"""Which `pip install 'ocrkit[...]'` extra brings which third-party package.

The base install is the CLI and the costing engine; every other job is an extra (pyproject.toml).
Commands import their extra's packages lazily, so a missing one surfaces as ModuleNotFoundError at
the point of use; the CLI turns it into one line that names the extra to install.
"""

from __future__ import annotations

from dataclasses import dataclass

from ocrkit.errors import OcrkitError


@dataclass(frozen=True)
class Extra:
    name: str  # as in pip install 'ocrkit[name]'
    needed_by: str  # the job, as the user knows it


_AWS = Extra("aws", "the AWS target")
_GCP = Extra("gcp", "the GCP target")
_SERVE = Extra("serve", "the HTTP server (ocrkit serve, deploy --cloud local)")
_MODEL = Extra("model", "the PyTorch model")
_ONNX = Extra("onnx", "the ONNX engine")
_RAY = Extra("ray", "--runner ray")
_CHART = Extra("chart", "--chart")

# Top-level import name -> the extra that installs it.
EXTRA_OF_MODULE: dict[str, Extra] = {
    "boto3": _AWS,
    "botocore": _AWS,
    "google": _GCP,
    "grpc": _GCP,
    "gunicorn": _SERVE,
    "prometheus_client": _SERVE,
    "torch": _MODEL,
    "torchvision": _MODEL,
    "cv2": _MODEL,
    "onnx": _MODEL,
    "albumentations": _MODEL,
    "wordfreq": _MODEL,
    "fontTools": _MODEL,
    "onnxruntime": _ONNX,
    # numpy and Pillow come with either engine's extra; the lighter one is named.
    "numpy": _ONNX,
    "PIL": _ONNX,
    "ray": _RAY,
    "matplotlib": _CHART,
    "plotly": _CHART,
}

# The distribution name where it differs from the import name (what the user sees on PyPI).
_DISTRIBUTION = {"google": "google-cloud-*", "grpc": "grpcio", "cv2": "opencv", "PIL": "pillow"}


def missing_extra_error(exc: ModuleNotFoundError) -> OcrkitError | None:
    """One actionable line for a missing optional package, or None when it is not an extra's."""
    top = (exc.name or "").split(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    package = _DISTRIBUTION.get(top, top.replace("_", "-"))
    return OcrkitError(f"{extra.needed_by} needs {package}: pip install 'ocrkit[{extra.name}]'")


def require(*modules: str) -> None:
    """Fail before any work when an extra's package is missing (a check, not an import)."""
    import importlib.util

    for module in modules:
        if importlib.util.find_spec(module) is None:
            error = missing_extra_error(ModuleNotFoundError(name=module))
            raise error or OcrkitError(f"{module} is not installed")
