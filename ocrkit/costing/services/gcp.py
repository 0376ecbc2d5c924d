"""GCP services of the same architecture, priced with Google's published rules (the list method).

Cloud Storage holds the data, Vertex AI trains and serves on N1 nodes with a T4, Cloud Functions 2nd gen
calls the endpoint (billed as Cloud Run: vCPU-seconds + GiB-seconds + requests), API Gateway fronts it.
"""

from __future__ import annotations

import math
from decimal import Decimal

from pydantic import Field

from ocrkit.costing.results import ZERO, LineItem, fmt_num
from ocrkit.costing.services import NonNegative, PricingContext, ServiceDef, Usage
from ocrkit.costing.services.aws import KIB_PER_GIB, MB_PER_GB, MS_PER_S
from ocrkit.errors import ConfigError

CUD = "vertex_cud_assumed"


class CloudStorageUsage(Usage):
    location: str | None = (
        None  # a region ("us-east4") or "us" for the US multi-region; default: the catalog's
    )
    storage_gb: NonNegative = ZERO  # average GB stored over the month (Standard class)
    class_a_ops: NonNegative = ZERO  # uploads and listings a month
    class_b_ops: NonNegative = ZERO  # reads a month
    replication_gb: NonNegative = ZERO  # GB written to a multi-region bucket (replicated between regions)


class VertexTrainingUsage(Usage):
    """Custom training a month. Node-hours = models x jobs_per_model x hours_per_job x nodes_per_job,
    unless `node_hours` gives the total directly."""

    machine_type: str
    gpu_type: str | None = None
    gpus_per_node: NonNegative = Decimal(1)
    models: NonNegative = Decimal(1)
    jobs_per_model: NonNegative = Decimal(1)
    hours_per_job: NonNegative = ZERO
    nodes_per_job: NonNegative = Decimal(1)
    node_hours: NonNegative | None = None

    def total_hours(self) -> Decimal:
        if self.node_hours is not None:
            return self.node_hours
        return self.models * self.jobs_per_model * self.hours_per_job * self.nodes_per_job


class VertexEndpointUsage(Usage):
    machine_type: str
    gpu_type: str | None = None
    gpus_per_node: NonNegative = Decimal(1)
    endpoints: NonNegative = Decimal(1)
    nodes_per_endpoint: NonNegative = Decimal(1)
    hours_per_node: NonNegative | None = None  # default: every hour of the month (24/7)


class VertexUsage(Usage):
    training: VertexTrainingUsage | None = None
    endpoints: VertexEndpointUsage | None = None


class CloudFunctionsUsage(Usage):
    generation: int = Field(2, ge=2, le=2)  # 2nd gen only (billed as Cloud Run)
    requests: NonNegative = ZERO  # invocations a month
    memory_mb: int = Field(128, ge=128)
    duration_ms: NonNegative = ZERO  # average duration of one invocation
    vcpu: NonNegative | None = None  # default: what the catalog says this memory size gets


class ApiGatewayUsage(Usage):
    requests: NonNegative = ZERO  # calls a month
    avg_response_kb: NonNegative = ZERO  # average answer size; leaves Google as data transfer out


def price_cloud_storage(u: CloudStorageUsage, ctx: PricingContext) -> list[LineItem]:
    common = dict(service="cloud_storage", label="Cloud Storage")
    loc = u.location or ctx.catalog.region
    where = "US multi-region" if loc == "us" else loc
    lines = [
        *ctx.charge(
            **common,
            key="cloud_storage.storage",
            item=f"Standard storage ({where}), {fmt_num(u.storage_gb)} GB",
            quantity=u.storage_gb,
            price_key=f"gcs.standard.{loc}.storage",
            field="cloud_storage.location",
            location=loc,
        ),
        *ctx.charge(
            **common,
            key="cloud_storage.class_a",
            item=f"Class A operations, {fmt_num(u.class_a_ops)}",
            quantity=u.class_a_ops,
            price_key=f"gcs.standard.{loc}.class_a",
            field="cloud_storage.location",
            location=loc,
        ),
        *ctx.charge(
            **common,
            key="cloud_storage.class_b",
            item=f"Class B operations, {fmt_num(u.class_b_ops)}",
            quantity=u.class_b_ops,
            price_key=f"gcs.standard.{loc}.class_b",
            field="cloud_storage.location",
            location=loc,
        ),
    ]
    if u.replication_gb:
        lines += ctx.charge(
            **common,
            key="cloud_storage.replication",
            item=f"Inter-region replication, {fmt_num(u.replication_gb)} GB written",
            quantity=u.replication_gb,
            price_key=f"gcs.standard.{loc}.replication",
            field="cloud_storage.replication_gb",
            location=loc,
        )
    return lines


def _vertex_lines(
    ctx: PricingContext,
    *,
    kind: str,  # "training" | "prediction"
    key: str,  # "vertex.training" | "vertex.endpoint"
    words: str,
    usage_words: str,
    machine_type: str,
    gpu_type: str | None,
    gpus_per_node: Decimal,
    node_hours: Decimal,
    always_on: bool,
    field: str,
) -> list[LineItem]:
    common = dict(service="vertex", label="Vertex AI", always_on=always_on)
    lines = ctx.charge(
        **common,
        key=f"{key}.node",
        item=f"{words} {machine_type} node-hours, {usage_words}",
        quantity=node_hours,
        price_key=f"vertex.{kind}.{machine_type}",
        field=f"{field}.machine_type",
        commitment_ref=(CUD, machine_type),
    )
    if gpu_type:
        lines += ctx.charge(
            **common,
            key=f"{key}.gpu",
            item=f"{words} {gpu_type} GPU-hours, {fmt_num(gpus_per_node)} per node",
            quantity=node_hours * gpus_per_node,
            price_key=f"vertex.{kind}.gpu.{gpu_type}",
            field=f"{field}.gpu_type",
            commitment_ref=(CUD, gpu_type),
        )
    return lines


