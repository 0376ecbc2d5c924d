"""What each AWS serving option runs on SageMaker, from one config: the instance type (or none, for
Serverless Inference), the processor of the inference image, and what the plan should say about it.

- `gpu-endpoint` (the default): exactly the config's `sagemaker.instance_type` and `processor`.
- `cpu-endpoint`: the config's instance type when it is a CPU one, else `sagemaker.cpu_instance_type`
  (the option's default wins over a GPU instance left in the config, and the plan says so); a CPU image
  and OCRKIT_DEVICE=cpu.
- `serverless-endpoint`: no instance at all (a `ServerlessConfig` variant), a CPU image (Serverless
  Inference has no GPUs), no autoscaling target (SageMaker scales it itself).

`function` is not an endpoint; its planning lives with the Lambda family.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ocrkit.deploy.pricing import PlanCost, option_cost
from ocrkit.deploy.serving import ServingOption
from ocrkit.providers.aws.spec import AwsDeploySpec, ServerlessSpec

# accelerated SageMaker instance families: GPU (g, p), Inferentia (inf), Trainium (trn)
ACCELERATED_RE = re.compile(r"^ml\.(g|p|inf|trn)\d")


def is_accelerated(instance_type: str) -> bool:
    return bool(ACCELERATED_RE.match(instance_type))


@dataclass(frozen=True)
class EndpointShape:
    option: ServingOption
    instance_type: str | None  # None: Serverless Inference (no instances)
    instance_count: int
    processor: str  # the inference image's: "gpu" or "cpu"
    serverless: ServerlessSpec | None = None
    notes: tuple[str, ...] = ()

    @property
    def autoscaling(self) -> bool:
        """Whether an Application Auto Scaling target applies (instance endpoints only)."""
        return self.instance_type is not None

    def words(self) -> str:
        """The shape in a few words, for the plan and status."""
        if self.serverless is not None:
            sv = self.serverless
            pc = f", {sv.provisioned_concurrency} provisioned" if sv.provisioned_concurrency else ""
            return f"serverless {sv.memory_mb} MB, max concurrency {sv.max_concurrency}{pc}"
        return f"{self.instance_type} x {self.instance_count}"


def endpoint_shape(spec: AwsDeploySpec) -> EndpointShape:
    sm, option = spec.sagemaker, spec.serving
    if option == ServingOption.serverless_endpoint:
        notes = ["Serverless Inference: pay per request (memory x duration); cold starts after idle time"]
        if sm.processor == "gpu" and not sm.image_uri:
            notes.append(
                "serverless-endpoint runs the CPU inference image (Serverless Inference has no GPUs)"
            )
        return EndpointShape(option, None, 0, "cpu", sm.serverless, tuple(notes))
    if option == ServingOption.cpu_endpoint:
        notes = []
        instance = sm.instance_type
        if is_accelerated(instance):
            notes.append(
                f"cpu-endpoint runs on {sm.cpu_instance_type} (sagemaker.cpu_instance_type): "
                f"sagemaker.instance_type ({instance}) is a GPU instance, used by gpu-endpoint only"
            )
            instance = sm.cpu_instance_type
        return EndpointShape(option, instance, sm.instance_count, "cpu", None, tuple(notes))
    if option == ServingOption.function:  # no SageMaker endpoint at all
        return EndpointShape(option, None, 0, "cpu")
    return EndpointShape(option, sm.instance_type, sm.instance_count, sm.processor)


def engine_config(shape: EndpointShape) -> str | None:
    """The configuration name the serving-costs engine gives this shape's quote (None: the option's
    cheapest, for a function, whose configuration is the Lambda family's)."""
    if shape.option == ServingOption.function:
        return None
    if shape.serverless is not None:
        return f"{shape.serverless.memory_mb} MB"
    return str(shape.instance_type)


def plan_cost(
    spec: AwsDeploySpec, shape: EndpointShape, region: str, list_estimate: tuple[Any, str | None]
) -> PlanCost:
    """The plan's $/hour and monthly line for the chosen option, with the options' comparison."""
    notes: list[str] = []
    units, keys = 0, ()
    auto = spec.sagemaker.autoscaling
    if shape.serverless is not None:
        notes += memory_fit(shape.serverless.memory_mb, spec.usage.model)
    if shape.serverless is not None and shape.serverless.provisioned_concurrency:
        notes.append(
            f"provisioned concurrency ({shape.serverless.provisioned_concurrency}) is billed every hour "
            "on top of this; the catalog has no price for it"
        )
    elif shape.instance_type is not None:
        units = running_instances(spec, shape)
        keys = (f"sagemaker.inference.{shape.instance_type}", f"sagemaker.hosting.{shape.instance_type}")
    return option_cost(
        "aws",
        region,
        shape.option.value,
        engine_config(shape),
        spec.usage,
        list_estimate,
        unit_keys=keys,
        units=units,
        max_units=auto.max_instances if auto.enabled and shape.autoscaling else units,
        notes=notes,
    )


def running_instances(spec: AwsDeploySpec, shape: EndpointShape) -> int:
    auto = spec.sagemaker.autoscaling
    return max(shape.instance_count, auto.min_instances if auto.enabled else 1)


def memory_fit(memory_mb: int, model: str) -> list[str]:
    """A warning when the model's measured peak memory (its CPU speed profile) does not fit the serverless
    endpoint's memory size (the profile is the `usage.model`'s, not necessarily these weights')."""
    from ocrkit.costing.compare import profile_book

    profile, _ = profile_book(None).cpu(model)
    peak = profile.peak_rss_mb
    if peak and peak > memory_mb:
        return [
            f"sagemaker.serverless.memory_mb {memory_mb} is below the {model} model's measured peak memory "
            f"({peak:,.0f} MB, profile {profile.name}): the endpoint may run out of memory; use "
            f"{next((m for m in (1024, 2048, 3072, 4096, 5120, 6144) if m >= peak), 6144)} or more"
        ]
    return []
