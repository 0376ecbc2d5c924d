"""The bucket trigger's function (`--trigger s3`): its log group, its least-privilege role, the Lambda
with the deployment's zip and the s3_trigger_entry handler, and its asynchronous-invoke settings
(retries, then the dead-letter queue as the on-failure destination).

Plan, apply, delete and describe for each; part of the trigger family (ocrkit.providers.aws.trigger).
"""

from __future__ import annotations

from typing import Any

from ocrkit.deploy.plan import Context, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described, Found
from ocrkit.providers.aws import iam, logs
from ocrkit.providers.aws.lambda_ import apply_function, function_calls
from ocrkit.providers.aws.package import TRIGGER_HANDLER
from ocrkit.providers.aws.planning import AwsAccess, AwsPlanContext, describe_or_none, gone, mb

ASYNC_KIND = "lambda:event-invoke-config"


def plan_trigger_log_group(p: AwsPlanContext) -> Step:
    t = p.spec.trigger
    return logs.plan_log_group(p, "trigger_log_group", p.n.trigger_log_group, t.log_retention_days)


def plan_trigger_role(p: AwsPlanContext) -> Step:
    rule, n = p.d.trigger, p.n
    assert rule is not None and p.d.trigger_policy is not None
    model = f"read s3://{n.bucket}/{p.d.artifact_key}" if p.d.model_function else f"invoke {n.endpoint}"
    words = (
        f"may read {rule.input_prefix}*, write {rule.output_prefix}* and {rule.error_prefix}* of "
        f"s3://{n.trigger_bucket}, {model}, send to {n.trigger_queue}, write its logs"
    )
    return iam.plan_role(p, "trigger_role", n.trigger_role, "lambda.amazonaws.com", p.d.trigger_policy, words)


# -- the function and its asynchronous-invoke settings -------------------------------------------------


def _function_config(p: AwsPlanContext, role_arn: str) -> dict[str, Any]:
    f, t = p.spec.lambda_, p.spec.trigger
    cfg: dict[str, Any] = {
        "Runtime": f.runtime,
        "Handler": TRIGGER_HANDLER,
        "Role": role_arn,
        "MemorySize": p.d.trigger_memory_mb,
        "Timeout": t.timeout_s,
        "Environment": {"Variables": dict(p.d.trigger_env or {})},
    }
    if f.vpc:
        cfg["VpcConfig"] = {"SubnetIds": f.vpc.subnet_ids, "SecurityGroupIds": f.vpc.security_group_ids}
    return cfg


