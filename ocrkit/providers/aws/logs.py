"""CloudWatch Logs: the endpoint's, the function's and the API's log groups, tagged, with a retention.

Plan, apply, delete, describe and find-by-name for `logs:log-group`.
"""

from __future__ import annotations

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.aws.names import TAG_KEY
from ocrkit.providers.aws.planning import AwsAccess, AwsPlanContext, owned_by_tags
from ocrkit.providers.aws.session import error_code

KIND = "logs:log-group"


def plan_log_group(p: AwsPlanContext, key: str, name: str, retention: int) -> Step:
    logs = p.c("logs")
    summary = f"{name}, kept {retention} days"
    rec = ResourceRecord("logs:log-group", name, {"retention_days": retention})
    found = None
    for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=name):
        for group in page.get("logGroups", []):
            if group.get("logGroupName") == name:
                found = group
    untagged = found is not None and (
        (logs.list_tags_log_group(logGroupName=name).get("tags") or {}).get(TAG_KEY) != p.n.deployment
    )
    if found is not None and found.get("retentionInDays") == retention and not untagged:
        return p.step(key, "logs:log-group", "noop", summary, lambda ctx: StepResult(rec))

    def run(ctx: Context) -> StepResult:
        client = p.c("logs")
        if found is None:
            try:
                client.create_log_group(logGroupName=name, tags=p.n.tag_map)
            except Exception as exc:
                if error_code(exc) != "ResourceAlreadyExistsException":
                    raise
        elif untagged:
            client.tag_log_group(logGroupName=name, tags=p.n.tag_map)
        client.put_retention_policy(logGroupName=name, retentionInDays=retention)
        return StepResult(rec)

    calls = (["logs.CreateLogGroup"] if found is None else []) + (["logs.TagLogGroup"] if untagged else [])
    calls += ["logs.PutRetentionPolicy"]
    action = "create" if found is None else "update"
    diff: dict[str, list] = {}
    if found is not None and found.get("retentionInDays") != retention:
        old = found.get("retentionInDays")
        diff["retention days"] = [old, retention]
        summary = f"{name}, kept {old or 'forever'} → {retention} days"
    if untagged:
        diff["tags"] = [None, p.n.tag_map]
        summary += " (change: tags)"
    return p.step(key, "logs:log-group", action, summary, run, calls=calls, diff=diff)


def plan_endpoint_log_group(p: AwsPlanContext) -> Step:
    return plan_log_group(
        p, "endpoint_log_group", p.n.endpoint_log_group, p.spec.sagemaker.log_retention_days
    )


def plan_lambda_log_group(p: AwsPlanContext) -> Step:
    return plan_log_group(p, "lambda_log_group", p.n.lambda_log_group, p.spec.lambda_.log_retention_days)


def plan_api_log_group(p: AwsPlanContext) -> Step:
    return plan_log_group(p, "api_log_group", p.n.api_log_group, p.spec.api.access_log_retention_days)


def delete_log_group(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    a.c("logs").delete_log_group(logGroupName=rec.id)


def describe_log_group(a: AwsAccess, rec: ResourceRecord) -> Described:
    groups = a.c("logs").describe_log_groups(logGroupNamePrefix=rec.id).get("logGroups", [])
    match = [g for g in groups if g["logGroupName"] == rec.id]
    return Described(f"kept {match[0].get('retentionInDays', 'forever')} days" if match else "missing")


def owner_log_group(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    logs = a.c("logs")
    return owned_by_tags(a, lambda: logs.list_tags_log_group(logGroupName=rec.id).get("tags"))


def discover(a: AwsAccess) -> Found:
    out: Found = []
    logs = a.c("logs")
    for group in a.names.log_groups:
        for page in logs.get_paginator("describe_log_groups").paginate(logGroupNamePrefix=group):
            for g in page.get("logGroups", []):
                if g.get("logGroupName") == group:
                    out.append((f"log_group@{group}", ResourceRecord(KIND, group)))
    return out


FAMILY = Family[AwsPlanContext, AwsAccess](
    name="logs",
    models=(
        ResourceModel("endpoint_log_group", KIND),
        ResourceModel("lambda_log_group", KIND),
        ResourceModel("api_log_group", KIND),
    ),
    plan={
        "endpoint_log_group": plan_endpoint_log_group,
        "lambda_log_group": plan_lambda_log_group,
        "api_log_group": plan_api_log_group,
    },
    delete={KIND: delete_log_group},
    describe={KIND: describe_log_group},
    discover=discover,
    rank={KIND: 12},
    owner={KIND: owner_log_group},
    delete_calls={KIND: ("logs.DeleteLogGroup",)},
)
