"""AWS services of the report's architecture, priced with AWS's published rules (the list method).

S3 holds the data and model, SageMaker trains (notebook or training jobs) and serves (real-time
endpoints), Lambda calls the endpoint, API Gateway (HTTP API) fronts it. The usage models below are the
keys a scenario may set under `aws:`; every key has a default so a planner states only what applies.
"""

from __future__ import annotations

import math
from decimal import Decimal

from pydantic import Field

from ocrkit.costing.results import ZERO, LineItem, fmt_num
from ocrkit.costing.services import NonNegative, PricingContext, ServiceDef, Usage

KIB_PER_GIB = Decimal(1024 * 1024)
MB_PER_GB = Decimal(1024)
MS_PER_S = Decimal(1000)


class S3Usage(Usage):
    storage_gb: NonNegative = ZERO  # average GB stored over the month (S3 Standard)
    put_requests: NonNegative = ZERO  # PUT, COPY, POST, LIST requests a month
    get_requests: NonNegative = ZERO  # GET, SELECT requests a month


class NotebookUsage(Usage):
    instance_type: str
    instances: NonNegative = Decimal(1)
    hours: NonNegative  # hours each instance runs in the month


class TrainingUsage(Usage):
    """Training jobs a month. Instance-hours = models x jobs_per_model x hours_per_job x instances_per_job,
    unless `instance_hours` gives the total directly."""

    instance_type: str
    models: NonNegative = Decimal(1)
    jobs_per_model: NonNegative = Decimal(1)
    hours_per_job: NonNegative = ZERO
    instances_per_job: NonNegative = Decimal(1)
    instance_hours: NonNegative | None = None

    def total_hours(self) -> Decimal:
        if self.instance_hours is not None:
            return self.instance_hours
        return self.models * self.jobs_per_model * self.hours_per_job * self.instances_per_job


class EndpointUsage(Usage):
    instance_type: str
    endpoints: NonNegative = Decimal(1)
    instances_per_endpoint: NonNegative = Decimal(1)
    hours_per_instance: NonNegative | None = None  # default: every hour of the month (24/7)


class SageMakerUsage(Usage):
    notebook: NotebookUsage | None = None
    training: TrainingUsage | None = None
    endpoints: EndpointUsage | None = None


class LambdaUsage(Usage):
    requests: NonNegative = ZERO  # invocations a month
    memory_mb: int = Field(128, ge=128, le=10240)
    duration_ms: NonNegative = ZERO  # average duration of one invocation


class ApiGatewayUsage(Usage):
    requests: NonNegative = ZERO  # HTTP API calls a month
    avg_request_kb: NonNegative = ZERO  # average request size (an image crop); metered in 512 KB steps
    avg_response_kb: NonNegative = ZERO  # average answer size; leaves AWS as data transfer out


SAVINGS_PLAN = "sagemaker_savings_plan"


def price_s3(u: S3Usage, ctx: PricingContext) -> list[LineItem]:
    common = dict(service="s3", label="S3")
    return [
        *ctx.charge(
            **common,
            key="s3.storage",
            item=f"Standard storage, {fmt_num(u.storage_gb)} GB",
            quantity=u.storage_gb,
            price_key="s3.standard.storage",
            field="s3.storage_gb",
        ),
        *ctx.charge(
            **common,
            key="s3.put",
            item=f"PUT requests, {fmt_num(u.put_requests)}",
            quantity=u.put_requests,
            price_key="s3.standard.put",
            field="s3.put_requests",
        ),
        *ctx.charge(
            **common,
            key="s3.get",
            item=f"GET requests, {fmt_num(u.get_requests)}",
            quantity=u.get_requests,
            price_key="s3.standard.get",
            field="s3.get_requests",
        ),
    ]


def price_sagemaker(u: SageMakerUsage, ctx: PricingContext) -> list[LineItem]:
    common = dict(service="sagemaker", label="SageMaker")
    lines: list[LineItem] = []
    month = ctx.hours_per_month
    if u.notebook:
        nb = u.notebook
        lines += ctx.charge(
            **common,
            key="sagemaker.notebook",
            item=f"Notebook {nb.instance_type}, {fmt_num(nb.instances)} x {fmt_num(nb.hours)} h",
            quantity=nb.instances * nb.hours,
            price_key=f"sagemaker.notebook.{nb.instance_type}",
            field="sagemaker.notebook.instance_type",
            always_on=nb.hours >= month,
            commitment_ref=(SAVINGS_PLAN, nb.instance_type),
        )
    if u.training:
        tr = u.training
        lines += ctx.charge(
            **common,
            key="sagemaker.training",
            item=f"Training {tr.instance_type}, {_jobs_words(tr)}",
            quantity=tr.total_hours(),
            price_key=f"sagemaker.training.{tr.instance_type}",
            field="sagemaker.training.instance_type",
            always_on=False,
            commitment_ref=(SAVINGS_PLAN, tr.instance_type),
        )
    if u.endpoints:
        ep = u.endpoints
        hours = month if ep.hours_per_instance is None else ep.hours_per_instance
        lines += ctx.charge(
            **common,
            key="sagemaker.endpoint",
            item=(
                f"Real-time endpoint {ep.instance_type}, {fmt_num(ep.endpoints)} endpoint(s) x "
                f"{fmt_num(ep.instances_per_endpoint)} instance(s) x {fmt_num(hours)} h"
            ),
            quantity=ep.endpoints * ep.instances_per_endpoint * hours,
            price_key=f"sagemaker.inference.{ep.instance_type}",
            field="sagemaker.endpoints.instance_type",
            always_on=hours >= month,
            commitment_ref=(SAVINGS_PLAN, ep.instance_type),
        )
    return lines


