"""What a GCP deployment costs, priced by the costing engine from the same deploy config.

The config becomes a one-cloud usage scenario: the Vertex AI endpoint's nodes (n1-standard-4 + T4 node-hours,
every hour of the month, `min_replicas` of them), the Cloud Function 2nd gen with the expected traffic from
`usage:`, the artifact in Cloud Storage. The engine's list method prices it from the region's catalog
(configs/pricing/gcp-<region>.yaml). The $/hour is the endpoint's nodes; monthly adds the traffic lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ocrkit.costing.catalog import default_catalog
from ocrkit.costing.engine import list_budget
from ocrkit.costing.model import ZERO
from ocrkit.costing.scenario import GcpScenario, LoadedScenario, Scenario
from ocrkit.costing.services import gcp as gcp_services
from ocrkit.errors import OcrkitError
from ocrkit.providers.gcp.spec import GcpDeploySpec

HOURS_PER_MONTH = Decimal(720)
GB = Decimal(1000**3)


@dataclass(frozen=True)
class CostEstimate:
    hourly: Decimal
    monthly: Decimal
    node_hourly: Decimal  # one node: machine + accelerators
    notes: tuple[str, ...] = ()


def deployment_scenario(spec: GcpDeploySpec, nodes: int, artifact_bytes: int) -> Scenario:
    vx, usage = spec.vertex, spec.usage
    gcp = GcpScenario(
        region=spec.region,
        cloud_storage=gcp_services.CloudStorageUsage(storage_gb=Decimal(artifact_bytes) / GB),
        vertex=gcp_services.VertexUsage(
            endpoints=gcp_services.VertexEndpointUsage(
                machine_type=vx.machine_type,
                gpu_type=vx.accelerator_type.lower().replace("_", "-") if vx.accelerator_type else None,
                gpus_per_node=Decimal(vx.accelerator_count),
                endpoints=Decimal(1),
                nodes_per_endpoint=Decimal(nodes),
            )
        ),
        cloud_functions=gcp_services.CloudFunctionsUsage(
            requests=Decimal(usage.requests_per_month),
            memory_mb=spec.function.memory_mb,
            duration_ms=Decimal(usage.avg_duration_ms),
        ),
    )
    return Scenario(
        name=f"deploy-{spec.name}",
        title=f"ocrkit deploy {spec.name} on GCP",
        hours_per_month=HOURS_PER_MONTH,
        gcp=gcp,
    )


def estimate(
    spec: GcpDeploySpec, *, config_path: Path | str, artifact_bytes: int = 0, nodes: int | None = None
) -> CostEstimate:
    count = spec.vertex.min_replicas if nodes is None else nodes
    scenario = deployment_scenario(spec, count, artifact_bytes)
    catalog = default_catalog("gcp", spec.region)
    loaded = LoadedScenario(
        scenario=scenario, path=Path(config_path), source=str(config_path), report_usage={}
    )
    budget = list_budget(loaded, "gcp", catalog)
    plan = budget.plans["on_demand"]
    endpoint = [line for line in plan.lines if line.key.startswith("vertex.endpoint")]
    endpoint_monthly = sum((line.cost for line in endpoint), ZERO)
    hourly = endpoint_monthly / HOURS_PER_MONTH
    node = hourly / count if count else ZERO
    notes = []
    if spec.vertex.max_replicas > count:
        notes.append(
            f"autoscaling may run up to {spec.vertex.max_replicas} nodes: "
            f"up to ${node * spec.vertex.max_replicas:.4f}/hour under load"
        )
    if spec.function.min_instances:
        notes.append(
            f"function.min_instances ({spec.function.min_instances}) keeps warm instances billed while idle; "
            "not included above"
        )
    return CostEstimate(hourly=hourly, monthly=plan.total, node_hourly=node, notes=tuple(notes))


def try_estimate(spec: GcpDeploySpec, **kw) -> tuple[CostEstimate | None, str | None]:
    try:
        return estimate(spec, **kw), None
    except OcrkitError as exc:
        return None, f"cost not shown: {exc}"
