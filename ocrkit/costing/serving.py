"""Serving options priced with the providers' published rules: one function per option and cloud.

Each option prices the whole path a client calls (gateway, the function or endpoint, the model's storage),
enumerates its configurations (instance type, memory, vCPU), and keeps the cheapest one that meets the
p95 target (or the cheapest, marked as missing it). Quantities meet prices only in
PricingContext.charge, so free tiers, tiers and rounding are the catalog's, as in the rest of costing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from ocrkit.costing.capacity import (
    ProfileBook,
    Speed,
    busy_fraction,
    cold_share,
    cpu_speed,
    gpu_speed,
    instances_needed,
)
from ocrkit.costing.catalog import Catalog
from ocrkit.costing.results import ZERO, LineItem
from ocrkit.costing.services import PricingContext
from ocrkit.costing.traffic import Traffic

OPTIONS = ("gpu-endpoint", "cpu-endpoint", "serverless-endpoint", "function", "gpu-scale-to-zero")
OPTION_WORDS = {
    "gpu-endpoint": "always-on GPU endpoint (the report's choice)",
    "cpu-endpoint": "always-on CPU endpoint",
    "serverless-endpoint": "SageMaker Serverless Inference",
    "function": "the model inside a function",
    "gpu-scale-to-zero": "GPU that scales to zero (Cloud Run + NVIDIA L4)",
}
LAMBDA_MB_PER_VCPU = Decimal(1769)  # docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html
LAMBDA_DEFAULT_CONCURRENCY = 1000  # docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
PROXY_OVERHEAD_MS = 20  # ocrkit assumption: the proxy function's own work around the endpoint call
MB_PER_GB = Decimal(1024)
KB_PER_GB = Decimal(1024 * 1024)
IDLE_WINDOW_S = Decimal(900)  # ocrkit assumption: a scale-to-zero instance lingers ~15 min after a request
# ocrkit assumptions: how long an idle environment stays warm (AWS publishes no figure for Lambda or
# SageMaker Serverless; Cloud Run keeps idle instances up to 15 minutes)
KEEP_WARM_S = {"lambda": 600, "sagemaker-serverless": 600, "cloud-run": 900}


def _cold(inp: Inputs, speed: Speed, platform: str) -> tuple[Decimal, str]:
    key = ("cold", speed.p50_ms, platform)
    if key not in inp.memo:
        t = inp.traffic
        inp.memo[key] = cold_share(
            t.requests_per_month,
            t.average_rps(inp.hours),
            t.peak(inp.hours),
            speed.p50_ms,
            KEEP_WARM_S[platform],
            t.cold_start_share,
        )
    return inp.memo[key]


# Instance facts (not prices): vCPU, memory GiB, GPU. Sources: aws.amazon.com/sagemaker/pricing (instance
# details), cloud.google.com/compute/docs/general-purpose-machines, cloud.google.com/compute/docs/gpus.
AWS_INSTANCES = {
    "ml.g4dn.xlarge": (4, 16, "T4"),
    "ml.g5.xlarge": (4, 16, "A10G"),
    "ml.c6i.large": (2, 4, None),
    "ml.m5.large": (2, 8, None),
    "ml.m5.xlarge": (4, 16, None),
}
VERTEX_MACHINES = {
    "n1-standard-2": (2, 7.5),
    "n2-standard-2": (2, 8),
    "n1-standard-4": (4, 15),
    "g2-standard-4": (4, 16),
}
# The GPU host of each Vertex GPU configuration: a T4 attaches to N1 machines; an L4 comes with a G2 machine
# (cloud.google.com/compute/docs/gpus), so G2 is never a CPU-only configuration.
VERTEX_GPUS = {"n1-standard-4": ("T4", "nvidia-tesla-t4"), "g2-standard-4": ("L4", "nvidia-l4")}
VERTEX_CPU_MACHINES = tuple(m for m in VERTEX_MACHINES if not m.startswith("g2-"))
LAMBDA_ARCHES = ("x86_64", "arm64")


@dataclass(frozen=True)
class Unpriced:
    """An option (config empty), or one configuration of an otherwise priced option, left unpriced."""

    cloud: str
    option: str
    region: str
    reason: str
    config: str = ""


@dataclass(frozen=True)
class Quote:
    cloud: str
    option: str
    region: str
    config: str
    lines: tuple[LineItem, ...]
    p95_ms: float
    cold_start_s: float | None
    meets_slo: bool
    limits: str
    notes: tuple[str, ...] = ()
    committed: dict[str, Decimal | None] = field(default_factory=dict)  # "1yr"/"3yr" -> monthly, None: n/a
    instances_at_peak: int | None = None
    utilisation: Decimal | None = None

    @property
    def monthly(self) -> Decimal:
        return sum((line.cost for line in self.lines), ZERO)

    def per_1000(self, requests: Decimal) -> Decimal:
        return self.monthly / requests * 1000


@dataclass(frozen=True)
class Inputs:
    cloud: str
    catalog: Catalog
    traffic: Traffic
    hours: Decimal
    profiles: ProfileBook
    new_account: bool = False
    # lines that are the same for every configuration of every option at this traffic (the gateway, the
    # model's storage, request counts), priced once per Inputs; not part of equality
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    def ctx(self) -> PricingContext:
        if "ctx" not in self.memo:
            self.memo["ctx"] = PricingContext(
                cloud=self.cloud,
                catalog=self.catalog,
                scenario_path=str(self.catalog.path),
                hours_per_month=self.hours,
                new_account=self.new_account,
            )
        return self.memo["ctx"]


def price_option(option: str, inputs: Inputs) -> Quote | Unpriced:
    """The cheapest configuration that meets the target (else the cheapest), or why it is not priced."""
    builder = BUILDERS.get((inputs.cloud, option))
    if builder is None:
        return Unpriced(inputs.cloud, option, inputs.catalog.region, f"not offered on {inputs.cloud.upper()}")
    candidates, missing = builder(inputs)
    if not candidates:
        why = missing or "no configuration fits the model's memory"
        return Unpriced(inputs.cloud, option, inputs.catalog.region, why)
    meeting = [q for q in candidates if q.meets_slo]
    return min(meeting or candidates, key=lambda q: (q.monthly, q.p95_ms))


def configurations(cloud: str, option: str) -> list[tuple[str, tuple[str, ...]]]:
    """The configurations an option weighs that need a price of their own, each with the catalog keys it needs
    beyond the client path the option's configurations share (one list, used to price and to name gaps)."""
    if cloud == "aws" and option in ("gpu-endpoint", "cpu-endpoint"):
        gpu = option == "gpu-endpoint"
        return [
            (name, (f"sagemaker.hosting.{name}",))
            for name, (_, _, gpu_name) in AWS_INSTANCES.items()
            if (gpu_name is not None) == gpu
        ]
    if cloud == "aws" and option == "function":
        return [(f"Lambda {arch}", (f"lambda.duration.{arch}",)) for arch in LAMBDA_ARCHES]
    if cloud == "gcp" and option == "gpu-endpoint":
        return [
            (
                f"{machine} + NVIDIA {gpu_name}",
                (f"vertex.prediction.{machine}", f"vertex.prediction.gpu.{gpu_key}"),
            )
            for machine, (gpu_name, gpu_key) in VERTEX_GPUS.items()
        ]
    if cloud == "gcp" and option == "cpu-endpoint":
        return [(machine, (f"vertex.prediction.{machine}",)) for machine in VERTEX_CPU_MACHINES]
    return []


