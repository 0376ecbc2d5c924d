"""What reading N images once costs on each batch path: pure arithmetic over prices and a speed profile.

The paths: a SageMaker Batch Transform job (instance-hours while it runs, plus one S3 GET per image and
one PUT per result object), a Vertex AI BatchPredictionJob (node-hours and GPU-hours, one GCS read per
image), the bucket-triggered function (one invocation per image: Lambda GB-seconds and requests, or
Cloud Functions 2nd gen vCPU-s, GiB-s and requests, with one read and two writes per image), and
`ocrkit batch --runner local|ray` on a Compute Engine VM, for comparison. Hours come from the image count
and the profile's throughput -- batch 1, since every path sends one image per request -- plus a start-up
allowance that is an assumption and says so. Every price is a catalog entry with its source; an entry
that is derived carries its derivation into the line. No cloud call, no clock, no printing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from ocrkit.costing.capacity import cpu_speed, profiles_dir
from ocrkit.costing.catalog import Catalog, load_catalog
from ocrkit.costing.profiles import SpeedProfile, load_profile
from ocrkit.costing.results import ZERO
from ocrkit.costing.tiers import apply_tiers
from ocrkit.errors import ConfigError, OcrkitError
from ocrkit.resources import configs_dir

SECONDS_PER_HOUR = Decimal(3600)
MB_PER_GB = Decimal(1024)
#: Lambda gives one vCPU per 1,769 MB (docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html)
LAMBDA_MB_PER_VCPU = Decimal(1769)
#: Lambda's default concurrent executions a region
#: (docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html)
LAMBDA_DEFAULT_CONCURRENCY = 1000


@dataclass(frozen=True)
class BatchLine:
    """One priced quantity: `quantity` in `unit`, at `price` per `per` of them."""

    item: str
    quantity: Decimal
    unit: str
    price: Decimal
    per: Decimal
    cost: Decimal
    price_key: str
    source: str
    as_of: str
    derivation: str | None = None
    free_quantity: Decimal = ZERO  # of `quantity`, given away by a free tier

    def to_json(self) -> dict:
        return {
            "item": self.item,
            "quantity": str(self.quantity),
            "unit": self.unit,
            "price": str(self.price),
            "per": str(self.per),
            "cost": str(self.cost),
            "price_key": self.price_key,
            "free_quantity": str(self.free_quantity),
            "source": self.source,
            "as_of": self.as_of,
            "derivation": self.derivation,
        }


@dataclass(frozen=True)
class Speed:
    images_per_s: Decimal  # one instance / node / function environment
    profile: str
    measured: bool
    note: str


@dataclass(frozen=True)
class BatchQuote:
    cloud: str
    path: str  # sagemaker-transform | vertex-batch | lambda-trigger | function-trigger | runner-on-vm
    config: str
    images: int
    images_per_s: Decimal  # all instances together
    hours: Decimal  # wall-clock hours of the job (functions: the billed compute, not the wall clock)
    lines: tuple[BatchLine, ...]
    speed: Speed
    notes: tuple[str, ...] = ()

    @property
    def total(self) -> Decimal:
        return sum((line.cost for line in self.lines), ZERO)

    @property
    def per_1000(self) -> Decimal:
        return self.total / self.images * 1000 if self.images else ZERO

    @property
    def estimate(self) -> bool:
        """True when the speed is not a measurement or any price is derived rather than read."""
        return not self.speed.measured or any(line.derivation for line in self.lines)

    def to_json(self) -> dict:
        return {
            "cloud": self.cloud,
            "path": self.path,
            "config": self.config,
            "images": self.images,
            "images_per_s": str(self.images_per_s),
            "hours": str(self.hours),
            "total_usd": str(self.total),
            "per_1000_usd": str(self.per_1000),
            "estimate": self.estimate,
            "speed": {
                "profile": self.speed.profile,
                "measured": self.speed.measured,
                "images_per_s_each": str(self.speed.images_per_s),
                "note": self.speed.note,
            },
            "lines": [line.to_json() for line in self.lines],
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class NotPriced:
    cloud: str
    path: str
    config: str
    reason: str

    def to_json(self) -> dict:
        return {"cloud": self.cloud, "path": self.path, "config": self.config, "reason": self.reason}


@dataclass(frozen=True)
class BatchComparison:
    images: int
    quotes: tuple[BatchQuote, ...]
    not_priced: tuple[NotPriced, ...]
    catalogs: dict[str, Catalog] = field(default_factory=dict)

    @property
    def cheapest(self) -> BatchQuote | None:
        return min(self.quotes, key=lambda q: q.total, default=None)

    def to_json(self) -> dict:
        return {
            "images": self.images,
            "quotes": [q.to_json() for q in sorted(self.quotes, key=lambda q: q.total)],
            "not_priced": [n.to_json() for n in self.not_priced],
            "catalogs": {k: str(c.path) for k, c in self.catalogs.items()},
            "cheapest": None if self.cheapest is None else f"{self.cheapest.cloud}/{self.cheapest.path}",
        }


# -- inputs -----------------------------------------------------------------------------------------------


def batch_catalog(cloud: str, region: str) -> Catalog:
    path = configs_dir() / "pricing" / "batch" / f"{cloud}-{region}.yaml"
    if not path.exists():
        shipped = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(
            path, None, f"no batch price catalog for {cloud} {region}", hint=f"shipped: {', '.join(shipped)}"
        )
    return load_catalog(path)


def named_profile(name_or_path: str) -> SpeedProfile:
    """A shipped profile by name (configs/profiles/<name>.yaml), else a profile file's path."""
    shipped = profiles_dir() / f"{name_or_path}.yaml"
    path = shipped if shipped.exists() else Path(name_or_path).expanduser()
    if not path.exists():
        names = ", ".join(sorted(p.stem for p in profiles_dir().glob("*.yaml")))
        raise OcrkitError(f"speed profile {name_or_path!r} not found", hint=f"shipped: {names}")
    return load_profile(path)