def _function_changes(p: AwsPlanContext, got: dict[str, Any]) -> list[str]:
    conf = got["Configuration"]
    want = _function_config(p, p.n.role_arn(p.n.trigger_role))
    changes = ["code"] if conf.get("CodeSha256") != p.d.code_sha256 else []
    changes += [k for k in ("Runtime", "Handler", "MemorySize", "Timeout", "Role") if conf.get(k) != want[k]]
    if ((conf.get("Environment") or {}).get("Variables") or {}) != want["Environment"]["Variables"]:
        changes.append("Environment")
    if any((got.get("Tags") or {}).get(k) != v for k, v in p.n.tag_map.items()):
        changes.append("tags")
    reserved = (got.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    if reserved != p.spec.trigger.reserved_concurrency:
        changes.append("reserved concurrency")
    return changes


def plan_trigger_function(p: AwsPlanContext) -> Step:
    lam, n, t = p.c("lambda"), p.n, p.spec.trigger
    backend = "the ONNX engine in the function" if p.d.model_function else f"endpoint {n.endpoint}"
    summary = (
        f"{n.trigger_function}: runs {backend} on each new image, {p.spec.lambda_.runtime}, "
        f"{p.d.trigger_memory_mb} MB, {t.timeout_s} s, zip {mb(p.d.function_zip.size)} (the deployment's)"
    )
    got = p.describe(lam.get_function, FunctionName=n.trigger_function)
    changes = _function_changes(p, got) if got is not None else []
    rec = ResourceRecord("lambda:function", n.trigger_function, {"code_sha256": p.d.code_sha256})
    outputs = {"trigger_function_arn": n.trigger_function_arn}
    if got is not None and not changes:
        return p.step(
            "trigger_function", "lambda:function", "noop", summary, lambda ctx: StepResult(rec, outputs)
        )

    def run(ctx: Context) -> StepResult:
        cfg = _function_config(p, ctx.get("trigger_role_arn"))
        apply_function(
            p,
            got=got,
            changes=changes,
            name=n.trigger_function,
            arn=n.trigger_function_arn,
            description=f"ocrkit {n.deployment}: OCR of each image uploaded to s3://{n.trigger_bucket}",
            create_cfg=cfg,
            update_cfg=cfg,
            reserved=t.reserved_concurrency,
            what="the trigger function",
        )
        return StepResult(rec, outputs)

    action = "create" if got is None else "update"
    calls = function_calls(got is None, changes, t.reserved_concurrency)
    if got is not None:
        summary += f" (change: {', '.join(changes)})"
    return p.step(
        "trigger_function",
        "lambda:function",
        action,
        summary,
        run,
        calls=calls,
        handler=TRIGGER_HANDLER,
        environment=p.d.trigger_env,
    )


def discover_function(a: AwsAccess) -> Found:
    try:
        a.c("lambda").get_function(FunctionName=a.names.trigger_function)
        return [("trigger_function", ResourceRecord("lambda:function", a.names.trigger_function))]
    except Exception as exc:
        if not gone(exc):
            raise
    return []


def _async_wanted(p: AwsPlanContext) -> dict[str, Any]:
    t = p.spec.trigger
    return {
        "MaximumRetryAttempts": t.max_retry_attempts,
        "MaximumEventAgeInSeconds": t.max_event_age_s,
        "DestinationConfig": {"OnFailure": {"Destination": p.n.trigger_queue_arn}},
    }


def plan_trigger_async(p: AwsPlanContext) -> Step:
    n, want = p.n, _async_wanted(p)
    summary = (
        f"{n.trigger_function}: {want['MaximumRetryAttempts']} retries, events kept "
        f"{want['MaximumEventAgeInSeconds']} s, then on failure to SQS {n.trigger_queue}"
    )
    got = None
    if not p.creating("trigger_function"):
        got = p.describe(p.c("lambda").get_function_event_invoke_config, FunctionName=n.trigger_function)
    rec = ResourceRecord(ASYNC_KIND, n.trigger_function, {"retries": want["MaximumRetryAttempts"]})
    if got is not None and _async_equal(got, want):
        return p.step("trigger_async", ASYNC_KIND, "noop", summary, lambda ctx: StepResult(rec))

    def run(ctx: Context) -> StepResult:
        p.retry_iam(
            lambda: p.c("lambda").put_function_event_invoke_config(FunctionName=n.trigger_function, **want),
            "set the trigger's retries and dead-letter queue",
        )
        return StepResult(rec)

    action = "create" if got is None else "update"
    calls = ["lambda.PutFunctionEventInvokeConfig"]
    return p.step("trigger_async", ASYNC_KIND, action, summary, run, calls=calls, settings=want)


def _async_equal(got: dict[str, Any], want: dict[str, Any]) -> bool:
    on_failure = ((got.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    return (
        got.get("MaximumRetryAttempts") == want["MaximumRetryAttempts"]
        and got.get("MaximumEventAgeInSeconds") == want["MaximumEventAgeInSeconds"]
        and on_failure == want["DestinationConfig"]["OnFailure"]["Destination"]
    )


def delete_trigger_async(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    a.c("lambda").delete_function_event_invoke_config(FunctionName=rec.id)


def describe_trigger_async(a: AwsAccess, rec: ResourceRecord) -> Described:
    got = describe_or_none(a.c("lambda").get_function_event_invoke_config, FunctionName=rec.id)
    if got is None:
        return Described("missing", healthy=False)
    dest = ((got.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination", "none")
    return Described(f"{got.get('MaximumRetryAttempts')} retries, on failure -> {dest.split(':')[-1]}")
