"""IAM: the SageMaker execution role and the Lambda role, each with one inline policy (no managed ones).

Plan, apply, delete (inline and attached policies first), describe and find-by-name for `iam:role`.
"""

from __future__ import annotations

import json
from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.aws import policies
from ocrkit.providers.aws.planning import AwsAccess, AwsPlanContext, describe_or_none, gone, repository

KIND = "iam:role"


def plan_role(
    p: AwsPlanContext, key: str, name: str, service: str, policy: dict[str, Any], words: str
) -> Step:
    iam = p.c("iam")
    trust = policies.trust_policy(service)
    arn = p.n.role_arn(name)
    summary = f"{name}: {words} (inline policy, no managed ones)"
    got = p.describe(iam.get_role, RoleName=name)
    changes: list[str] = []
    if got is not None:
        role = got["Role"]
        arn = role["Arn"]
        if policies.canonical(_doc(role.get("AssumeRolePolicyDocument"))) != policies.canonical(trust):
            changes.append("trust")
        current = p.describe(iam.get_role_policy, RoleName=name, PolicyName=p.n.role_policy)
        if current is None or policies.canonical(_doc(current["PolicyDocument"])) != policies.canonical(
            policy
        ):
            changes.append("policy")
        tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=name).get("Tags", [])}
        if any(tags.get(k) != v for k, v in p.n.tag_map.items()):
            changes.append("tags")
    outputs = {f"{key}_arn": arn}
    rec = ResourceRecord("iam:role", name, {"arn": arn, "policy": p.n.role_policy})
    if got is not None and not changes:
        return p.step(key, "iam:role", "noop", summary, lambda ctx: StepResult(rec, outputs))

    def run(ctx: Context) -> StepResult:
        client = p.c("iam")
        role_arn = arn
        if got is None:
            created = client.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust),
                Description=f"ocrkit deployment {p.n.deployment}: {words}",
                Tags=p.n.tag_list(),
            )
            role_arn = created["Role"]["Arn"]
        else:
            if "trust" in changes:
                client.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
            if "tags" in changes:
                client.tag_role(RoleName=name, Tags=p.n.tag_list())
        if got is None or "policy" in changes:
            client.put_role_policy(
                RoleName=name, PolicyName=p.n.role_policy, PolicyDocument=json.dumps(policy)
            )
        return StepResult(
            ResourceRecord("iam:role", name, {"arn": role_arn, "policy": p.n.role_policy}),
            {f"{key}_arn": role_arn},
        )

    action = "create" if got is None else "update"
    detail = summary if got is None else f"{summary} (change: {', '.join(changes)})"
    if got is None:
        calls = ["iam.CreateRole", "iam.PutRolePolicy"]
    else:
        wanted = {"trust": "iam.UpdateAssumeRolePolicy", "tags": "iam.TagRole", "policy": "iam.PutRolePolicy"}
        calls = [wanted[c] for c in changes]
    return p.step(key, "iam:role", action, detail, run, calls=calls, policy=policy, trust=trust)


def plan_sagemaker_role(p: AwsPlanContext) -> Step:
    return plan_role(
        p,
        "sagemaker_role",
        p.n.sagemaker_role,
        "sagemaker.amazonaws.com",
        p.d.sagemaker_policy,
        f"may read the artifact, pull {repository(p.d.image_uri)}, write the endpoint's logs",
    )


def plan_lambda_role(p: AwsPlanContext) -> Step:
    return plan_role(
        p,
        "lambda_role",
        p.n.lambda_role,
        "lambda.amazonaws.com",
        p.d.lambda_policy,
        f"may invoke {p.n.endpoint} and write the function's logs",
    )


def _doc(value: Any) -> Any:
    if isinstance(value, str):
        from urllib.parse import unquote

        text = value if value.lstrip().startswith("{") else unquote(value)
        return json.loads(text)
    return value


def delete_role(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    iam = a.c("iam")
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=rec.id):
        for policy in page.get("PolicyNames", []):
            iam.delete_role_policy(RoleName=rec.id, PolicyName=policy)
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=rec.id):
        for policy in page.get("AttachedPolicies", []):
            iam.detach_role_policy(RoleName=rec.id, PolicyArn=policy["PolicyArn"])
    iam.delete_role(RoleName=rec.id)


def describe_role(a: AwsAccess, rec: ResourceRecord) -> Described:
    found = describe_or_none(a.c("iam").get_role, RoleName=rec.id) is not None
    return Described("exists" if found else "missing")


def discover(a: AwsAccess) -> Found:
    n, out = a.names, []
    for key, role in (("sagemaker_role", n.sagemaker_role), ("lambda_role", n.lambda_role)):
        try:
            a.c("iam").get_role(RoleName=role)
            out.append((key, ResourceRecord(KIND, role)))
        except Exception as exc:
            if not gone(exc):
                raise
    return out


FAMILY = Family[AwsPlanContext, AwsAccess](
    name="iam",
    models=(
        ResourceModel("sagemaker_role", KIND, ("artifact", "endpoint_log_group")),
        ResourceModel("lambda_role", KIND, ("lambda_log_group",)),
    ),
    plan={"sagemaker_role": plan_sagemaker_role, "lambda_role": plan_lambda_role},
    delete={KIND: delete_role},
    describe={KIND: describe_role},
    discover=discover,
    rank={KIND: 11},
    delete_calls={KIND: ("iam.DeleteRolePolicy", "iam.DetachRolePolicy", "iam.DeleteRole")},
)