def speed_of(profile: SpeedProfile, vcpus: float) -> Speed:
    """Images a second on one instance, one image per request (batch 1): a GPU profile's batch-1
    throughput; a CPU profile's per-core time spread over the instance's vCPUs (capped at the measured)."""
    kind = "measured" if profile.provenance.measured else "ESTIMATE"
    if profile.hardware.kind == "gpu":
        rate = profile.throughput.by_batch.get(1) or 1000 / profile.latency_batch1.p50_ms
        note = f"{profile.name} ({kind}): {rate:g} images/s at batch 1 on {profile.hardware.name}"
        return Speed(Decimal(str(rate)), profile.name, profile.provenance.measured, note)
    speed = cpu_speed(profile, vcpus)
    rate = Decimal(1000) / Decimal(str(speed.p50_ms))
    return Speed(rate, profile.name, profile.provenance.measured, f"{speed.note} ({kind})")


def charge(catalog: Catalog, key: str, quantity: Decimal, item: str) -> BatchLine:
    """Price `quantity` of catalog entry `key` through its tiers and its always-free allowance."""
    if not catalog.has(key):
        raise OcrkitError(f"{catalog.path}: no price '{key}'")
    entry = catalog.entry(key)
    free = ZERO
    ft = entry.free_tier
    if ft is not None and ft.condition == "always" and (ft.regions is None or catalog.region in ft.regions):
        free = ft.quantity
    cost = ZERO
    for piece in apply_tiers(quantity, entry.tier_list(), free):
        cost += piece.quantity * piece.price / entry.per
    return BatchLine(
        item=item,
        quantity=quantity,
        unit=entry.unit,
        price=entry.list_price,
        per=entry.per,
        cost=cost,
        price_key=key,
        source=entry.source,
        as_of=entry.as_of.isoformat(),
        derivation=entry.derivation,
        free_quantity=min(free, quantity),
    )


def job_hours(images: int, per_instance: Decimal, instances: int, startup_s: Decimal) -> Decimal:
    """Wall-clock hours: start-up, then the images spread evenly over the instances."""
    if images < 0 or instances < 1 or per_instance <= 0:
        raise ValueError("images >= 0, instances >= 1 and a positive rate are required")
    busy_s = Decimal(images) / (per_instance * instances)
    return (startup_s + busy_s) / SECONDS_PER_HOUR


STARTUP_NOTE = "assumption: {s} s of start-up (instance start, image pull, model load) billed per instance"


# -- the paths ----------------------------------------------------------------------------------------------


def transform_job(
    images: int,
    catalog: Catalog,
    instance_type: str,
    instance_count: int,
    speed: Speed,
    startup_s: Decimal,
) -> BatchQuote:
    """A SageMaker Batch Transform job: instance-hours for the whole job, one GET and one PUT per image."""
    hours = job_hours(images, speed.images_per_s, instance_count, startup_s)
    count = Decimal(instance_count)
    lines = (
        charge(
            catalog,
            f"sagemaker.transform.{instance_type}",
            hours * count,
            f"{instance_type} x {instance_count}, {hours:.3f} h each",
        ),
        charge(catalog, "s3.standard.get", Decimal(images), "S3 GET: each image read once"),
        charge(catalog, "s3.standard.put", Decimal(images), "S3 PUT: one .out object per image"),
    )
    notes = (
        f"speed: {speed.note}",
        STARTUP_NOTE.format(s=startup_s),
        "one image per record (SplitType None): one request per image",
    )
    return BatchQuote(
        "aws",
        "sagemaker-transform",
        f"{instance_type} x {instance_count}",
        images,
        speed.images_per_s * count,
        hours,
        lines,
        speed,
        notes,
    )


