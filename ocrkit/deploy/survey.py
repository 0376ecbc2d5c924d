"""Where `ocrkit status --all` looks, and the looking: each cloud's inventory, region by region.

Regions searched:
- AWS: `--region R`; `--region all`: every region where SageMaker is offered (botocore's own list, no
  call); otherwise the configured region (AWS_REGION, AWS_DEFAULT_REGION, the profile's) and every region
  named by an AWS state file in this directory.
- GCP: `--region R`, otherwise the shipped config's region (us-east4) and every (project, region) named by
  a GCP state file here; the project is GOOGLE_CLOUD_PROJECT or ADC's. `--region all` is refused for GCP
  (Vertex AI lists endpoints one region at a time): name the region.
- local: the servers running on this machine.

When a cloud was named with --cloud, a failure to search it (no credentials, no region, an API refused) is
the command's error. Without --cloud every cloud is tried, and one that cannot be searched is reported in
`not_searched` with the reason instead of stopping the others (most users have one cloud).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ocrkit.deploy.inventory import FoundDeployment, Inventory, metric_window
from ocrkit.deploy.state import list_states
from ocrkit.errors import OcrkitError

CLOUDS = ("aws", "gcp", "local")
ALL_REGIONS = "all"


def _recorded(cloud: str) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """(deployment name -> serving option recorded in its state file here, the states' outputs)."""
    options, outputs = {}, []
    for state in list_states(cloud):
        serving = state.outputs.get("serving")
        if serving:
            options[state.name] = str(serving)
        outputs.append(state.outputs)
    return options, outputs


def _aws(region: str | None, now: datetime, idle_hours: float) -> tuple[list[FoundDeployment], list[str]]:
    from ocrkit.providers.aws.inventory import find_deployments
    from ocrkit.providers.aws.session import make_session

    recorded, outputs = _recorded("aws")
    if region == ALL_REGIONS:
        import boto3

        regions = sorted(boto3.Session().get_available_regions("sagemaker"))
    elif region:
        regions = [region]
    else:
        regions = [make_session().region]
        regions += sorted({str(o["region"]) for o in outputs if o.get("region")} - set(regions))
    found, notes = [], []
    window = metric_window(now, idle_hours)
    for name in regions:
        got, why = find_deployments(make_session(region=name), window, recorded)
        found += got
        notes += why
    return found, notes


def _gcp(region: str | None, now: datetime, idle_hours: float) -> tuple[list[FoundDeployment], list[str]]:
    from ocrkit.providers.gcp.inventory import find_deployments
    from ocrkit.providers.gcp.provider import DEFAULT_REGION
    from ocrkit.providers.gcp.session import make_session

    if region == ALL_REGIONS:
        raise OcrkitError("--region all applies to AWS only; name the GCP region (e.g. --region us-east4)")
    recorded, outputs = _recorded("gcp")
    first = make_session(None, region or DEFAULT_REGION)
    places = [(first.project, first.region)]
    if not region:
        places += sorted(
            {(str(o["project"]), str(o["region"])) for o in outputs if o.get("project") and o.get("region")}
            - set(places)
        )
    window = metric_window(now, idle_hours)
    found, seen = [], set()
    for project, name in places:
        session = first if (project, name) == places[0] else make_session(project, name)
        found += find_deployments(session, window, recorded, leftover_buckets=project not in seen)
        seen.add(project)
    return found, []


def _local(region: str | None, now: datetime, idle_hours: float) -> tuple[list[FoundDeployment], list[str]]:
    from ocrkit.providers.local.inventory import find_deployments

    if region:
        raise OcrkitError("--region does not apply to --cloud local")
    return find_deployments(), []


SEARCH: dict[str, Callable[[str | None, datetime, float], tuple[list[FoundDeployment], list[str]]]] = {
    "aws": _aws,
    "gcp": _gcp,
    "local": _local,
}


def survey(cloud: str | None, region: str | None, idle_hours: float, now: datetime) -> Inventory:
    """Every ocrkit deployment found on `cloud` (or on every cloud when None)."""
    if idle_hours <= 0:
        raise OcrkitError(f"--idle-hours must be more than 0 (got {idle_hours:g})")
    if region and cloud is None:
        raise OcrkitError("--region needs --cloud aws or --cloud gcp (region names differ between clouds)")
    inventory = Inventory(now=now, idle_hours=idle_hours)
    for name in [cloud] if cloud else list(CLOUDS):
        try:
            found, notes = SEARCH[name](region, now, idle_hours)
        except ModuleNotFoundError as exc:
            from ocrkit.extras import missing_extra_error

            error = missing_extra_error(exc)
            if error is None:
                raise
            if cloud:
                raise error from None
            inventory.not_searched.append(f"{name}: {error.message}")
            continue
        except OcrkitError as exc:
            if cloud:
                raise
            inventory.not_searched.append(f"{name}: {exc}")
            continue
        inventory.deployments += found
        inventory.notes += notes
    return inventory
