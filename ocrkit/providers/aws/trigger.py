"""The bucket-triggered pipeline (`--trigger s3`): the input bucket, the dead-letter queue, the trigger
Lambda with its asynchronous-invoke settings, the permission that lets S3 invoke it, and the bucket's
notification configuration.

    trigger_bucket                      private, SSE-S3, public access blocked, tagged; kept at teardown
                                        while it holds objects (the uploads and their results are the user's)
    trigger_queue                       SQS, SSE-SQS, tagged: where a failed image's event ends up
    trigger_log_group, trigger_role     the function's logs; least privilege (policies.trigger_role_policy)
    trigger_function -> trigger_async   the deployment's zip with the s3_trigger_entry handler; retries
                                        (max_retry_attempts), then the on-failure destination = the queue
    trigger_permission                  s3.amazonaws.com may invoke it, for this bucket and account only
    trigger_notification                one LambdaFunctionConfiguration per suffix (prefix + suffix filter),
                                        s3:ObjectCreated:*; other configurations on the bucket are kept

Plan, apply, delete, describe and find-by-name for each; the same planner/executor as every family.
"""

from __future__ import annotations

import json
from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.aws import iam, logs
from ocrkit.providers.aws.package import TRIGGER_HANDLER
from ocrkit.providers.aws.planning import (
    AwsAccess,
    AwsPlanContext,
    describe_or_none,
    gone,
    mb,
    owned_by_tags,
    tag_dict,
)
from ocrkit.providers.aws.s3 import bucket_exists, create_bucket
from ocrkit.providers.aws.session import error_code

BUCKET_KIND = "s3:input-bucket"
QUEUE_KIND = "sqs:queue"
ASYNC_KIND = "lambda:event-invoke-config"
PERMISSION_KIND = "lambda:s3-permission"
NOTIFICATION_KIND = "s3:notification"
EVENTS = ["s3:ObjectCreated:*"]
QUEUE_MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
NOTIFICATION_LISTS = (
    "TopicConfigurations",
    "QueueConfigurations",
    "LambdaFunctionConfigurations",
    "EventBridgeConfiguration",
)


# -- the input bucket ---------------------------------------------------------------------------------