def vertex_job(
    images: int,
    catalog: Catalog,
    machine_type: str,
    accelerator: str | None,
    accelerator_count: int,
    replicas: int,
    speed: Speed,
    startup_s: Decimal,
) -> BatchQuote:
    """A Vertex AI BatchPredictionJob: node-hours (and GPU-hours) for the job, one GCS read per image."""
    hours = job_hours(images, speed.images_per_s, replicas, startup_s)
    nodes = hours * replicas
    lines = [charge(catalog, f"vertex.batch.{machine_type}", nodes, f"{machine_type} x {replicas}")]
    config = f"{machine_type} x {replicas}"
    if accelerator:
        gpu = accelerator.lower().replace("_", "-")
        lines.append(
            charge(
                catalog,
                f"vertex.batch.gpu.{gpu}",
                nodes * accelerator_count,
                f"{accelerator} x {accelerator_count} per node",
            )
        )
        config = f"{machine_type} + {accelerator_count} {accelerator} x {replicas}"
    lines.append(
        charge(catalog, "gcs.standard.us-east4.class_b", Decimal(images), "GCS reads: each image once")
    )
    notes = (
        f"speed: {speed.note}",
        STARTUP_NOTE.format(s=startup_s),
        "file-list input: the handler reads one instance at a time",
    )
    return BatchQuote(
        "gcp",
        "vertex-batch",
        config,
        images,
        speed.images_per_s * replicas,
        hours,
        tuple(lines),
        speed,
        notes,
    )


def lambda_trigger(
    images: int, catalog: Catalog, profile: SpeedProfile, memory_mb: int, concurrency: int
) -> BatchQuote:
    """The S3-triggered Lambda with the ONNX/torch engine inside: one invocation per image."""
    vcpus = float(Decimal(memory_mb) / LAMBDA_MB_PER_VCPU)
    speed = speed_of(profile, vcpus)
    per_image_ms = math.ceil(Decimal(1000) / speed.images_per_s)  # billed per 1 ms
    cold_s = Decimal(str(profile.cold_start_s or 0))
    cold = min(images, concurrency)
    gb = Decimal(memory_mb) / MB_PER_GB
    seconds = Decimal(images) * per_image_ms / 1000 + cold * cold_s
    lines = (
        charge(catalog, "lambda.requests", Decimal(images), "invocations: one per image"),
        charge(
            catalog,
            "lambda.duration.x86_64",
            seconds * gb,
            f"{memory_mb} MB x {per_image_ms} ms a crop + {cold} cold starts x {cold_s} s",
        ),
        charge(catalog, "s3.standard.get", Decimal(images), "S3 GET: each image read once"),
        charge(catalog, "s3.standard.put", Decimal(2 * images), "S3 PUT: <name>.txt and <name>.json"),
    )
    notes = (
        f"speed: {speed.note} ({memory_mb} MB = {vcpus:.2f} vCPU by Lambda's 1,769 MB per vCPU)",
        f"assumption: {cold} environments start cold once each (the concurrency the burst reaches), "
        "INIT billed",
        "the always-free allowance (1M requests, 400,000 GB-s a month) is taken off",
    )
    hours = seconds / SECONDS_PER_HOUR
    return BatchQuote(
        "aws",
        "lambda-trigger",
        f"Lambda x86_64 {memory_mb} MB",
        images,
        speed.images_per_s * concurrency,
        hours,
        lines,
        speed,
        notes,
    )


