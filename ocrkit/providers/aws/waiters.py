"""Waiting for a SageMaker endpoint to be InService, with the reason and the logs' place when it fails.

`wait_for_endpoint` polls a `describe()` callable, so that tests drive it with a stubbed status sequence
(Creating -> InService, Creating -> Failed) and the provider with `describe_endpoint`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ocrkit.deploy.records import Events
from ocrkit.errors import OcrkitError

TRANSITIONAL = {"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"}


class EndpointFailed(OcrkitError):
    """The endpoint ended Failed (or stayed out of service too long)."""


def logs_url(region: str, log_group: str) -> str:
    encoded = log_group.replace("/", "$252F")
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
        f"#logsV2:log-groups/log-group/{encoded}"
    )


def wait_for_endpoint(
    describe: Callable[[], dict],
    *,
    name: str,
    log_group: str,
    region: str,
    events: Events,
    timeout_s: float = 3600,
    interval_s: float = 15,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict:
    """Poll until InService (returns the description); raise EndpointFailed on Failed or timeout."""
    started = clock()
    last = None
    while True:
        info = describe()
        status = str(info.get("EndpointStatus", ""))
        if status != last:
            events.info(f"endpoint {name}: {status}")
            last = status
        elapsed = clock() - started
        if status == "InService":
            events.progress(f"endpoint {name} InService", 1, 1)
            return info
        events.progress(f"endpoint {name} InService", int(elapsed), None)
        if status == "Failed" or status == "OutOfService":
            reason = info.get("FailureReason") or "no reason given"
            raise EndpointFailed(
                f"endpoint {name} is {status}: {reason}",
                hint=f"its logs are in CloudWatch log group {log_group} ({logs_url(region, log_group)}); "
                "fix the cause and run ocrkit deploy again, or ocrkit teardown",
            )
        if status not in TRANSITIONAL:
            raise EndpointFailed(f"endpoint {name} is in an unexpected state: {status or 'unknown'}")
        if elapsed >= timeout_s:
            raise EndpointFailed(
                f"endpoint {name} is still {status} after {int(elapsed)} s",
                hint=f"watch it with ocrkit status; its logs are in CloudWatch log group {log_group}",
            )
        sleep(interval_s)