def _jobs_words(tr: TrainingUsage) -> str:
    if tr.instance_hours is not None:
        return f"{fmt_num(tr.instance_hours)} instance-hours"
    return (
        f"{fmt_num(tr.models)} model(s) x {fmt_num(tr.jobs_per_model)} job(s) x "
        f"{fmt_num(tr.hours_per_job)} h x {fmt_num(tr.instances_per_job)} instance(s)"
    )


def lambda_gb_seconds(u: LambdaUsage, billed_in_ms: Decimal) -> Decimal:
    """Requests x billed duration (rounded up to the billing step) x memory in GB (128 MB = 0.125 GB)."""
    steps = math.ceil(u.duration_ms / billed_in_ms) if u.duration_ms else 0
    billed_s = Decimal(steps) * billed_in_ms / MS_PER_S
    return u.requests * billed_s * (Decimal(u.memory_mb) / MB_PER_GB)


def price_lambda(u: LambdaUsage, ctx: PricingContext) -> list[LineItem]:
    common = dict(service="lambda", label="Lambda")
    duration = ctx.entry("lambda.duration", "lambda")
    gb_s = lambda_gb_seconds(u, duration.billed_in_ms or Decimal(1))
    return [
        *ctx.charge(
            **common,
            key="lambda.requests",
            item=f"Requests, {fmt_num(u.requests)}",
            quantity=u.requests,
            price_key="lambda.requests",
            field="lambda.requests",
        ),
        *ctx.charge(
            **common,
            key="lambda.duration",
            item=f"Duration, {fmt_num(u.memory_mb)} MB x {fmt_num(u.duration_ms)} ms per request",
            quantity=gb_s,
            price_key="lambda.duration",
            field="lambda.duration_ms",
        ),
    ]


def metered_requests(requests: Decimal, avg_kb: Decimal, step_kb: Decimal | None) -> Decimal:
    """HTTP API meters each request in 512 KB steps: a 1.1 MB request counts as 3."""
    if not step_kb or avg_kb <= step_kb:
        return requests
    return requests * Decimal(math.ceil(avg_kb / step_kb))


def response_gb(requests: Decimal, avg_response_kb: Decimal) -> Decimal:
    return requests * avg_response_kb / KIB_PER_GIB


def price_api_gateway(u: ApiGatewayUsage, ctx: PricingContext) -> list[LineItem]:
    common = dict(service="api_gateway", label="API Gateway")
    entry = ctx.entry("apigateway.http.requests", "api_gateway")
    metered = metered_requests(u.requests, u.avg_request_kb, entry.metered_in_kb)
    note = (
        ""
        if metered == u.requests
        else f"requests over {fmt_num(entry.metered_in_kb or ZERO)} KB count as several"
    )
    return [
        *ctx.charge(
            **common,
            key="api_gateway.requests",
            item=f"HTTP API requests, {fmt_num(metered)}",
            quantity=metered,
            price_key="apigateway.http.requests",
            field="api_gateway.requests",
            note=note,
        ),
        *ctx.charge(
            **common,
            key="api_gateway.egress",
            item=f"Data transfer out (responses), {fmt_num(u.avg_response_kb)} KB each",
            quantity=response_gb(u.requests, u.avg_response_kb),
            price_key="data_transfer.out.internet",
            field="api_gateway.avg_response_kb",
        ),
    ]


SERVICES: dict[str, ServiceDef] = {
    s.id: s
    for s in (
        ServiceDef("s3", "S3", S3Usage, price_s3),
        ServiceDef("sagemaker", "SageMaker", SageMakerUsage, price_sagemaker),
        ServiceDef("lambda", "Lambda", LambdaUsage, price_lambda),
        ServiceDef("api_gateway", "API Gateway", ApiGatewayUsage, price_api_gateway),
    )
}
