"""Serving options: which architecture a deployment runs, and which clouds offer which.

One name per option, shared by `ocrkit deploy --serving`, the deploy configs' `serving:` and the
serving-costs engine (`ocrkit cost --serving`), so that a planner's answer can be deployed as it is named.
`gpu-endpoint` is the report's architecture and stays the default.
"""

from __future__ import annotations

from enum import StrEnum

from ocrkit.errors import OcrkitError


class ServingOption(StrEnum):
    gpu_endpoint = "gpu-endpoint"  # always-on instance endpoint with a GPU (the report's choice)
    cpu_endpoint = "cpu-endpoint"  # always-on instance endpoint on a CPU instance / machine type
    serverless_endpoint = "serverless-endpoint"  # SageMaker Serverless Inference (AWS only)
    function = "function"  # the model inside the function itself: no endpoint at all


DEFAULT_SERVING = ServingOption.gpu_endpoint

OFFERED: dict[str, tuple[ServingOption, ...]] = {
    "aws": (
        ServingOption.gpu_endpoint,
        ServingOption.cpu_endpoint,
        ServingOption.serverless_endpoint,
        ServingOption.function,
    ),
    "gcp": (ServingOption.gpu_endpoint, ServingOption.cpu_endpoint, ServingOption.function),
}


def check_offered(cloud: str, option: ServingOption | str) -> ServingOption:
    """The option, if `cloud` offers it; else one line that names what it does offer."""
    try:
        chosen = ServingOption(option)
    except ValueError:
        names = ", ".join(o.value for o in ServingOption)
        raise OcrkitError(f"--serving {option}: unknown serving option (one of: {names})") from None
    offered = OFFERED.get(cloud)
    if offered is None:
        raise OcrkitError(f"--serving applies to --cloud aws or gcp, not --cloud {cloud}")
    if chosen not in offered:
        names = ", ".join(o.value for o in offered)
        raise OcrkitError(f"--cloud {cloud} does not offer --serving {chosen.value} (it offers: {names})")
    return chosen