def function_trigger(
    images: int, catalog: Catalog, profile: SpeedProfile, vcpu: int, gib: int, concurrency: int
) -> BatchQuote:
    """The GCS-triggered Cloud Function (2nd gen, billed as Cloud Run): one invocation per image."""
    speed = speed_of(profile, float(vcpu))
    per_image_ms = Decimal(math.ceil(Decimal(1000) / speed.images_per_s / 100) * 100)  # 100 ms steps
    cold_s = Decimal(str(profile.cold_start_s or 0))
    cold = min(images, concurrency)
    seconds = Decimal(images) * per_image_ms / 1000 + cold * cold_s
    lines = (
        charge(catalog, "cloudrun.requests", Decimal(images), "invocations: one per image"),
        charge(catalog, "cloudrun.cpu", seconds * vcpu, f"{vcpu} vCPU x {per_image_ms} ms a crop"),
        charge(catalog, "cloudrun.memory", seconds * gib, f"{gib} GiB x {per_image_ms} ms a crop"),
        charge(catalog, "gcs.standard.us-east4.class_b", Decimal(images), "GCS reads: each image once"),
        charge(catalog, "gcs.standard.us-east4.class_a", Decimal(2 * images), "GCS writes: .txt and .json"),
    )
    notes = (
        f"speed: {speed.note}",
        f"assumption: {cold} instances start cold once each, billed",
        "request-based billing rounded up to 100 ms; the always-free allowance is taken off",
    )
    return BatchQuote(
        "gcp",
        "function-trigger",
        f"Cloud Functions 2nd gen {vcpu} vCPU {gib} GiB",
        images,
        speed.images_per_s * concurrency,
        seconds / SECONDS_PER_HOUR,
        lines,
        speed,
        notes,
    )


def runner_on_vm(
    images: int, catalog: Catalog, machine: str, gpu: str | None, speed: Speed, startup_s: Decimal
) -> BatchQuote:
    """`ocrkit batch --runner local` (or one Ray node) on a Compute Engine VM, stopped when done."""
    hours = job_hours(images, speed.images_per_s, 1, startup_s)
    lines = [charge(catalog, f"compute.{machine}", hours, f"{machine} VM")]
    config = machine
    if gpu:
        lines.append(charge(catalog, f"compute.gpu.{gpu}", hours, f"{gpu} attached"))
        config = f"{machine} + {gpu}"
    lines.append(
        charge(catalog, "gcs.standard.us-east4.class_b", Decimal(images), "GCS reads: each image once")
    )
    notes = (
        f"speed: {speed.note}",
        STARTUP_NOTE.format(s=startup_s),
        "the VM is deleted when the run ends; results are one JSONL object (a few writes, not priced)",
    )
    return BatchQuote(
        "gcp", "runner-on-vm", config, images, speed.images_per_s, hours, tuple(lines), speed, notes
    )


# -- the comparison `ocrkit cost --batch N` prints --------------------------------------------------------


def compare_batch(
    images: int,
    *,
    gpu_profile: SpeedProfile,
    cpu_profile: SpeedProfile,
    aws: Catalog | None = None,
    gcp: Catalog | None = None,
    startup_s: Decimal = Decimal(300),
) -> BatchComparison:
    """Every batch path for `images` crops read once, each on its usual hardware."""
    if images < 1:
        raise OcrkitError(f"--batch must be at least 1 image (got {images})")
    aws = aws or batch_catalog("aws", "us-east-1")
    gcp = gcp or batch_catalog("gcp", "us-east4")
    gpu = speed_of(gpu_profile, 4)
    cpu2 = speed_of(cpu_profile, 2)
    cpu4 = speed_of(cpu_profile, 4)
    quotes = [
        transform_job(images, aws, "ml.g4dn.xlarge", 1, gpu, startup_s),
        transform_job(images, aws, "ml.m5.large", 1, cpu2, startup_s),
        lambda_trigger(images, aws, cpu_profile, 3538, LAMBDA_DEFAULT_CONCURRENCY),
        vertex_job(images, gcp, "n1-standard-4", "NVIDIA_TESLA_T4", 1, 1, gpu, startup_s),
        vertex_job(images, gcp, "n1-standard-4", None, 0, 1, cpu4, startup_s),
        function_trigger(images, gcp, cpu_profile, 2, 4, 100),
        runner_on_vm(images, gcp, "n1-standard-4", "nvidia-tesla-t4", gpu, startup_s),
    ]
    not_priced = (
        NotPriced(
            "aws",
            "runner-on-vm",
            "EC2 g4dn.xlarge",
            "no EC2 on-demand price with a source in the catalogs (only SageMaker's)",
        ),
        NotPriced(
            "local",
            "runner-local",
            "this machine",
            f"your own hardware: {_hours_text(images, cpu2)} at {cpu2.images_per_s:.1f} images/s "
            f"({cpu2.profile}); no bill to price",
        ),
    )
    return BatchComparison(images, tuple(quotes), not_priced, {"aws": aws, "gcp": gcp})


def _hours_text(images: int, speed: Speed) -> str:
    hours = Decimal(images) / speed.images_per_s / SECONDS_PER_HOUR
    return f"{hours:,.1f} h"
