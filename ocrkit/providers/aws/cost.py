"""What a deployment costs, priced by the costing engine from the same deploy config.

The config becomes a one-cloud usage scenario (the endpoint's instances x every hour of the month, the
Lambda and HTTP API with the expected traffic from `usage:`, the artifact in S3) and the engine's list
method prices it from the region's catalog (configs/pricing/aws-<region>.yaml). The $/hour is what starts
being paid the moment the endpoint is InService: its instances. Monthly adds the traffic-driven lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ocrkit.costing.catalog import default_catalog
from ocrkit.costing.engine import list_budget
from ocrkit.costing.model import ZERO
from ocrkit.costing.scenario import AwsScenario, LoadedScenario, Scenario
from ocrkit.costing.services import aws as aws_services
from ocrkit.errors import OcrkitError
from ocrkit.providers.aws.spec import AwsDeploySpec

HOURS_PER_MONTH = Decimal(720)
GIB = Decimal(1024**3)


@dataclass(frozen=True)
class CostEstimate:
    hourly: Decimal  # the endpoint's instances, running
    monthly: Decimal  # on demand, everything, with the expected traffic
    instance_hourly: Decimal  # one instance
    notes: tuple[str, ...] = ()


def deployment_scenario(spec: AwsDeploySpec, region: str, instances: int, artifact_bytes: int) -> Scenario:
    usage = spec.usage
    aws = AwsScenario(
        region=region,
        s3=aws_services.S3Usage(storage_gb=Decimal(artifact_bytes) / GIB),
        sagemaker=aws_services.SageMakerUsage(
            endpoints=aws_services.EndpointUsage(
                instance_type=spec.sagemaker.instance_type,
                endpoints=Decimal(1),
                instances_per_endpoint=Decimal(instances),
            )
        ),
        lambda_=aws_services.LambdaUsage(
            requests=Decimal(usage.requests_per_month),
            memory_mb=spec.lambda_.memory_mb,
            duration_ms=Decimal(usage.avg_duration_ms),
        ),
        api_gateway=aws_services.ApiGatewayUsage(
            requests=Decimal(usage.requests_per_month),
            avg_request_kb=Decimal(str(usage.avg_request_kb)),
            avg_response_kb=Decimal(str(usage.avg_response_kb)),
        ),
    )
    return Scenario(
        name=f"deploy-{spec.name}",
        title=f"ocrkit deploy {spec.name} on AWS",
        hours_per_month=HOURS_PER_MONTH,
        aws=aws,
    )


def running_instances(spec: AwsDeploySpec) -> int:
    auto = spec.sagemaker.autoscaling
    return max(spec.sagemaker.instance_count, auto.min_instances if auto.enabled else 1)


def estimate(
    spec: AwsDeploySpec,
    region: str,
    *,
    config_path: Path | str,
    artifact_bytes: int = 0,
    instances: int | None = None,
) -> CostEstimate:
    """Price the deployment; raises OcrkitError when the region or instance type has no catalog price."""
    count = running_instances(spec) if instances is None else instances
    scenario = deployment_scenario(spec, region, count, artifact_bytes)
    catalog = default_catalog("aws", region)
    loaded = LoadedScenario(
        scenario=scenario, path=Path(config_path), source=str(config_path), report_usage={}
    )
    budget = list_budget(loaded, "aws", catalog)
    lines = budget.plans["on_demand"].lines
    endpoint = [line for line in lines if line.key == "sagemaker.endpoint"]
    endpoint_monthly = sum((line.cost for line in endpoint), ZERO)
    unit = endpoint[0].unit_price if endpoint and endpoint[0].unit_price is not None else ZERO
    notes = []
    if spec.lambda_.provisioned_concurrency:
        notes.append(
            f"Lambda provisioned concurrency ({spec.lambda_.provisioned_concurrency}) is billed every hour "
            "on top of this; the catalog has no price for it"
        )
    if spec.sagemaker.autoscaling.enabled and spec.sagemaker.autoscaling.max_instances > count:
        notes.append(
            f"autoscaling may run up to {spec.sagemaker.autoscaling.max_instances} instances: "
            f"up to ${unit * spec.sagemaker.autoscaling.max_instances:.4f}/hour under load"
        )
    return CostEstimate(
        hourly=endpoint_monthly / HOURS_PER_MONTH,
        monthly=budget.plans["on_demand"].total,
        instance_hourly=unit,
        notes=tuple(notes),
    )


def try_estimate(spec: AwsDeploySpec, region: str, **kw) -> tuple[CostEstimate | None, str | None]:
    """(estimate, None), or (None, why not) when the catalog cannot price this region or instance type."""
    try:
        return estimate(spec, region, **kw), None
    except OcrkitError as exc:
        return None, f"cost not shown: {exc}"
