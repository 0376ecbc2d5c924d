"""Serving options: which architecture a deployment runs, and which clouds offer which.

One name per option, shared by `ocrkit deploy --serving`, the deploy configs' `serving:` and the
serving-costs engine (`ocrkit cost --serving`), so that a planner's answer can be deployed as it is named.
`gpu-endpoint` is the report's architecture and stays the default.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any

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


# -- the option a deployment runs, as its state file records it -------------------------------------------

SERVING_KEY = "serving"  # state outputs: the option the last complete deploy ran
HOURLY_KEY = "hourly_cost"  # state outputs: the $/hour its plan showed


def recorded(state: Any) -> ServingOption | None:
    """The option the state says the deployment runs; a deployment made before options existed ran the
    report's architecture (gpu-endpoint); None when nothing is deployed."""
    if state is None or not getattr(state, "resources", None):
        return None
    value = (getattr(state, "outputs", None) or {}).get(SERVING_KEY)
    try:
        return ServingOption(value) if value else DEFAULT_SERVING
    except ValueError:
        return None


def switching(state: Any, option: ServingOption) -> str | None:
    """The option being switched from (None: a first deploy, or the same option again)."""
    old = recorded(state)
    return old.value if old is not None and old != option else None


def previous_hourly(state: Any) -> Decimal | None:
    value = (getattr(state, "outputs", None) or {}).get(HOURLY_KEY)
    try:
        return Decimal(str(value)) if value is not None else None
    except ArithmeticError:
        return None


def record_serving(state: Any, option: str | None, hourly: Decimal | None) -> None:
    """After a complete deploy: the option it now runs and the $/hour its plan showed."""
    if option is None:
        return
    state.outputs[SERVING_KEY] = option
    if hourly is None:
        state.outputs.pop(HOURLY_KEY, None)
    else:
        state.outputs[HOURLY_KEY] = str(hourly)


def serving_of(state: Any, seen: ServingOption | None) -> str | None:
    """What `ocrkit status` shows: the state's record, else what the live resources look like."""
    value = (getattr(state, "outputs", None) or {}).get(SERVING_KEY)
    if value:
        return str(value)
    return None if seen is None else seen.value