def price_vertex(u: VertexUsage, ctx: PricingContext) -> list[LineItem]:
    lines: list[LineItem] = []
    month = ctx.hours_per_month
    if u.training:
        tr = u.training
        usage_words = (
            f"{fmt_num(tr.node_hours)} node-hours"
            if tr.node_hours is not None
            else (
                f"{fmt_num(tr.models)} model(s) x {fmt_num(tr.jobs_per_model)} job(s) x "
                f"{fmt_num(tr.hours_per_job)} h x {fmt_num(tr.nodes_per_job)} node(s)"
            )
        )
        lines += _vertex_lines(
            ctx,
            kind="training",
            key="vertex.training",
            words="Training",
            usage_words=usage_words,
            machine_type=tr.machine_type,
            gpu_type=tr.gpu_type,
            gpus_per_node=tr.gpus_per_node,
            node_hours=tr.total_hours(),
            always_on=False,
            field="vertex.training",
        )
    if u.endpoints:
        ep = u.endpoints
        hours = month if ep.hours_per_node is None else ep.hours_per_node
        lines += _vertex_lines(
            ctx,
            kind="prediction",
            key="vertex.endpoint",
            words="Endpoint",
            usage_words=(
                f"{fmt_num(ep.endpoints)} endpoint(s) x {fmt_num(ep.nodes_per_endpoint)} node(s) x "
                f"{fmt_num(hours)} h"
            ),
            machine_type=ep.machine_type,
            gpu_type=ep.gpu_type,
            gpus_per_node=ep.gpus_per_node,
            node_hours=ep.endpoints * ep.nodes_per_endpoint * hours,
            always_on=hours >= month,
            field="vertex.endpoints",
        )
    return lines


def function_seconds(u: CloudFunctionsUsage, billed_in_ms: Decimal) -> Decimal:
    """Billed instance time: requests x duration rounded up to the billing step (100 ms)."""
    steps = math.ceil(u.duration_ms / billed_in_ms) if u.duration_ms else 0
    return u.requests * Decimal(steps) * billed_in_ms / MS_PER_S


def function_vcpu(u: CloudFunctionsUsage, ctx: PricingContext) -> Decimal:
    if u.vcpu is not None:
        return u.vcpu
    table = ctx.catalog.data.function_cpu
    if table is None or u.memory_mb not in table.vcpu_by_memory_mb:
        sizes = ", ".join(str(m) for m in sorted(table.vcpu_by_memory_mb)) if table else "none"
        raise ConfigError(
            ctx.scenario_path,
            f"{ctx.cloud}.cloud_functions.memory_mb",
            f"no vCPU allocation known for {u.memory_mb} MB (catalog sizes: {sizes})",
            hint="use a listed size or set cloud_functions.vcpu",
        )
    return table.vcpu_by_memory_mb[u.memory_mb]


def price_cloud_functions(u: CloudFunctionsUsage, ctx: PricingContext) -> list[LineItem]:
    common = dict(service="cloud_functions", label="Cloud Functions")
    cpu_entry = ctx.entry("cloudrun.cpu", "cloud_functions")
    seconds = function_seconds(u, cpu_entry.billed_in_ms or Decimal(100))
    vcpu = function_vcpu(u, ctx)
    gib = Decimal(u.memory_mb) / MB_PER_GB
    shape = f"{fmt_num(u.requests)} x {fmt_num(u.duration_ms)} ms"
    return [
        *ctx.charge(
            **common,
            key="cloud_functions.cpu",
            item=f"CPU, {fmt_num(vcpu)} vCPU ({u.memory_mb} MB function), {shape}",
            quantity=seconds * vcpu,
            price_key="cloudrun.cpu",
            field="cloud_functions",
            note="2nd gen is billed as Cloud Run: CPU during requests, rounded up to 100 ms",
        ),
        *ctx.charge(
            **common,
            key="cloud_functions.memory",
            item=f"Memory, {fmt_num(gib)} GiB, {shape}",
            quantity=seconds * gib,
            price_key="cloudrun.memory",
            field="cloud_functions",
        ),
        *ctx.charge(
            **common,
            key="cloud_functions.requests",
            item=f"Invocations, {fmt_num(u.requests)}",
            quantity=u.requests,
            price_key="cloudrun.requests",
            field="cloud_functions.requests",
        ),
    ]


def price_api_gateway(u: ApiGatewayUsage, ctx: PricingContext) -> list[LineItem]:
    common = dict(service="api_gateway", label="API Gateway")
    return [
        *ctx.charge(
            **common,
            key="api_gateway.calls",
            item=f"Calls, {fmt_num(u.requests)}",
            quantity=u.requests,
            price_key="apigateway.calls",
            field="api_gateway.requests",
        ),
        *ctx.charge(
            **common,
            key="api_gateway.egress",
            item=f"Data transfer out (responses), {fmt_num(u.avg_response_kb)} KB each",
            quantity=u.requests * u.avg_response_kb / KIB_PER_GIB,
            price_key="apigateway.egress",
            field="api_gateway.avg_response_kb",
        ),
    ]


SERVICES: dict[str, ServiceDef] = {
    s.id: s
    for s in (
        ServiceDef("cloud_storage", "Cloud Storage", CloudStorageUsage, price_cloud_storage),
        ServiceDef("vertex", "Vertex AI", VertexUsage, price_vertex),
        ServiceDef("cloud_functions", "Cloud Functions", CloudFunctionsUsage, price_cloud_functions),
        ServiceDef("api_gateway", "API Gateway", ApiGatewayUsage, price_api_gateway),
    )
}
