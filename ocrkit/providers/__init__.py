"""Deploy targets: one adapter per cloud, each implementing `ocrkit.deploy.records.Provider`.

`get_provider("aws" | "gcp" | "local")` imports the adapter on demand, so that `ocrkit --help` and the
Lambda zip (which carries this package's __init__) never import boto3 or any cloud SDK.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from ocrkit.errors import OcrkitError

CLOUDS = ("aws", "gcp", "local")
_ADAPTERS = {
    "aws": ("ocrkit.providers.aws.provider", "AwsProvider"),
    "gcp": ("ocrkit.providers.gcp.provider", "GcpProvider"),
    "local": ("ocrkit.providers.local.provider", "LocalProvider"),
}


def available(cloud: str) -> bool:
    module, _ = _ADAPTERS[cloud]
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def get_provider(cloud: str, **options: Any) -> Any:
    """A new provider object for `cloud`; options go to its constructor."""
    key = (cloud or "").strip().lower()
    if key not in _ADAPTERS:
        raise OcrkitError(f"unknown cloud '{cloud}'", hint=f"use one of {', '.join(CLOUDS)}")
    module_name, class_name = _ADAPTERS[key]
    if not available(key):
        raise OcrkitError(
            f"deploying to {key} is not available yet in this version of ocrkit",
            hint="use --cloud aws or --cloud local" if key != "local" else "use --cloud aws",
        )
    module = importlib.import_module(module_name)
    return getattr(module, class_name)(**options)
