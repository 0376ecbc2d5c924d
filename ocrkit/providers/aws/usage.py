"""The usage an AWS deployment creates (no prices: ocrkit.deploy.pricing prices it through costing).

The config becomes a one-cloud usage scenario: the endpoint's instances x every hour of the month, the
Lambda and HTTP API with the expected traffic from `usage:`, the artifact in S3. The $/hour is what starts
being paid the moment the endpoint is InService: its instances (`sagemaker.endpoint` lines).
"""

from __future__ import annotations

from decimal import Decimal

from ocrkit.costing.scenario import AwsScenario, Scenario
from ocrkit.costing.services import aws as aws_services
from ocrkit.deploy.pricing import DeploymentUsage
from ocrkit.deploy.serving import ServingOption
from ocrkit.providers.aws.spec import AwsDeploySpec

HOURS_PER_MONTH = Decimal(720)
GIB = Decimal(1024**3)
ALWAYS_ON = ("sagemaker.endpoint",)


def running_instances(spec: AwsDeploySpec) -> int:
    auto = spec.sagemaker.autoscaling
    return max(spec.sagemaker.instance_count, auto.min_instances if auto.enabled else 1)


def _endpoint(instance_type: str, instances: int) -> aws_services.SageMakerUsage:
    return aws_services.SageMakerUsage(
        endpoints=aws_services.EndpointUsage(
            instance_type=instance_type, endpoints=Decimal(1), instances_per_endpoint=Decimal(instances)
        )
    )


def deployment_usage(
    spec: AwsDeploySpec, region: str, *, artifact_bytes: int, source: str
) -> DeploymentUsage:
    usage, count = spec.usage, running_instances(spec)
    model_function = spec.serving == ServingOption.function
    if model_function:
        count = 0  # no endpoint: nothing billed by the hour (provisioned concurrency aside, see notes)
    aws = AwsScenario(
        region=region,
        s3=aws_services.S3Usage(storage_gb=Decimal(artifact_bytes) / GIB),
        sagemaker=None if model_function else _endpoint(spec.sagemaker.instance_type, count),
        lambda_=aws_services.LambdaUsage(
            requests=Decimal(usage.requests_per_month),
            memory_mb=spec.lambda_.memory_for(spec.serving),
            duration_ms=Decimal(usage.avg_duration_ms),
        ),
        api_gateway=aws_services.ApiGatewayUsage(
            requests=Decimal(usage.requests_per_month),
            avg_request_kb=Decimal(str(usage.avg_request_kb)),
            avg_response_kb=Decimal(str(usage.avg_response_kb)),
        ),
    )
    notes = []
    if spec.lambda_.provisioned_concurrency:
        notes.append(
            f"Lambda provisioned concurrency ({spec.lambda_.provisioned_concurrency}) is billed every hour "
            "on top of this; the catalog has no price for it"
        )
    auto = spec.sagemaker.autoscaling
    return DeploymentUsage(
        cloud="aws",
        scenario=_scenario(spec.name, aws),
        always_on=ALWAYS_ON,
        units=count,
        max_units=count if model_function else (auto.max_instances if auto.enabled else count),
        unit_word="instances",
        notes=tuple(notes),
        source=source,
    )


def running_usage(
    name: str, region: str, instance_type: str | None, instances: int
) -> DeploymentUsage | None:
    """What the endpoint's instances running now use (for `ocrkit status`); None without an endpoint."""
    if not instance_type:
        return None
    aws = AwsScenario(region=region, sagemaker=_endpoint(instance_type, instances))
    return DeploymentUsage("aws", _scenario(name, aws), ALWAYS_ON, units=instances, max_units=instances)


def _scenario(name: str, aws: AwsScenario) -> Scenario:
    return Scenario(
        name=f"deploy-{name}", title=f"ocrkit deploy {name} on AWS", hours_per_month=HOURS_PER_MONTH, aws=aws
    )
