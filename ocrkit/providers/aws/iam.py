"""IAM: the SageMaker execution role and the Lambda role, each with one inline policy (no managed ones).

Plan, apply, delete (inline and attached policies first), describe and find-by-name for `iam:role`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.aws import policies
from ocrkit.providers.aws.planning import (
    AwsAccess,
    AwsPlanContext,
    describe_or_none,
    gone,
    owned_by_tags,
    repository,
    tag_dict,
)

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
        extra, attached = _added_by_hand(p.c("iam"), name, p.n.role_policy)
        if extra or attached:
            changes.append("extra policies")
    else:
        extra, attached = [], []
    outputs = {f"{key}_arn": arn}
    digest = policy_digest(policy)
    rec = ResourceRecord("iam:role", name, {"arn": arn, "policy": p.n.role_policy, "policy_sha": digest})
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
        for other in extra:  # drift: back to ocrkit's one inline policy
            client.delete_role_policy(RoleName=name, PolicyName=other)
        for managed in attached:
            client.detach_role_policy(RoleName=name, PolicyArn=managed)
        return StepResult(
            ResourceRecord(
                "iam:role", name, {"arn": role_arn, "policy": p.n.role_policy, "policy_sha": digest}
            ),
            {f"{key}_arn": role_arn},
        )

    action = "create" if got is None else "update"
    detail = summary if got is None else f"{summary} (change: {', '.join(changes)})"
    if extra or attached:
        hand = [f"inline policy {e}" for e in extra] + [f"managed policy {a}" for a in attached]
        detail += f"; drift: remove what was added by hand ({', '.join(hand)})"
    if got is None:
        calls = ["iam.CreateRole", "iam.PutRolePolicy"]
    else:
        wanted = {"trust": "iam.UpdateAssumeRolePolicy", "tags": "iam.TagRole", "policy": "iam.PutRolePolicy"}
        calls = [wanted[c] for c in changes if c in wanted]
        calls += ["iam.DeleteRolePolicy"] if extra else []
        calls += ["iam.DetachRolePolicy"] if attached else []
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
        (
            f"may read s3://{p.n.bucket}/{p.d.artifact_key} and write the function's logs"
            if p.d.model_function
            else f"may invoke {p.n.endpoint} and write the function's logs"
        ),
    )


def _doc(value: Any) -> Any:
    if isinstance(value, str):
        from urllib.parse import unquote

        text = value if value.lstrip().startswith("{") else unquote(value)
        return json.loads(text)
    return value


def policy_digest(policy: Any) -> str:
    text = json.dumps(policies.canonical(policy), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _added_by_hand(iam: Any, role: str, own: str) -> tuple[list[str], list[str]]:
    """(inline policies other than ocrkit's, attached managed policies): ocrkit's roles hold one inline
    policy and nothing else, so anything more was added by hand."""
    extra = [
        name
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=role)
        for name in page.get("PolicyNames", [])
        if name != own
    ]
    attached = [
        a["PolicyArn"]
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role)
        for a in page.get("AttachedPolicies", [])
    ]
    return extra, attached


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
    """ "exists", or the drift a hand-made change left: policies added, ocrkit's policy rewritten."""
    iam = a.c("iam")
    if describe_or_none(iam.get_role, RoleName=rec.id) is None:
        return Described("missing")
    own = rec.attrs.get("policy") or a.names.role_policy
    extra, attached = _added_by_hand(iam, rec.id, own)
    drift = [f"inline policy {e} added" for e in extra] + [f"managed policy {m} attached" for m in attached]
    current = describe_or_none(iam.get_role_policy, RoleName=rec.id, PolicyName=own)
    if current is None:
        drift.append(f"policy {own} removed")
    elif (
        rec.attrs.get("policy_sha")
        and policy_digest(_doc(current["PolicyDocument"])) != rec.attrs["policy_sha"]
    ):
        drift.append(f"policy {own} changed")
    if drift:
        return Described(f"DRIFT: {'; '.join(drift)} by hand (the next deploy puts it back)", healthy=False)
    return Described("exists")


def owner_role(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    iam = a.c("iam")
    return owned_by_tags(a, lambda: tag_dict(iam.list_role_tags(RoleName=rec.id).get("Tags")))


def discover(a: AwsAccess) -> Found:
    n, out = a.names, []
    roles = (("sagemaker_role", n.sagemaker_role), ("lambda_role", n.lambda_role))
    for key, role in roles + (("trigger_role", n.trigger_role),):
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
    owner={KIND: owner_role},
    delete_calls={KIND: ("iam.DeleteRolePolicy", "iam.DetachRolePolicy", "iam.DeleteRole")},
)
