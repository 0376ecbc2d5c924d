"""SageMaker: the model (image + artifact + role), the endpoint config (instance type and count) and the
real-time endpoint, switched in place to a new config so that new weights cause no downtime.

Plan, apply, delete, describe and find-by-name for `sagemaker:model`, `sagemaker:endpoint-config` and
`sagemaker:endpoint`. Models and configs are matched by their exact digest names, never by a prefix.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.errors import OcrkitError
from ocrkit.providers.aws.autoscaling import DEREGISTER_CALLS, deregister_scaling
from ocrkit.providers.aws.names import VARIANT, Names
from ocrkit.providers.aws.planning import (
    AwsAccess,
    AwsPlanContext,
    describe_or_none,
    gone,
    owned_by_tags,
    repository,
    tag_dict,
)
from ocrkit.providers.aws.waiters import wait_for_endpoint


def plan_model(p: AwsPlanContext) -> Step:
    sm = p.c("sagemaker")
    name = p.d.model_name
    summary = (
        f"{name}: {repository(p.d.image_uri, tag=True)}; up to {p.spec.limits.max_batch} images per "
        "invocation read as one batch"
    )
    rec = ResourceRecord("sagemaker:model", name, {"artifact_sha256": p.d.artifact.sha256})
    if p.describe(sm.describe_model, ModelName=name) is not None:
        return p.step(
            "model", "sagemaker:model", "noop", summary, lambda ctx: StepResult(rec, {"model_name": name})
        )

    def run(ctx: Context) -> StepResult:
        kwargs: dict[str, Any] = {
            "ModelName": name,
            "PrimaryContainer": {
                "Image": p.d.image_uri,
                "ModelDataUrl": f"s3://{p.n.bucket}/{p.d.artifact_key}",
                "Environment": p.d.model_env,
            },
            "ExecutionRoleArn": ctx.get("sagemaker_role_arn"),
            "Tags": p.n.tag_list(),
        }
        vpc = p.spec.sagemaker.vpc
        if vpc:
            kwargs["VpcConfig"] = {"Subnets": vpc.subnet_ids, "SecurityGroupIds": vpc.security_group_ids}
        p.retry_iam(lambda: p.c("sagemaker").create_model(**kwargs), "create the model")
        return StepResult(rec, {"model_name": name})

    previous = p.record("model")
    if previous is not None and previous.id != name:
        summary += f" (replaces {previous.id}, removed once the endpoint has switched)"
    calls = ["sagemaker.CreateModel"]
    return p.step("model", "sagemaker:model", "create", summary, run, calls=calls, image=p.d.image_uri)


def config_variant(p: AwsPlanContext, model_name: str) -> dict[str, Any]:
    """The endpoint config's one production variant: instances, or a `ServerlessConfig` (Serverless
    Inference takes no instance type, count or container timeouts, and has no autoscaling target)."""
    shape, s = p.d.shape, p.spec.sagemaker
    variant: dict[str, Any] = {"VariantName": VARIANT, "ModelName": model_name}
    if shape.serverless is not None:
        sv = shape.serverless
        config = {"MemorySizeInMB": sv.memory_mb, "MaxConcurrency": sv.max_concurrency}
        if sv.provisioned_concurrency:
            config["ProvisionedConcurrency"] = sv.provisioned_concurrency
        variant["ServerlessConfig"] = config
        return variant
    variant.update(
        {
            "InstanceType": shape.instance_type,
            "InitialInstanceCount": shape.instance_count,
            "InitialVariantWeight": 1.0,
            "ModelDataDownloadTimeoutInSeconds": s.model_data_download_timeout_s,
            "ContainerStartupHealthCheckTimeoutInSeconds": s.startup_health_check_timeout_s,
        }
    )
    return variant


def plan_endpoint_config(p: AwsPlanContext) -> Step:
    sm = p.c("sagemaker")
    name, shape = p.d.config_name, p.d.shape
    summary = f"{name}: {shape.words()}, model {p.d.model_name}"
    attrs: dict[str, Any] = {"instance_type": shape.instance_type} if shape.instance_type else {}
    if shape.serverless is not None:
        attrs["serverless_memory_mb"] = shape.serverless.memory_mb
    rec = ResourceRecord("sagemaker:endpoint-config", name, attrs)
    if p.describe(sm.describe_endpoint_config, EndpointConfigName=name) is not None:
        return p.step(
            "endpoint_config",
            "sagemaker:endpoint-config",
            "noop",
            summary,
            lambda ctx: StepResult(rec, {"endpoint_config_name": name}),
        )

    def run(ctx: Context) -> StepResult:
        kwargs: dict[str, Any] = {
            "EndpointConfigName": name,
            "ProductionVariants": [config_variant(p, ctx.get("model_name"))],
            "Tags": p.n.tag_list(),
        }
        if p.spec.bucket.kms_key_arn:
            kwargs["KmsKeyId"] = p.spec.bucket.kms_key_arn
        p.c("sagemaker").create_endpoint_config(**kwargs)
        return StepResult(rec, {"endpoint_config_name": name})

    previous = p.record("endpoint_config")
    if previous is not None and previous.id != name:
        summary += f" (replaces {previous.id})"
    action = "create"
    details: dict[str, Any] = (
        {"serverless": shape.serverless.model_dump()}
        if shape.serverless is not None
        else {"instance_type": shape.instance_type, "instance_count": shape.instance_count}
    )
    return p.step(
        "endpoint_config",
        "sagemaker:endpoint-config",
        action,
        summary,
        run,
        calls=["sagemaker.CreateEndpointConfig"],
        **details,
    )


def plan_endpoint(p: AwsPlanContext) -> Step:
    sm = p.c("sagemaker")
    n, s, shape = p.n, p.spec.sagemaker, p.d.shape
    auto = s.autoscaling
    scaling = f"autoscaling {auto.min_instances}-{auto.max_instances}" if auto.enabled else "no autoscaling"
    if not shape.autoscaling:
        scaling = "scaled by SageMaker"
    summary = f"{n.endpoint}: {shape.words()}, {scaling}"
    got = p.describe(sm.describe_endpoint, EndpointName=n.endpoint)
    outputs = {"endpoint_name": n.endpoint}
    rec = ResourceRecord("sagemaker:endpoint", n.endpoint, {"config": p.d.config_name})
    quota = None
    if got is None and shape.instance_type is not None:
        quota = p.quota(shape.instance_count)
        if quota.known and not quota.enough or not quota.known:
            p.warnings.append(quota.message)
    status = (got or {}).get("EndpointStatus")
    if got is not None and got.get("EndpointConfigName") == p.d.config_name and status == "InService":
        return p.step(
            "endpoint",
            "sagemaker:endpoint",
            "noop",
            f"{summary}, InService",
            lambda ctx: StepResult(rec, outputs),
        )

    old_type = None
    if got is not None and got.get("EndpointConfigName") != p.d.config_name:
        old = p.describe(sm.describe_endpoint_config, EndpointConfigName=got["EndpointConfigName"])
        variants = (old or {}).get("ProductionVariants") or [{}]
        old_type = variants[0].get("InstanceType")
    # an instance endpoint with a scaling target switching to another instance type or to Serverless
    # Inference: the target is deregistered before UpdateEndpoint (SageMaker refuses the update otherwise)
    p.seen.instance_type_changes = old_type is not None and old_type != shape.instance_type

    def run(ctx: Context) -> StepResult:
        client = p.c("sagemaker")
        config = ctx.get("endpoint_config_name")
        if got is None:
            if quota is not None:
                if not quota.enough:
                    raise OcrkitError(quota.message)
                if quota.known:  # "could not check" was said with the plan already
                    ctx.events.info(quota.message)
            client.create_endpoint(EndpointName=n.endpoint, EndpointConfigName=config, Tags=n.tag_list())
        elif status == "Failed":
            ctx.events.info(f"endpoint {n.endpoint} is Failed ({got.get('FailureReason')}); replacing it")
            client.delete_endpoint(EndpointName=n.endpoint)
            _wait_gone(p, client, n.endpoint)
            client.create_endpoint(EndpointName=n.endpoint, EndpointConfigName=config, Tags=n.tag_list())
        elif got.get("EndpointConfigName") != config:
            if status not in ("InService",):
                _wait(p, client, ctx)
            if p.seen.instance_type_changes:
                deregister_scaling(p)
            client.update_endpoint(EndpointName=n.endpoint, EndpointConfigName=config)
        info = _wait(p, client, ctx)
        return StepResult(
            ResourceRecord("sagemaker:endpoint", n.endpoint, {"config": config}),
            {**outputs, "endpoint_arn": info.get("EndpointArn", n.endpoint_arn)},
        )

    calls: list[str] = []
    if got is None:
        action, detail = "create", summary
        calls = ["sagemaker.CreateEndpoint"]
    elif status == "Failed":
        action, detail = "update", f"{summary} (replace the Failed endpoint)"
        calls = ["sagemaker.DeleteEndpoint", "sagemaker.CreateEndpoint"]
    elif got.get("EndpointConfigName") != p.d.config_name:
        action, detail = "update", f"{summary} (switch to {p.d.config_name})"
        if p.seen.instance_type_changes:
            calls = list(DEREGISTER_CALLS)
        calls.append("sagemaker.UpdateEndpoint")
    else:
        action, detail = "update", f"{summary} (wait: now {status})"
    return p.step(
        "endpoint",
        "sagemaker:endpoint",
        action,
        detail,
        run,
        calls=calls,
        quota=None if quota is None else quota.message,
    )


def _wait(p: AwsPlanContext, client, ctx: Context) -> dict:
    n = p.n
    return wait_for_endpoint(
        lambda: client.describe_endpoint(EndpointName=n.endpoint),
        name=n.endpoint,
        log_group=n.endpoint_log_group,
        region=n.region,
        events=ctx.events,
        timeout_s=p.options.endpoint_timeout_s,
        interval_s=p.options.endpoint_poll_s,
        sleep=p.options.sleep,
    )


def _wait_gone(p: AwsPlanContext, client, endpoint: str) -> None:
    deadline = time.monotonic() + p.options.endpoint_timeout_s
    while p.describe(client.describe_endpoint, EndpointName=endpoint) is not None:
        if time.monotonic() > deadline:
            raise OcrkitError(f"endpoint {endpoint} is still being deleted")
        p.options.sleep(p.options.endpoint_poll_s)


def delete_endpoint(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    client = a.c("sagemaker")
    client.delete_endpoint(EndpointName=rec.id)
    deadline = time.monotonic() + a.options.endpoint_timeout_s
    while True:
        try:
            client.describe_endpoint(EndpointName=rec.id)
        except Exception as exc:
            if gone(exc):
                return
            raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"endpoint {rec.id} is still being deleted")
        events.info(f"waiting for endpoint {rec.id} to be deleted")
        a.options.sleep(a.options.endpoint_poll_s)


def delete_endpoint_config(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    a.c("sagemaker").delete_endpoint_config(EndpointConfigName=rec.id)


def delete_model(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    a.c("sagemaker").delete_model(ModelName=rec.id)


def describe_model(a: AwsAccess, rec: ResourceRecord) -> Described:
    got = describe_or_none(a.c("sagemaker").describe_model, ModelName=rec.id)
    return Described("exists" if got is not None else "missing", healthy=got is not None)


def describe_endpoint_config(a: AwsAccess, rec: ResourceRecord) -> Described:
    got = describe_or_none(a.c("sagemaker").describe_endpoint_config, EndpointConfigName=rec.id)
    if got is None:
        return Described("missing", healthy=False)
    v = got["ProductionVariants"][0]
    if v.get("ServerlessConfig"):
        sv = v["ServerlessConfig"]
        return Described(
            f"serverless {sv.get('MemorySizeInMB')} MB, max concurrency {sv.get('MaxConcurrency')}"
        )
    return Described(f"{v['InstanceType']} x {v.get('InitialInstanceCount', '?')}")


def describe_endpoint(a: AwsAccess, rec: ResourceRecord) -> Described:
    """The endpoint's status, and the instances it runs now (what it costs per hour)."""
    sm = a.c("sagemaker")
    got = describe_or_none(sm.describe_endpoint, EndpointName=rec.id)
    if got is None:
        return Described("missing", healthy=False)
    count = sum(int(v.get("CurrentInstanceCount") or 0) for v in got.get("ProductionVariants", []))
    words = f"{got['EndpointStatus']}, {count} instance(s)"
    if got.get("FailureReason"):
        words += f": {got['FailureReason']}"
    config = sm.describe_endpoint_config(EndpointConfigName=got["EndpointConfigName"])
    variant = config["ProductionVariants"][0]
    healthy = got.get("EndpointStatus") == "InService"
    serverless = variant.get("ServerlessConfig")
    if serverless:  # no instances: billed per request (provisioned concurrency aside)
        words = f"{got['EndpointStatus']}, serverless {serverless.get('MemorySizeInMB')} MB"
        if got.get("FailureReason"):
            words += f": {got['FailureReason']}"
        return Described(words, healthy=healthy, attrs={"serverless": dict(serverless)})
    instance_type = variant["InstanceType"]
    return Described(words, healthy=healthy, running=count, attrs={"instance_type": instance_type})


