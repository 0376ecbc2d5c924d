"""The AWS planner: only orders and dispatches. Each resource family module (s3, logs, iam, sagemaker,
autoscaling, lambda_, apigateway) plans, applies, deletes, describes and finds its own resources; this
module registers them, plans the wanted resources in dependency order, and finds a deployment's resources
by tag and by name for teardown.

    bucket -> artifact -> bucket_policy              S3: private, encrypted, versioned, TLS only
    endpoint_log_group, lambda_log_group, api_log_group
    sagemaker_role -> model -> endpoint_config -> endpoint -> autoscaling
    lambda_role -> function -> function_alias        Lambda: gateway zip, `live` alias
    api -> integration -> route, stage -> invoke_permission
    trigger_bucket, trigger_queue -> trigger_role -> trigger_function -> trigger_async,
        trigger_permission -> trigger_notification  --trigger s3 (the trigger family)

Adding a family: a module with a `FAMILY` and one entry in `REGISTRY` (and its key in `Desired.wanted`).
"""

from __future__ import annotations

from ocrkit.deploy.plan import Step
from ocrkit.deploy.records import ResourceRecord
from ocrkit.deploy.resource import Found, Registry
from ocrkit.providers.aws import apigateway, autoscaling, iam, lambda_, logs, s3, sagemaker, trigger
from ocrkit.providers.aws.names import TAG_KEY, Names
from ocrkit.providers.aws.planning import AwsAccess, AwsPlanContext
from ocrkit.providers.aws.session import error_code

REGISTRY: Registry[AwsPlanContext, AwsAccess] = Registry(
    (
        s3.FAMILY,
        logs.FAMILY,
        iam.FAMILY,
        sagemaker.FAMILY,
        autoscaling.FAMILY,
        lambda_.FAMILY,
        apigateway.FAMILY,
        trigger.FAMILY,
    )
)


def plan_steps(p: AwsPlanContext) -> list[Step]:
    """One step per wanted resource, in dependency order (describe/list calls only)."""
    wanted = p.d.wanted()
    out = []
    for model in REGISTRY.models():
        if model.key not in wanted:
            continue  # e.g. autoscaling when it is off
        step = REGISTRY.planner(model.key)(p)
        p.seen.actions[model.key] = step.call.action
        out.append(step)
    return out


def discover(a: AwsAccess) -> Found:
    """Everything of this deployment that exists now, as (state key, record), in deletion order: by tag
    through the Resource Groups Tagging API, and by exact name through each family's own listing (the
    tagging API does not cover IAM roles or scaling targets, and emulators cover less)."""
    found: dict[tuple[str, str], tuple[str, ResourceRecord]] = {}
    for key, rec in _by_tag(a) + REGISTRY.discover(a):
        found.setdefault((rec.kind, rec.id), (key, rec))
    return REGISTRY.sort_for_deletion(found.values())


def _by_tag(a: AwsAccess) -> Found:
    n = a.names
    out: Found = []
    try:
        paginator = a.c("resourcegroupstaggingapi").get_paginator("get_resources")
        arns = [
            m["ResourceARN"]
            for page in paginator.paginate(TagFilters=[{"Key": TAG_KEY, "Values": [n.deployment]}])
            for m in page.get("ResourceTagMappingList", [])
        ]
    except Exception as exc:
        a.notes.append(
            f"the tagging API could not be used ({error_code(exc) or type(exc).__name__}); "
            "listed each service instead"
        )
        return out
    for arn in arns:
        parsed = _from_arn(arn, n)
        if parsed is not None:
            out.append(parsed)
    return out


def _from_arn(arn: str, n: Names) -> tuple[str, ResourceRecord] | None:
    """A tagged resource's ARN as (state key, record), for the kinds ocrkit creates."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return None
    service, resource = parts[2], parts[5]
    if service == "s3" and resource == n.trigger_bucket:  # the user's uploads: deleted only when empty
        return "trigger_bucket", ResourceRecord(trigger.BUCKET_KIND, resource)
    if service == "s3" and "/" not in resource:
        return "bucket", ResourceRecord("s3:bucket", resource)
    if service == "sqs":
        return (
            ("trigger_queue", ResourceRecord(trigger.QUEUE_KIND, resource))
            if resource == n.trigger_queue
            else None
        )
    if service == "sagemaker":
        kind, _, name = resource.partition("/")
        return sagemaker.from_arn(kind, name, n)
    if service == "lambda" and resource.startswith("function:"):
        name = resource.split(":")[1]
        if name == n.trigger_function:
            return "trigger_function", ResourceRecord("lambda:function", name)
        return ("function", ResourceRecord("lambda:function", name)) if name == n.function else None
    if service == "logs" and resource.startswith("log-group:"):
        group = resource[len("log-group:") :].removesuffix(":*")
        if group not in n.log_groups:
            return None
        return f"log_group@{group}", ResourceRecord("logs:log-group", group)
    if service == "apigateway" and resource.startswith("/apis/"):
        api_id = resource.split("/")[2]
        return f"api@{api_id}", ResourceRecord("apigateway:api", api_id)
    return None
