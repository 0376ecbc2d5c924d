"""The usage a GCP deployment creates (no prices: ocrkit.deploy.pricing prices it through costing).

The config becomes a one-cloud usage scenario: the Vertex AI endpoint's nodes (machine + accelerators,
every hour of the month, `min_replicas` of them), the Cloud Function 2nd gen with the expected traffic
from `usage:`, the artifact in Cloud Storage. The $/hour is the endpoint's nodes (`vertex.endpoint` lines).
"""

from __future__ import annotations

from decimal import Decimal

from ocrkit.costing.scenario import GcpScenario, Scenario
from ocrkit.costing.services import gcp as gcp_services
from ocrkit.deploy.pricing import DeploymentUsage
from ocrkit.deploy.serving import ServingOption
from ocrkit.providers.gcp.spec import GcpDeploySpec, size_mb

HOURS_PER_MONTH = Decimal(720)
GB = Decimal(1000**3)
ALWAYS_ON = ("vertex.endpoint",)


def _gpu(accelerator_type: str | None) -> str | None:
    return accelerator_type.lower().replace("_", "-") if accelerator_type else None


def _endpoint(machine_type: str, gpu: str | None, gpus: int, nodes: int) -> gcp_services.VertexUsage:
    return gcp_services.VertexUsage(
        endpoints=gcp_services.VertexEndpointUsage(
            machine_type=machine_type,
            gpu_type=_gpu(gpu),
            gpus_per_node=Decimal(gpus),
            endpoints=Decimal(1),
            nodes_per_endpoint=Decimal(nodes),
        )
    )


def deployment_usage(spec: GcpDeploySpec, *, artifact_bytes: int, source: str) -> DeploymentUsage:
    vx, usage = spec.vertex, spec.usage
    holds_model = spec.serving is ServingOption.function  # no endpoint: nothing runs every hour
    gcp = GcpScenario(
        region=spec.region,
        cloud_storage=gcp_services.CloudStorageUsage(storage_gb=Decimal(artifact_bytes) / GB),
        vertex=None
        if holds_model
        else _endpoint(vx.machine_type, vx.accelerator_type, vx.accelerator_count, vx.min_replicas),
        cloud_functions=gcp_services.CloudFunctionsUsage(
            requests=Decimal(usage.requests_per_month),
            memory_mb=size_mb(spec.function.memory_for(spec.serving)),
            duration_ms=Decimal(usage.avg_duration_ms),
        ),
    )
    notes = []
    if holds_model:
        notes.append(
            f"serving: function -- nothing is billed per hour; the monthly figure is the expected traffic "
            f"({usage.requests_per_month:,} requests x {usage.avg_duration_ms} ms at "
            f"{spec.function.memory_for(spec.serving)})"
        )
    if spec.function.min_instances:
        notes.append(
            f"function.min_instances ({spec.function.min_instances}) keeps warm instances billed while idle; "
            "not included above"
        )
    return DeploymentUsage(
        cloud="gcp",
        scenario=_scenario(spec.name, gcp),
        always_on=ALWAYS_ON,
        units=0 if holds_model else vx.min_replicas,
        max_units=0 if holds_model else vx.max_replicas,  # a function is billed per request, not per hour
        unit_word="nodes",
        notes=tuple(notes),
        source=source,
    )


def running_usage(
    name: str, region: str, machine_type: str | None, gpu: str | None, gpus: int, nodes: int
) -> DeploymentUsage | None:
    """What the deployed model's nodes running now use (for `ocrkit status`); None without any."""
    if not machine_type or not nodes:
        return None
    gcp = GcpScenario(region=region, vertex=_endpoint(machine_type, gpu, gpus if gpu else 0, nodes))
    return DeploymentUsage(
        "gcp", _scenario(name, gcp), ALWAYS_ON, units=nodes, max_units=nodes, unit_word="nodes"
    )


def _scenario(name: str, gcp: GcpScenario) -> Scenario:
    return Scenario(
        name=f"deploy-{name}", title=f"ocrkit deploy {name} on GCP", hours_per_month=HOURS_PER_MONTH, gcp=gcp
    )