PUBLIC_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def _bucket_drift(p: AwsPlanContext, s3: Any) -> list[str]:
    name, drift = p.n.trigger_bucket, []
    pab = p.describe(s3.get_public_access_block, Bucket=name)
    if not all(((pab or {}).get("PublicAccessBlockConfiguration") or {}).get(k) for k in PUBLIC_BLOCK):
        drift.append("public access block")
    enc = p.describe(s3.get_bucket_encryption, Bucket=name)
    rules = ((enc or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    if not rules or not (rules[0].get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm"):
        drift.append("encryption")
    tags = tag_dict((p.describe(s3.get_bucket_tagging, Bucket=name) or {}).get("TagSet"))
    if any(tags.get(k) != v for k, v in p.n.tag_map.items()):
        drift.append("tags")
    return drift


def plan_trigger_bucket(p: AwsPlanContext) -> Step:
    s3, n = p.c("s3"), p.n
    summary = f"s3://{n.trigger_bucket}: the input bucket (uploads, results, errors); private, SSE-S3, tagged"
    exists = bucket_exists(s3, n.trigger_bucket)
    drift = _bucket_drift(p, s3) if exists else []
    rec = ResourceRecord(BUCKET_KIND, n.trigger_bucket, {"region": n.region})
    outputs = {"trigger_bucket": n.trigger_bucket}
    if exists and not drift:
        return p.step("trigger_bucket", BUCKET_KIND, "noop", summary, lambda ctx: StepResult(rec, outputs))

    def run(ctx: Context) -> StepResult:
        client = p.c("s3")
        if not exists:
            create_bucket(client, n.trigger_bucket, n.region)
        client.put_public_access_block(Bucket=n.trigger_bucket, PublicAccessBlockConfiguration=PUBLIC_BLOCK)
        client.put_bucket_encryption(Bucket=n.trigger_bucket, ServerSideEncryptionConfiguration=SSE_S3)
        client.put_bucket_tagging(Bucket=n.trigger_bucket, Tagging={"TagSet": n.tag_list()})
        return StepResult(rec, outputs)

    calls = (["s3.CreateBucket"] if not exists else []) + [
        "s3.PutPublicAccessBlock",
        "s3.PutBucketEncryption",
        "s3.PutBucketTagging",
    ]
    detail = summary if not exists else f"{summary} (fix: {', '.join(drift)})"
    action = "create" if not exists else "update"
    return p.step("trigger_bucket", BUCKET_KIND, action, detail, run, calls=calls, name=n.trigger_bucket)


def bucket_is_empty(a: AwsAccess, name: str) -> bool:
    page = a.c("s3").list_object_versions(Bucket=name, MaxKeys=1)
    return not (page.get("Versions") or page.get("DeleteMarkers"))


def kept_words(name: str) -> str:
    return (
        f"kept s3://{name}: it still holds objects (the uploads and their results are yours); to delete "
        f"it, empty it (aws s3 rm s3://{name} --recursive) and run the teardown again"
    )


def delete_trigger_bucket(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    """Deleted only when empty: ocrkit never deletes the user's uploads or their results."""
    if not bucket_is_empty(a, rec.id):
        events.info(kept_words(rec.id))
        return
    a.c("s3").delete_bucket(Bucket=rec.id)


def counted(a: AwsAccess, rec: ResourceRecord) -> bool:
    """Whether teardown really deletes `rec` (False: an input bucket still holding objects, kept)."""
    if rec.kind != BUCKET_KIND:
        return True
    try:
        return bucket_is_empty(a, rec.id)
    except Exception as exc:
        if gone(exc):
            return True
        raise


def describe_trigger_bucket(a: AwsAccess, rec: ResourceRecord) -> Described:
    s3 = a.c("s3")
    if describe_or_none(s3.head_bucket, Bucket=rec.id) is None:
        return Described("missing", healthy=False)
    listing = s3.list_objects_v2(Bucket=rec.id, MaxKeys=1000)
    count = listing.get("KeyCount", 0)
    more = "+" if listing.get("IsTruncated") else ""
    return Described(f"exists, {count}{more} object(s)")


def owner_trigger_bucket(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    s3 = a.c("s3")
    return owned_by_tags(a, lambda: tag_dict(s3.get_bucket_tagging(Bucket=rec.id).get("TagSet")))


# -- the dead-letter queue ----------------------------------------------------------------------------


def _queue_url(sqs: Any, name: str) -> str | None:
    try:
        return sqs.get_queue_url(QueueName=name)["QueueUrl"]
    except Exception as exc:
        if error_code(exc) in QUEUE_MISSING or gone(exc):
            return None
        raise


def _queue_attributes(p: AwsPlanContext) -> dict[str, str]:
    return {
        "SqsManagedSseEnabled": "true",
        "MessageRetentionPeriod": str(p.spec.trigger.dlq_retention_days * 86400),
    }


def plan_trigger_queue(p: AwsPlanContext) -> Step:
    sqs, n = p.c("sqs"), p.n
    want = _queue_attributes(p)
    summary = (
        f"{n.trigger_queue}: SQS dead-letter queue for failed images, SSE-SQS, messages kept "
        f"{p.spec.trigger.dlq_retention_days} days, tagged"
    )
    url = _queue_url(sqs, n.trigger_queue)
    changes: list[str] = []
    if url is not None:
        have = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"]).get("Attributes", {})
        changes += [k for k, v in want.items() if have.get(k) != v]
        tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
        if any(tags.get(k) != v for k, v in n.tag_map.items()):
            changes.append("tags")
    outputs = {"trigger_queue_arn": n.trigger_queue_arn}

    def record(queue_url: str) -> ResourceRecord:
        return ResourceRecord(QUEUE_KIND, n.trigger_queue, {"url": queue_url, "arn": n.trigger_queue_arn})

    if url is not None and not changes:
        rec = record(url)
        return p.step("trigger_queue", QUEUE_KIND, "noop", summary, lambda ctx: StepResult(rec, outputs))

    def run(ctx: Context) -> StepResult:
        client = p.c("sqs")
        queue_url = url
        if queue_url is None:
            queue_url = client.create_queue(QueueName=n.trigger_queue, Attributes=want, tags=n.tag_map)[
                "QueueUrl"
            ]
        else:
            if set(changes) - {"tags"}:
                client.set_queue_attributes(QueueUrl=queue_url, Attributes=want)
            if "tags" in changes:
                client.tag_queue(QueueUrl=queue_url, Tags=n.tag_map)
        return StepResult(record(queue_url), outputs)

    if url is None:
        action, calls = "create", ["sqs.CreateQueue"]
    else:
        action = "update"
        calls = (["sqs.SetQueueAttributes"] if set(changes) - {"tags"} else []) + (
            ["sqs.TagQueue"] if "tags" in changes else []
        )
        summary += f" (change: {', '.join(changes)})"
    return p.step("trigger_queue", QUEUE_KIND, action, summary, run, calls=calls, attributes=want)


def delete_trigger_queue(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    sqs = a.c("sqs")
    url = _queue_url(sqs, rec.id)
    if url is not None:
        sqs.delete_queue(QueueUrl=url)


def describe_trigger_queue(a: AwsAccess, rec: ResourceRecord) -> Described:
    sqs = a.c("sqs")
    url = _queue_url(sqs, rec.id)
    if url is None:
        return Described("missing", healthy=False)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    waiting = int(attrs.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
    return Described(f"{waiting} failed image event(s) waiting", healthy=waiting == 0)


def owner_trigger_queue(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    sqs = a.c("sqs")

    def read() -> dict[str, str] | None:
        url = _queue_url(sqs, rec.id)
        if url is None:
            raise _Missing()
        return sqs.list_queue_tags(QueueUrl=url).get("Tags")

    try:
        return owned_by_tags(a, read)
    except _Missing:
        return None


class _Missing(Exception):
    pass


# -- logs and role ------------------------------------------------------------------------------------


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


def _wait(p: AwsPlanContext, client: Any, waiter: str) -> None:
    client.get_waiter(waiter).wait(
        FunctionName=p.n.trigger_function,
        WaiterConfig={"Delay": p.options.lambda_poll_s, "MaxAttempts": 150},
    )


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
        client = p.c("lambda")
        zipped = p.d.function_zip.path.read_bytes()
        cfg = _function_config(p, ctx.get("trigger_role_arn"))
        if got is None:
            p.retry_iam(
                lambda: client.create_function(
                    FunctionName=n.trigger_function,
                    Code={"ZipFile": zipped},
                    Description=f"ocrkit {n.deployment}: OCR of each image uploaded to s3://{n.trigger_bucket}",
                    Architectures=[p.spec.lambda_.architecture],
                    Tags=n.tag_map,
                    Publish=False,
                    **cfg,
                ),
                "create the trigger function",
            )
            _wait(p, client, "function_active_v2")
        else:
            if "code" in changes:
                client.update_function_code(
                    FunctionName=n.trigger_function,
                    ZipFile=zipped,
                    Architectures=[p.spec.lambda_.architecture],
                    Publish=False,
                )
                _wait(p, client, "function_updated_v2")
            if set(changes) & {"Runtime", "Handler", "MemorySize", "Timeout", "Role", "Environment"}:
                p.retry_iam(
                    lambda: client.update_function_configuration(FunctionName=n.trigger_function, **cfg),
                    "update the trigger function",
                )
                _wait(p, client, "function_updated_v2")
            if "tags" in changes:
                client.tag_resource(Resource=n.trigger_function_arn, Tags=n.tag_map)
        if got is None or "reserved concurrency" in changes:
            if t.reserved_concurrency is not None:
                client.put_function_concurrency(
                    FunctionName=n.trigger_function, ReservedConcurrentExecutions=t.reserved_concurrency
                )
            elif got is not None:
                client.delete_function_concurrency(FunctionName=n.trigger_function)
        return StepResult(rec, outputs)

    if got is None:
        action = "create"
        calls = ["lambda.CreateFunction"] + (
            ["lambda.PutFunctionConcurrency"] if t.reserved_concurrency is not None else []
        )
    else:
        action = "update"
        calls = ["lambda.UpdateFunctionCode"] if "code" in changes else []
        if set(changes) & {"Runtime", "Handler", "MemorySize", "Timeout", "Role", "Environment"}:
            calls.append("lambda.UpdateFunctionConfiguration")
        calls += ["lambda.TagResource"] if "tags" in changes else []
        if "reserved concurrency" in changes:
            calls.append(
                "lambda.PutFunctionConcurrency"
                if t.reserved_concurrency is not None
                else "lambda.DeleteFunctionConcurrency"
            )
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


# -- the permission for S3 ----------------------------------------------------------------------------


def _statement_matches(statement: dict[str, Any], p: AwsPlanContext) -> bool:
    condition = statement.get("Condition") or {}
    source_arn = next(
        (
            v
            for op in ("ArnLike", "ArnEquals")
            for k, v in (condition.get(op) or {}).items()
            if k.lower() == "aws:sourcearn"
        ),
        None,
    )
    account = next(
        (v for k, v in (condition.get("StringEquals") or {}).items() if k.lower() == "aws:sourceaccount"),
        None,
    )
    principal = statement.get("Principal") or {}
    service = principal.get("Service") if isinstance(principal, dict) else principal
    return service == "s3.amazonaws.com" and source_arn == p.n.trigger_bucket_arn and account == p.n.account


def plan_trigger_permission(p: AwsPlanContext) -> Step:
    n = p.n
    sid = n.trigger_permission_sid
    summary = f"S3 may invoke {n.trigger_function}, for s3://{n.trigger_bucket} in account {n.account} only"
    rec = ResourceRecord(PERMISSION_KIND, sid, {"function": n.trigger_function})
    current = None
    if not p.creating("trigger_function"):
        got = p.describe(p.c("lambda").get_policy, FunctionName=n.trigger_function)
        if got is not None:
            doc = json.loads(got["Policy"])
            current = next((s for s in doc.get("Statement", []) if s.get("Sid") == sid), None)
    if current is not None and _statement_matches(current, p):
        return p.step("trigger_permission", PERMISSION_KIND, "noop", summary, lambda ctx: StepResult(rec))

    def run(ctx: Context) -> StepResult:
        client = p.c("lambda")
        if current is not None:
            client.remove_permission(FunctionName=n.trigger_function, StatementId=sid)
        client.add_permission(
            FunctionName=n.trigger_function,
            StatementId=sid,
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn=n.trigger_bucket_arn,
            SourceAccount=n.account,
        )
        return StepResult(rec)

    action = "create" if current is None else "update"
    calls = ([] if current is None else ["lambda.RemovePermission"]) + ["lambda.AddPermission"]
    return p.step("trigger_permission", PERMISSION_KIND, action, summary, run, calls=calls)


def delete_trigger_permission(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    function = rec.attrs.get("function", a.names.trigger_function)
    a.c("lambda").remove_permission(FunctionName=function, StatementId=rec.id)


# -- the notification configuration ------------------------------------------------------------------


def wanted_notifications(p: AwsPlanContext) -> list[dict[str, Any]]:
    """One configuration per suffix (S3 takes one prefix and one suffix rule per configuration, names
    `prefix` | `suffix` as in the API reference; its suffix
    match is case-sensitive, so an upper-case twin is added: IMG.PNG runs too). Ids carry ocrkit's prefix."""
    rule, n = p.d.trigger, p.n
    assert rule is not None
    suffixes: list[str] = []
    for s in rule.suffixes:
        for v in (s, s.upper()):
            if v not in suffixes:
                suffixes.append(v)
    return [
        {
            "Id": f"{n.notification_id_prefix}{s}",
            "LambdaFunctionArn": n.trigger_function_arn,
            "Events": list(EVENTS),
            "Filter": {
                "Key": {
                    "FilterRules": [
                        {"Name": "prefix", "Value": rule.input_prefix},
                        {"Name": "suffix", "Value": s},
                    ]
                }
            },
        }
        for s in suffixes
    ]


def _canonical(config: dict[str, Any]) -> tuple:
    rules = ((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []
    return (
        config.get("Id"),
        config.get("LambdaFunctionArn"),
        tuple(sorted(config.get("Events") or [])),
        tuple(sorted((r["Name"].lower(), r["Value"]) for r in rules)),
    )


def _current(s3: Any, bucket: str) -> dict[str, Any]:
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    return {k: got[k] for k in NOTIFICATION_LISTS if k in got}


def _split(current: dict[str, Any], prefix: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """(ocrkit's Lambda configurations, the rest of the bucket's configuration, as it is)."""
    lambdas = current.get("LambdaFunctionConfigurations") or []
    ours = [c for c in lambdas if str(c.get("Id", "")).startswith(prefix)]
    rest = dict(current)
    others = [c for c in lambdas if not str(c.get("Id", "")).startswith(prefix)]
    rest.pop("LambdaFunctionConfigurations", None)
    if others:
        rest["LambdaFunctionConfigurations"] = others
    return ours, rest


def plan_trigger_notification(p: AwsPlanContext) -> Step:
    n, rule = p.n, p.d.trigger
    assert rule is not None
    want = wanted_notifications(p)
    suffixes = ", ".join(str(c["Filter"]["Key"]["FilterRules"][1]["Value"]) for c in want)
    summary = (
        f"s3://{n.trigger_bucket}/{rule.input_prefix}* ({suffixes}) -> {n.trigger_function}, "
        f"s3:ObjectCreated:*; results to {rule.output_prefix}, errors to {rule.error_prefix} "
        "(outside the filter: never retrigger)"
    )
    ids = [c["Id"] for c in want]
    rec = ResourceRecord(NOTIFICATION_KIND, n.trigger_bucket, {"ids": ids})
    ours: list[dict[str, Any]] = []
    if not p.creating("trigger_bucket"):
        ours, _ = _split(_current(p.c("s3"), n.trigger_bucket), n.notification_id_prefix)
    if sorted(map(_canonical, ours)) == sorted(map(_canonical, want)):
        return p.step("trigger_notification", NOTIFICATION_KIND, "noop", summary, lambda ctx: StepResult(rec))

    def run(ctx: Context) -> StepResult:
        s3 = p.c("s3")
        _, rest = _split(_current(s3, n.trigger_bucket), n.notification_id_prefix)
        config = dict(rest)
        config["LambdaFunctionConfigurations"] = list(rest.get("LambdaFunctionConfigurations") or []) + want
        s3.put_bucket_notification_configuration(Bucket=n.trigger_bucket, NotificationConfiguration=config)
        return StepResult(rec)

    action = "create" if not ours else "update"
    calls = ["s3.PutBucketNotificationConfiguration"]
    return p.step(
        "trigger_notification", NOTIFICATION_KIND, action, summary, run, calls=calls, configurations=want
    )


def delete_trigger_notification(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    """Removes ocrkit's configurations only; anything else on the bucket stays."""
    s3 = a.c("s3")
    ours, rest = _split(_current(s3, rec.id), a.names.notification_id_prefix)
    if ours:
        s3.put_bucket_notification_configuration(Bucket=rec.id, NotificationConfiguration=rest)


def describe_trigger_notification(a: AwsAccess, rec: ResourceRecord) -> Described:
    try:
        ours, _ = _split(_current(a.c("s3"), rec.id), a.names.notification_id_prefix)
    except Exception as exc:
        if gone(exc):
            return Described("missing", healthy=False)
        raise
    return Described(f"{len(ours)} rule(s)" if ours else "missing", healthy=bool(ours))


def discover(a: AwsAccess) -> Found:
    """The trigger's resources by their fixed names (the tagging API does not list every kind)."""
    n, out = a.names, []
    if bucket_exists(a.c("s3"), n.trigger_bucket):
        out.append(("trigger_bucket", ResourceRecord(BUCKET_KIND, n.trigger_bucket)))
        ours, _ = _split(_current(a.c("s3"), n.trigger_bucket), n.notification_id_prefix)
        if ours:
            ids = [c.get("Id") for c in ours]
            out.append(
                ("trigger_notification", ResourceRecord(NOTIFICATION_KIND, n.trigger_bucket, {"ids": ids}))
            )
    url = _queue_url(a.c("sqs"), n.trigger_queue)
    if url is not None:
        out.append(("trigger_queue", ResourceRecord(QUEUE_KIND, n.trigger_queue, {"url": url})))
    found = discover_function(a)
    if found:
        out += found
        lam = a.c("lambda")
        if describe_or_none(lam.get_function_event_invoke_config, FunctionName=n.trigger_function):
            out.append(("trigger_async", ResourceRecord(ASYNC_KIND, n.trigger_function)))
        got = describe_or_none(lam.get_policy, FunctionName=n.trigger_function)
        sids = [s.get("Sid") for s in json.loads(got["Policy"]).get("Statement", [])] if got else []
        if n.trigger_permission_sid in sids:
            rec = ResourceRecord(PERMISSION_KIND, n.trigger_permission_sid, {"function": n.trigger_function})
            out.append(("trigger_permission", rec))
    return out


FAMILY = Family[AwsPlanContext, AwsAccess](
    name="trigger",
    models=(
        ResourceModel("trigger_bucket", BUCKET_KIND),
        ResourceModel("trigger_queue", QUEUE_KIND),
        ResourceModel("trigger_log_group", logs.KIND),
        ResourceModel("trigger_role", iam.KIND, ("trigger_log_group", "trigger_queue", "trigger_bucket")),
        ResourceModel("trigger_function", "lambda:function", ("trigger_role", "artifact", "endpoint")),
        ResourceModel("trigger_async", ASYNC_KIND, ("trigger_function", "trigger_queue")),
        ResourceModel("trigger_permission", PERMISSION_KIND, ("trigger_function", "trigger_bucket")),
        ResourceModel("trigger_notification", NOTIFICATION_KIND, ("trigger_permission", "trigger_async")),
    ),
    plan={
        "trigger_bucket": plan_trigger_bucket,
        "trigger_queue": plan_trigger_queue,
        "trigger_log_group": plan_trigger_log_group,
        "trigger_role": plan_trigger_role,
        "trigger_function": plan_trigger_function,
        "trigger_async": plan_trigger_async,
        "trigger_permission": plan_trigger_permission,
        "trigger_notification": plan_trigger_notification,
    },
    delete={
        NOTIFICATION_KIND: delete_trigger_notification,
        PERMISSION_KIND: delete_trigger_permission,
        ASYNC_KIND: delete_trigger_async,
        QUEUE_KIND: delete_trigger_queue,
        BUCKET_KIND: delete_trigger_bucket,
    },
    describe={
        BUCKET_KIND: describe_trigger_bucket,
        QUEUE_KIND: describe_trigger_queue,
        ASYNC_KIND: describe_trigger_async,
        PERMISSION_KIND: lambda a, rec: Described("granted to S3 for the input bucket"),
        NOTIFICATION_KIND: describe_trigger_notification,
    },
    discover=discover,
    # the notification first (no new events), then the permission and retries, the function (lambda's
    # rank), the queue after the function, the bucket last of all (kept while it holds objects)
    rank={NOTIFICATION_KIND: 0, PERMISSION_KIND: 1, ASYNC_KIND: 2, QUEUE_KIND: 10, BUCKET_KIND: 16},
    owner={BUCKET_KIND: owner_trigger_bucket, QUEUE_KIND: owner_trigger_queue},
    delete_calls={
        NOTIFICATION_KIND: ("s3.PutBucketNotificationConfiguration",),
        PERMISSION_KIND: ("lambda.RemovePermission",),
        ASYNC_KIND: ("lambda.DeleteFunctionEventInvokeConfig",),
        QUEUE_KIND: ("sqs.DeleteQueue",),
        BUCKET_KIND: ("s3.DeleteBucket",),
    },
)
