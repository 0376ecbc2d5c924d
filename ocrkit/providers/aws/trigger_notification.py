"""How S3 reaches the bucket trigger's function (`--trigger s3`): the permission that lets S3 invoke it
(for this bucket and account only) and the bucket's notification configuration (one
LambdaFunctionConfiguration per suffix, prefix + suffix filter, s3:ObjectCreated:*; other
configurations on the bucket are kept, on apply and on teardown).

Plan, apply, delete and describe for each; part of the trigger family (ocrkit.providers.aws.trigger).
"""

from __future__ import annotations

import json
from typing import Any

from ocrkit.deploy.plan import Context, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described
from ocrkit.providers.aws.planning import AwsAccess, AwsPlanContext, gone

PERMISSION_KIND = "lambda:s3-permission"
NOTIFICATION_KIND = "s3:notification"
EVENTS = ["s3:ObjectCreated:*"]
NOTIFICATION_LISTS = (
    "TopicConfigurations",
    "QueueConfigurations",
    "LambdaFunctionConfigurations",
    "EventBridgeConfiguration",
)


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


def current_configuration(s3: Any, bucket: str) -> dict[str, Any]:
    got = s3.get_bucket_notification_configuration(Bucket=bucket)
    return {k: got[k] for k in NOTIFICATION_LISTS if k in got}


def split_ours(current: dict[str, Any], prefix: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
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
        ours, _ = split_ours(current_configuration(p.c("s3"), n.trigger_bucket), n.notification_id_prefix)
    if sorted(map(_canonical, ours)) == sorted(map(_canonical, want)):
        return p.step("trigger_notification", NOTIFICATION_KIND, "noop", summary, lambda ctx: StepResult(rec))

    def run(ctx: Context) -> StepResult:
        s3 = p.c("s3")
        _, rest = split_ours(current_configuration(s3, n.trigger_bucket), n.notification_id_prefix)
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
    ours, rest = split_ours(current_configuration(s3, rec.id), a.names.notification_id_prefix)
    if ours:
        s3.put_bucket_notification_configuration(Bucket=rec.id, NotificationConfiguration=rest)


def describe_trigger_notification(a: AwsAccess, rec: ResourceRecord) -> Described:
    try:
        ours, _ = split_ours(current_configuration(a.c("s3"), rec.id), a.names.notification_id_prefix)
    except Exception as exc:
        if gone(exc):
            return Described("missing", healthy=False)
        raise
    return Described(f"{len(ours)} rule(s)" if ours else "missing", healthy=bool(ours))