def config_gaps(option: str, inputs: Inputs) -> list[Unpriced]:
    """Configurations of an option that the region's catalog has no price for, one line each: the option may
    still be priced by its other configurations, but the planner should see what was left out."""
    gaps = []
    for name, keys in configurations(inputs.cloud, option):
        missing = _missing(inputs.catalog, list(keys))
        if missing:
            gaps.append(Unpriced(inputs.cloud, option, inputs.catalog.region, missing, config=name))
    return gaps


def _missing(catalog: Catalog, keys: list[str]) -> str:
    absent = [k for k in keys if not catalog.has(k)]
    return f"no price in {catalog.region} for {', '.join(absent)}" if absent else ""


def _ms(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


# -- the client path pieces ---------------------------------------------------------------------------------


def _once(fn: Callable[..., list[LineItem]]) -> Callable[..., list[LineItem]]:
    """Price a traffic-only path piece once per Inputs (configurations differ only in their other lines)."""

    def wrapper(inp: Inputs, *args: object) -> list[LineItem]:
        key = (fn.__name__, *args)
        if key not in inp.memo:
            inp.memo[key] = fn(inp, *args)
        return inp.memo[key]

    wrapper.__name__ = fn.__name__
    wrapper.__doc__ = fn.__doc__
    return wrapper


@_once
def _aws_http_api(inp: Inputs) -> list[LineItem]:
    t = inp.traffic
    steps = max(1, math.ceil(t.payload_kb / Decimal(512)))  # HTTP API meters in 512 KB increments
    return inp.ctx().charge(
        service="api_gateway",
        label="API Gateway (HTTP API)",
        key="api_gateway.requests",
        item=f"HTTP API requests ({steps} x 512 KB metering step(s) each)",
        quantity=t.requests_per_month * steps,
        price_key="apigateway.http.requests",
        field="traffic",
    )


def _aws_lambda(inp: Inputs, memory_mb: Decimal, billed_ms: Decimal, arch: str, role: str) -> list[LineItem]:
    return _aws_lambda_requests(inp, role) + _aws_lambda_duration(inp, memory_mb, billed_ms, arch, role)


@_once
def _aws_lambda_requests(inp: Inputs, role: str) -> list[LineItem]:
    return inp.ctx().charge(
        service="lambda",
        label="Lambda",
        key="lambda.requests",
        item=f"{role} requests",
        quantity=inp.traffic.requests_per_month,
        price_key="lambda.requests",
        field="traffic",
    )


def _aws_lambda_duration(
    inp: Inputs, memory_mb: Decimal, billed_ms: Decimal, arch: str, role: str
) -> list[LineItem]:
    t, ctx = inp.traffic, inp.ctx()
    gb_s = t.requests_per_month * math.ceil(billed_ms) / 1000 * memory_mb / MB_PER_GB  # billed per 1 ms
    return ctx.charge(
        service="lambda",
        label="Lambda",
        key="lambda.duration",
        item=f"{role} {arch} duration, {memory_mb:f} MB x {math.ceil(billed_ms)} ms",
        quantity=gb_s,
        price_key=f"lambda.duration.{arch}",
        field="traffic",
    )


@_once
def _model_storage(inp: Inputs, key: str, label: str) -> list[LineItem]:
    return inp.ctx().charge(
        service="storage",
        label=label,
        key="storage.model",
        item=f"model artifact, {inp.traffic.model_size_mb:f} MB",
        quantity=inp.traffic.model_size_mb / MB_PER_GB,
        price_key=key,
        field="traffic.model_size_mb",
    )


@_once
def _gcp_api_gateway(inp: Inputs) -> list[LineItem]:
    return inp.ctx().charge(
        service="api_gateway",
        label="API Gateway",
        key="api_gateway.calls",
        item="API Gateway calls",
        quantity=inp.traffic.requests_per_month,
        price_key="apigateway.calls",
        field="traffic",
    )


def _cloud_run(inp: Inputs, vcpu: Decimal, gib: Decimal, billed_ms: Decimal, role: str) -> list[LineItem]:
    t, ctx = inp.traffic, inp.ctx()
    seconds = Decimal(math.ceil(billed_ms / 100)) / 10  # rounded up to 100 ms
    return (
        ctx.charge(
            service="cloud_run",
            label="Cloud Run",
            key="cloud_run.cpu",
            item=f"{role} CPU, {vcpu:f} vCPU x {seconds:f} s",
            quantity=t.requests_per_month * seconds * vcpu,
            price_key="cloudrun.cpu",
            field="traffic",
        )
        + ctx.charge(
            service="cloud_run",
            label="Cloud Run",
            key="cloud_run.memory",
            item=f"{role} memory, {gib:f} GiB x {seconds:f} s",
            quantity=t.requests_per_month * seconds * gib,
            price_key="cloudrun.memory",
            field="traffic",
        )
        + ctx.charge(
            service="cloud_run",
            label="Cloud Run",
            key="cloud_run.requests",
            item=f"{role} requests",
            quantity=t.requests_per_month,
            price_key="cloudrun.requests",
            field="traffic",
        )
    )


def _p95_with_cold(speed: Speed, cold_s: float | None, share: Decimal) -> float:
    """p95 including cold starts: when more than 5 % of requests start cold, the p95 request is one."""
    if cold_s is not None and share > Decimal("0.05"):
        return speed.p50_ms + cold_s * 1000
    return speed.p95_ms


# -- endpoints ----------------------------------------------------------------------------------------------


def _endpoint_quote(
    inp: Inputs,
    option: str,
    config: str,
    speed: Speed,
    hosting: list[LineItem],
    path: list[LineItem],
    instances: int,
    peak_instances: int,
    commit_ref: tuple[str, str],
    hourly: Decimal,
    notes: list[str],
    limits: str,
) -> Quote:
    t = inp.traffic
    committed: dict[str, Decimal | None] = {}
    for term in ("1yr", "3yr"):
        rate = inp.catalog.committed_rate(commit_ref, term, hourly)  # type: ignore[arg-type]
        if rate is None:
            committed[term] = None
            continue
        base = Decimal(t.min_instances) * inp.hours
        saved = base * (hourly - rate.price)
        committed[term] = sum((line.cost for line in hosting + path), ZERO) - saved
        notes = [
            *notes,
            f"{term}: {rate.label} on {t.min_instances} always-on instance(s); the rest on demand",
        ]
        notes += [f"assumption: {a}" for a in rate.assumptions if f"assumption: {a}" not in notes]
    util = busy_fraction(t.requests_per_month, speed.p50_ms, instances, inp.hours)
    ceiling = []
    if t.max_instances is not None and peak_instances > t.max_instances:
        ceiling.append(
            f"the peak needs {peak_instances} instances, above the autoscaling ceiling of {t.max_instances} "
            "(traffic.max_instances): requests would queue"
        )
    return Quote(
        cloud=inp.cloud,
        option=option,
        region=inp.catalog.region,
        config=config + (f" x {instances}" if instances > 1 else ""),
        lines=tuple(hosting + path),
        p95_ms=speed.p95_ms,
        cold_start_s=None,
        meets_slo=speed.p95_ms <= float(t.p95_ms) and not ceiling,
        limits=limits,
        notes=tuple([speed.note, *notes, *ceiling]),
        committed=committed,
        instances_at_peak=peak_instances,
        utilisation=util,
    )


def _aws_endpoint(inp: Inputs, option: str, gpu: bool) -> tuple[list[Quote], str]:
    t = inp.traffic
    path_keys = [
        "lambda.requests",
        "lambda.duration.x86_64",
        "apigateway.http.requests",
        "s3.standard.storage",
    ]
    quotes, missing = [], ""
    for instance, (key,) in configurations("aws", option):
        vcpus, mem_gib, gpu_name = AWS_INSTANCES[instance]
        if not inp.catalog.has(key):
            continue
        missing = _missing(inp.catalog, path_keys)
        if missing:
            continue
        if gpu:
            found = inp.profiles.gpu(t.model, gpu_name or "")
            if found is None:
                missing = f"no speed profile for the {t.model} model on an NVIDIA {gpu_name}"
                continue
            profile, why = found
            speed = gpu_speed(profile)
        else:
            profile, why = inp.profiles.cpu(t.model)
            if profile.peak_rss_mb and profile.peak_rss_mb > mem_gib * 1024 * 0.8:
                continue
            speed = cpu_speed(profile, vcpus)
        avg = t.average_rps(inp.hours)
        instances = instances_needed(avg, speed.p50_ms, t.target_utilisation, t.min_instances)
        peak = instances_needed(t.peak(inp.hours), speed.p50_ms, t.target_utilisation, t.min_instances)
        hourly = inp.catalog.entry(key).list_price
        hosting = inp.ctx().charge(
            service="sagemaker",
            label="SageMaker",
            key="sagemaker.endpoint",
            item=f"real-time endpoint {instance}, {instances} instance(s) x {inp.hours:f} h",
            quantity=Decimal(instances) * inp.hours,
            price_key=key,
            field="traffic",
        )
        proxy_ms = _ms(speed.p50_ms + PROXY_OVERHEAD_MS)
        path = (
            _aws_http_api(inp)
            + _aws_lambda(inp, Decimal(128), proxy_ms, "x86_64", "proxy function (waits for the endpoint)")
            + _model_storage(inp, "s3.standard.storage", "S3")
        )
        notes = [
            f"speed: {why}",
            f"instances: {instances} billed (average load at {t.target_utilisation:%} utilisation, at least "
            f"{t.min_instances}); {peak} at peak; autoscaling assumed to follow the load",
            f"assumption: the proxy Lambda (128 MB) runs the endpoint's time + {PROXY_OVERHEAD_MS} ms",
        ]
        quotes.append(
            _endpoint_quote(
                inp,
                option,
                instance,
                speed,
                hosting,
                path,
                instances,
                peak,
                ("sagemaker_savings_plan", instance),
                hourly,
                notes,
                "payload 6 MB, 60 s per call (SageMaker real-time); always on, no cold start",
            )
        )
    if not quotes and not missing:
        keys = [key for _, (key,) in configurations("aws", option)]
        missing = _missing(inp.catalog, keys) or f"no {'GPU' if gpu else 'CPU'} instance fits the model"
    return quotes, missing


def _gcp_endpoint(inp: Inputs, option: str, gpu: bool) -> tuple[list[Quote], str]:
    """Vertex AI prediction nodes: CPU machine types, or a GPU machine (n1-standard-4 + T4, g2-standard-4 +
    L4)."""
    quotes, why_not = [], []
    machines = list(VERTEX_GPUS) if gpu else list(VERTEX_CPU_MACHINES)
    for machine in machines:
        quote, why = _gcp_node(inp, option, gpu, machine)
        if quote is None:
            why_not.append(why)
        else:
            quotes.append(quote)
    return quotes, "" if quotes else "; ".join(dict.fromkeys(why_not))


def _gcp_node(inp: Inputs, option: str, gpu: bool, machine: str) -> tuple[Quote | None, str]:
    t = inp.traffic
    keys = [
        f"vertex.prediction.{machine}",
        "cloudrun.cpu",
        "cloudrun.memory",
        "cloudrun.requests",
        "apigateway.calls",
        "gcs.standard.storage",
    ]
    gpu_name, gpu_key = VERTEX_GPUS[machine] if gpu else ("", "")
    if gpu:
        keys.append(f"vertex.prediction.gpu.{gpu_key}")
    missing = _missing(inp.catalog, keys)
    if missing:
        return None, missing
    vcpus, mem_gb = VERTEX_MACHINES[machine]
    if gpu:
        found = inp.profiles.gpu(t.model, gpu_name)
        if found is None:
            return None, f"no speed profile for the {t.model} model on an NVIDIA {gpu_name}"
        profile, why = found
        speed = gpu_speed(profile)
    else:
        profile, why = inp.profiles.cpu(t.model)
        if profile.peak_rss_mb and profile.peak_rss_mb > mem_gb * 1024 * 0.8:
            return None, f"the model's {profile.peak_rss_mb:g} MB does not fit {machine}"
        speed = cpu_speed(profile, vcpus)
    instances = instances_needed(
        t.average_rps(inp.hours), speed.p50_ms, t.target_utilisation, t.min_instances
    )
    peak = instances_needed(t.peak(inp.hours), speed.p50_ms, t.target_utilisation, t.min_instances)
    node_hours = Decimal(instances) * inp.hours
    ctx = inp.ctx()
    hosting = ctx.charge(
        service="vertex",
        label="Vertex AI",
        key="vertex.endpoint",
        item=f"prediction node {machine}, {instances} node(s) x {inp.hours:f} h",
        quantity=node_hours,
        price_key=f"vertex.prediction.{machine}",
        field="traffic",
    )
    hourly = inp.catalog.entry(f"vertex.prediction.{machine}").list_price
    config = machine
    if gpu:
        hosting += ctx.charge(
            service="vertex",
            label="Vertex AI",
            key="vertex.endpoint.gpu",
            item=f"NVIDIA {gpu_name} on the prediction node(s), {instances} x {inp.hours:f} h",
            quantity=node_hours,
            price_key=f"vertex.prediction.gpu.{gpu_key}",
            field="traffic",
        )
        hourly += inp.catalog.entry(f"vertex.prediction.gpu.{gpu_key}").list_price
        config = f"{machine} + NVIDIA {gpu_name}"
    proxy_ms = _ms(speed.p50_ms + PROXY_OVERHEAD_MS)
    path = (
        _gcp_api_gateway(inp)
        + _cloud_run(
            inp, Decimal("0.167"), Decimal("0.25"), proxy_ms, "proxy function (256 MiB, waits for Vertex)"
        )
        + _model_storage(inp, "gcs.standard.storage", "Cloud Storage")
    )
    notes = [
        f"speed: {why}",
        f"nodes: {instances} billed (average load at {t.target_utilisation:%} utilisation, at least "
        f"{t.min_instances}); {peak} at peak",
        "assumption: the proxy Cloud Function (256 MiB, 0.167 vCPU) runs Vertex's time"
        f" + {PROXY_OVERHEAD_MS} ms",
    ]
    quote = _endpoint_quote(
        inp,
        option,
        config,
        speed,
        hosting,
        path,
        instances,
        peak,
        ("vertex_cud_assumed", machine),
        hourly,
        notes,
        "payload 1.5 MB (Vertex online prediction), always on, no cold start",
    )
    return quote, ""


# -- serverless and functions -----------------------------------------------------------------------------


def _aws_serverless(inp: Inputs) -> tuple[list[Quote], str]:
    t = inp.traffic
    keys = [
        "sagemaker.serverless.compute",
        "sagemaker.serverless.data",
        "lambda.requests",
        "lambda.duration.x86_64",
        "apigateway.http.requests",
        "s3.standard.storage",
    ]
    missing = _missing(inp.catalog, keys)
    if missing:
        return [], missing
    profile, why = inp.profiles.cpu(t.model)
    quotes = []
    ctx = inp.ctx()
    fixed = (  # the same for every memory size
        ctx.charge(
            service="sagemaker",
            label="SageMaker Serverless",
            key="sagemaker.serverless.data",
            item=f"data processed, {t.payload_kb:f} KB in + {t.response_kb:f} KB out a request",
            quantity=t.requests_per_month * (t.payload_kb + t.response_kb) / KB_PER_GB,
            price_key="sagemaker.serverless.data",
            field="traffic",
        )
        + _aws_http_api(inp)
        + _aws_lambda_requests(inp, "proxy function")
        + _model_storage(inp, "s3.standard.storage", "S3")
    )
    for memory_mb in (1024, 2048, 3072, 4096, 5120, 6144):
        if profile.peak_rss_mb and profile.peak_rss_mb > memory_mb:
            continue
        vcpus = float(Decimal(memory_mb) / LAMBDA_MB_PER_VCPU)
        speed = cpu_speed(profile, vcpus)
        cold = profile.cold_start_s
        billed_ms = _ms(speed.p50_ms)
        gb = Decimal(memory_mb) / MB_PER_GB
        lines = ctx.charge(
            service="sagemaker",
            label="SageMaker Serverless",
            key="sagemaker.serverless.compute",
            item=f"serverless inference, {memory_mb} MB x {billed_ms:f} ms",
            quantity=t.requests_per_month * billed_ms / 1000 * gb,
            price_key="sagemaker.serverless.compute",
            field="traffic",
        )
        proxy_ms = _ms(speed.p50_ms + PROXY_OVERHEAD_MS)
        path = fixed + _aws_lambda_duration(inp, Decimal(128), proxy_ms, "x86_64", "proxy function")
        concurrency = t.peak(inp.hours) * Decimal(str(speed.p50_ms)) / 1000
        share, cold_note = _cold(inp, speed, "sagemaker-serverless")
        p95 = _p95_with_cold(speed, cold, share)
        fits = t.payload_kb <= 4096 and concurrency <= 200
        quotes.append(
            Quote(
                cloud="aws",
                option="serverless-endpoint",
                region=inp.catalog.region,
                config=f"{memory_mb} MB",
                lines=tuple(lines + path),
                p95_ms=p95,
                cold_start_s=cold,
                meets_slo=fits and p95 <= float(t.p95_ms),
                limits="payload 4 MB, 60 s per call, memory 1-6 GB, max concurrency 200, CPU only; "
                "cold starts",
                notes=(
                    f"speed: {why}",
                    speed.note,
                    f"assumption: {memory_mb} MB gets {vcpus:.2f} vCPU (Lambda's 1,769 MB = 1 vCPU rule; AWS "
                    "publishes no vCPU figure for serverless endpoints)",
                    cold_note + f" ({cold} s each, "
                    "the profile's "
                    "fresh-process start); the 150,000 s free tier of the first 2 months is not applied",
                ),
            )
        )
    return quotes, ""


def _aws_function(inp: Inputs) -> tuple[list[Quote], str]:
    t = inp.traffic
    profile, why = inp.profiles.cpu(t.model)
    quotes, missing = [], ""
    for arch in LAMBDA_ARCHES:
        keys = ["lambda.requests", f"lambda.duration.{arch}", "apigateway.http.requests"]
        missing = _missing(inp.catalog, keys)
        if missing:
            continue
        fixed = _aws_http_api(inp) + _aws_lambda_requests(inp, "model function")  # the same for every size
        for vcpu_steps in (1, 2, 3, 4, 5, 6):
            memory_mb = min(Decimal(10240), LAMBDA_MB_PER_VCPU * vcpu_steps)
            if profile.peak_rss_mb and Decimal(str(profile.peak_rss_mb)) > memory_mb:
                continue
            vcpus = float(memory_mb / LAMBDA_MB_PER_VCPU)
            speed = cpu_speed(profile, vcpus)
            cold = profile.cold_start_s or 0.0
            share, cold_note = _cold(inp, speed, "lambda")
            billed = _ms(speed.p50_ms) + share * Decimal(str(cold)) * 1000  # INIT is billed
            lines = fixed + _aws_lambda_duration(inp, memory_mb, billed, arch, "model function")
            p95 = _p95_with_cold(speed, profile.cold_start_s, share)
            notes = [
                f"speed: {why}",
                speed.note + f" ({memory_mb:f} MB = {vcpus:.2f} vCPU by Lambda's 1,769 MB per vCPU)",
                cold_note + f"; {cold} s each, billed since 2025-08",
                "the model ships in the container image (ECR storage not priced)",
            ]
            if arch == "arm64":
                notes.append("assumption: arm64 runs as fast as the measured x86-64 per core (not measured)")
            concurrent = math.ceil(t.peak(inp.hours) * Decimal(str(speed.p50_ms)) / 1000)
            if concurrent > LAMBDA_DEFAULT_CONCURRENCY:
                notes.append(
                    f"the peak needs {concurrent:,} concurrent executions: above Lambda's default quota of "
                    f"{LAMBDA_DEFAULT_CONCURRENCY:,} a region (ask AWS to raise it)"
                )
            quotes.append(
                Quote(
                    cloud="aws",
                    option="function",
                    region=inp.catalog.region,
                    config=f"Lambda {arch} {memory_mb:f} MB",
                    lines=tuple(lines),
                    p95_ms=p95,
                    cold_start_s=profile.cold_start_s,
                    meets_slo=p95 <= float(t.p95_ms) and t.payload_kb <= 6144,
                    limits="payload 6 MB (sync), HTTP API 30 s timeout, memory 10,240 MB, image 10 GB; "
                    "cold starts",
                    notes=tuple(notes),
                )
            )
    return quotes, missing


def _gcp_function(inp: Inputs) -> tuple[list[Quote], str]:
    t = inp.traffic
    missing = _missing(
        inp.catalog, ["cloudrun.cpu", "cloudrun.memory", "cloudrun.requests", "apigateway.calls"]
    )
    if missing:
        return [], missing
    profile, why = inp.profiles.cpu(t.model)
    quotes = []
    for vcpu, gib in ((1, 2), (2, 4), (4, 8)):
        if profile.peak_rss_mb and profile.peak_rss_mb > gib * 1024:
            continue
        speed = cpu_speed(profile, vcpu)
        cold = profile.cold_start_s or 0.0
        share, cold_note = _cold(inp, speed, "cloud-run")
        billed = _ms(speed.p50_ms) + share * Decimal(str(cold)) * 1000
        lines = _gcp_api_gateway(inp) + _cloud_run(inp, Decimal(vcpu), Decimal(gib), billed, "model service")
        p95 = _p95_with_cold(speed, profile.cold_start_s, share)
        quotes.append(
            Quote(
                cloud="gcp",
                option="function",
                region=inp.catalog.region,
                config=f"Cloud Run / Functions 2nd gen {vcpu} vCPU {gib} GiB",
                lines=tuple(lines),
                p95_ms=p95,
                cold_start_s=profile.cold_start_s,
                meets_slo=p95 <= float(t.p95_ms) and t.payload_kb <= 32768,
                limits="request 32 MB, timeout 60 min (Cloud Run), memory 32 GiB; cold starts",
                notes=(
                    f"speed: {why}",
                    speed.note + " (Cloud Run's CPU is its vCPU setting)",
                    "request-based billing, concurrency 1 (CPU-bound model), time rounded up to 100 ms",
                    cold_note + f"; {cold} s each, billed",
                    "the model ships in the container image (Artifact Registry storage not priced)",
                ),
            )
        )
    return quotes, ""


def _gcp_l4(inp: Inputs) -> tuple[list[Quote], str]:
    t = inp.traffic
    keys = ["cloudrun.instance.cpu", "cloudrun.instance.memory", "cloudrun.gpu.nvidia-l4", "apigateway.calls"]
    missing = _missing(inp.catalog, keys)
    if missing:
        return [], missing
    found = inp.profiles.gpu(t.model, "L4")
    if found is None:
        return [], f"no speed profile for the {t.model} model on an NVIDIA L4"
    profile, why = found
    speed = gpu_speed(profile)
    month_s = inp.hours * 3600
    gap_s = month_s / t.requests_per_month  # average time between requests
    peak = instances_needed(t.peak(inp.hours), speed.p50_ms, t.target_utilisation, 1)
    avg_instances = instances_needed(t.average_rps(inp.hours), speed.p50_ms, t.target_utilisation, 1)
    if gap_s < IDLE_WINDOW_S:
        instance_s = month_s * avg_instances
        how = f"requests arrive every {gap_s:.1f} s on average, inside the idle window: never scales to zero"
    else:
        instance_s = t.requests_per_month * (IDLE_WINDOW_S + Decimal(str(speed.p50_ms)) / 1000)
        how = "each request keeps an instance up for the idle window"
    ctx = inp.ctx()
    lines = (
        ctx.charge(
            service="cloud_run",
            label="Cloud Run GPU",
            key="cloud_run.gpu.cpu",
            item="4 vCPU, instance-based",
            quantity=instance_s * 4,
            price_key="cloudrun.instance.cpu",
            field="traffic",
        )
        + ctx.charge(
            service="cloud_run",
            label="Cloud Run GPU",
            key="cloud_run.gpu.memory",
            item="16 GiB, instance-based",
            quantity=instance_s * 16,
            price_key="cloudrun.instance.memory",
            field="traffic",
        )
        + ctx.charge(
            service="cloud_run",
            label="Cloud Run GPU",
            key="cloud_run.gpu.l4",
            item="NVIDIA L4",
            quantity=instance_s,
            price_key="cloudrun.gpu.nvidia-l4",
            field="traffic",
        )
        + _gcp_api_gateway(inp)
    )
    cold = profile.cold_start_s
    share, cold_note = cold_share(
        t.requests_per_month,
        t.average_rps(inp.hours),
        t.peak(inp.hours),
        speed.p50_ms,
        int(IDLE_WINDOW_S),
        t.cold_start_share,
    )
    p95 = _p95_with_cold(speed, cold, share)
    quote = Quote(
        cloud="gcp",
        option="gpu-scale-to-zero",
        region=inp.catalog.region,
        config="Cloud Run 4 vCPU 16 GiB + NVIDIA L4",
        lines=tuple(lines),
        p95_ms=p95,
        cold_start_s=cold,
        meets_slo=p95 <= float(t.p95_ms),
        limits="at least 4 vCPU + 16 GiB per GPU, instance-based billing, scales to zero, "
        "~5 s start + model load",
        notes=(
            f"speed: {why}",
            f"assumption: an instance lingers {IDLE_WINDOW_S} s after its last request; {how}",
            cold_note,
            f"{peak} instance(s) at peak",
        ),
        instances_at_peak=peak,
    )
    return [quote], ""


Builder = Callable[[Inputs], tuple[list[Quote], str]]
BUILDERS: dict[tuple[str, str], Builder] = {
    ("aws", "gpu-endpoint"): lambda i: _aws_endpoint(i, "gpu-endpoint", gpu=True),
    ("aws", "cpu-endpoint"): lambda i: _aws_endpoint(i, "cpu-endpoint", gpu=False),
    ("aws", "serverless-endpoint"): _aws_serverless,
    ("aws", "function"): _aws_function,
    ("gcp", "gpu-endpoint"): lambda i: _gcp_endpoint(i, "gpu-endpoint", gpu=True),
    ("gcp", "cpu-endpoint"): lambda i: _gcp_endpoint(i, "cpu-endpoint", gpu=False),
    ("gcp", "function"): _gcp_function,
    ("gcp", "gpu-scale-to-zero"): _gcp_l4,
}