def _model_re(n: Names) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(n.deployment)}-model-[0-9a-f]{{12}}$")


def _config_re(n: Names) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(n.deployment)}-config-[0-9a-f]{{12}}$")


def from_arn(kind: str, name: str, n: Names) -> tuple[str, ResourceRecord] | None:
    """A tagged SageMaker resource (ARNs hold names in lower case; ocrkit's names are lower case already)."""
    if kind == "model" and _model_re(n).match(name):
        return f"model@{name}", ResourceRecord("sagemaker:model", name)
    if kind == "endpoint-config" and _config_re(n).match(name):
        return f"endpoint_config@{name}", ResourceRecord("sagemaker:endpoint-config", name)
    if kind == "endpoint" and name == n.endpoint:
        return "endpoint", ResourceRecord("sagemaker:endpoint", name)
    return None


_DESCRIBE = {
    "sagemaker:model": ("describe_model", "ModelName", "ModelArn"),
    "sagemaker:endpoint-config": ("describe_endpoint_config", "EndpointConfigName", "EndpointConfigArn"),
    "sagemaker:endpoint": ("describe_endpoint", "EndpointName", "EndpointArn"),
}


def owner(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    sm: Any = a.c("sagemaker")
    method, param, arn_key = _DESCRIBE[rec.kind]

    def read() -> dict[str, str]:
        arn = getattr(sm, method)(**{param: rec.id})[arn_key]
        return tag_dict(sm.list_tags(ResourceArn=arn).get("Tags"))

    return owned_by_tags(a, read)


def discover(a: AwsAccess) -> Found:
    n, out = a.names, []
    sm: Any = a.c("sagemaker")
    model_re, config_re = _model_re(n), _config_re(n)
    for page in sm.get_paginator("list_models").paginate(NameContains=n.model_prefix):
        for m in page.get("Models", []):
            if model_re.match(m["ModelName"]):
                out.append((f"model@{m['ModelName']}", ResourceRecord("sagemaker:model", m["ModelName"])))
    for page in sm.get_paginator("list_endpoint_configs").paginate(NameContains=n.endpoint_config_prefix):
        for c in page.get("EndpointConfigs", []):
            if config_re.match(c["EndpointConfigName"]):
                name = c["EndpointConfigName"]
                out.append((f"endpoint_config@{name}", ResourceRecord("sagemaker:endpoint-config", name)))
    for page in sm.get_paginator("list_endpoints").paginate(NameContains=n.endpoint):
        for e in page.get("Endpoints", []):
            if e["EndpointName"] == n.endpoint:
                out.append(("endpoint", ResourceRecord("sagemaker:endpoint", n.endpoint)))
    return out


FAMILY = Family[AwsPlanContext, AwsAccess](
    name="sagemaker",
    models=(
        ResourceModel("model", "sagemaker:model", ("sagemaker_role", "artifact")),
        ResourceModel("endpoint_config", "sagemaker:endpoint-config", ("model",)),
        ResourceModel("endpoint", "sagemaker:endpoint", ("endpoint_config", "endpoint_log_group")),
    ),
    plan={"model": plan_model, "endpoint_config": plan_endpoint_config, "endpoint": plan_endpoint},
    delete={
        "sagemaker:endpoint": delete_endpoint,
        "sagemaker:endpoint-config": delete_endpoint_config,
        "sagemaker:model": delete_model,
    },
    describe={
        "sagemaker:model": describe_model,
        "sagemaker:endpoint-config": describe_endpoint_config,
        "sagemaker:endpoint": describe_endpoint,
    },
    discover=discover,
    rank={"sagemaker:endpoint": 8, "sagemaker:endpoint-config": 9, "sagemaker:model": 10},
    owner={kind: owner for kind in _DESCRIBE},
    delete_calls={
        "sagemaker:endpoint": ("sagemaker.DeleteEndpoint",),
        "sagemaker:endpoint-config": ("sagemaker.DeleteEndpointConfig",),
        "sagemaker:model": ("sagemaker.DeleteModel",),
    },
)
