"""Lambda: the gateway function (the zip built from ocrkit.runtime), its `live` alias with optional
provisioned concurrency, and the permission that lets this API (POST /predict only) invoke it.

Plan, apply, delete, describe and find-by-name for `lambda:function`, `lambda:alias` and
`lambda:permission`.
"""

from __future__ import annotations

import json
from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.aws.names import ALIAS
from ocrkit.providers.aws.planning import (
    AwsAccess,
    AwsPlanContext,
    describe_or_none,
    gone,
    mb,
    owned_by_tags,
)


def _function_config(p: AwsPlanContext) -> dict[str, Any]:
    f = p.spec.lambda_
    cfg: dict[str, Any] = {
        "Runtime": f.runtime,
        "Handler": p.d.handler,
        "Role": p.n.role_arn(p.n.lambda_role),
        "MemorySize": p.d.memory_mb,
        "Timeout": f.timeout_s,
        "Environment": {"Variables": p.d.gateway_env},
    }
    cfg["VpcConfig"] = (
        {"SubnetIds": f.vpc.subnet_ids, "SecurityGroupIds": f.vpc.security_group_ids}
        if f.vpc
        else {"SubnetIds": [], "SecurityGroupIds": []}
    )
    return cfg


def _config_changes(p: AwsPlanContext, have: dict[str, Any]) -> list[str]:
    want = _function_config(p)
    changes = [k for k in ("Runtime", "Handler", "MemorySize", "Timeout") if have.get(k) != want[k]]
    if have.get("Role") != want["Role"]:
        changes.append("Role")
    if ((have.get("Environment") or {}).get("Variables") or {}) != want["Environment"]["Variables"]:
        changes.append("Environment")
    vpc = have.get("VpcConfig") or {}
    if sorted(vpc.get("SubnetIds") or []) != sorted(want["VpcConfig"]["SubnetIds"]) or sorted(
        vpc.get("SecurityGroupIds") or []
    ) != sorted(want["VpcConfig"]["SecurityGroupIds"]):
        changes.append("VpcConfig")
    return changes


def plan_function(p: AwsPlanContext) -> Step:
    lam = p.c("lambda")
    n, f = p.n, p.spec.lambda_
    reserved = "none" if f.reserved_concurrency is None else str(f.reserved_concurrency)
    summary = (
        f"{n.function}: {p.d.function_words}, {f.runtime} {f.architecture}, {p.d.memory_mb} MB, "
        f"{f.timeout_s} s, reserved concurrency {reserved}, "
        f"zip {mb(p.d.function_zip.size)}"
    )
    got = p.describe(lam.get_function, FunctionName=n.function)
    changes: list[str] = []
    if got is not None:
        conf = got["Configuration"]
        if conf.get("CodeSha256") != p.d.code_sha256:
            changes.append("code")
        changes += _config_changes(p, conf)
        if any((got.get("Tags") or {}).get(k) != v for k, v in n.tag_map.items()):
            changes.append("tags")
        have_reserved = (got.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
        if have_reserved != f.reserved_concurrency:
            changes.append("reserved concurrency")
    outputs = {"function_arn": n.function_arn}
    rec = ResourceRecord("lambda:function", n.function, {"code_sha256": p.d.code_sha256})
    if got is not None and not changes:
        return p.step(
            "function",
            "lambda:function",
            "noop",
            summary,
            lambda ctx: StepResult(rec, outputs),
        )

    def run(ctx: Context) -> StepResult:
        cfg = _function_config(p)
        cfg["Role"] = ctx.get("lambda_role_arn")
        create_cfg = dict(cfg)
        if not f.vpc:
            create_cfg.pop("VpcConfig")
        apply_function(
            p,
            got=got,
            changes=changes,
            name=n.function,
            arn=n.function_arn,
            description=(
                "ocrkit model function: the gateway and the ONNX engine"
                if p.d.model_function
                else f"ocrkit gateway for SageMaker endpoint {n.endpoint}"
            ),
            create_cfg=create_cfg,
            update_cfg=cfg,
            reserved=f.reserved_concurrency,
            what="the function",
        )
        return StepResult(rec, outputs)

    action = "create" if got is None else "update"
    diff = {} if got is None else _diff(p, got)
    shown = [_arrow(c, diff[c]) if c in diff else c for c in changes]
    detail = summary if got is None else f"{summary} (change: {', '.join(shown)})"
    return p.step(
        "function",
        "lambda:function",
        action,
        detail,
        run,
        calls=function_calls(got is None, changes, f.reserved_concurrency),
        environment=p.d.gateway_env,
        changes=changes,
        diff=diff,
    )


def _diff(p: AwsPlanContext, got: dict[str, Any]) -> dict[str, list[Any]]:
    """What an update changes, as {setting: [old, new]} (the plan shows old -> new)."""
    have, want = got["Configuration"], _function_config(p)
    out: dict[str, list[Any]] = {
        k: [have.get(k), want[k]]
        for k in ("Runtime", "Handler", "MemorySize", "Timeout", "Role")
        if have.get(k) != want[k]
    }
    if have.get("CodeSha256") != p.d.code_sha256:
        out["code"] = [str(have.get("CodeSha256"))[:12], p.d.code_sha256[:12]]
    old_env = (have.get("Environment") or {}).get("Variables") or {}
    new_env = want["Environment"]["Variables"]
    for var in sorted(set(old_env) | set(new_env)):
        if old_env.get(var) != new_env.get(var):
            out[f"Environment.{var}"] = [old_env.get(var), new_env.get(var)]
    have_reserved = (got.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    if have_reserved != p.spec.lambda_.reserved_concurrency:
        out["reserved concurrency"] = [have_reserved, p.spec.lambda_.reserved_concurrency]
    return out


def _arrow(name: str, change: list[Any]) -> str:
    old, new = ("none" if v is None else v for v in change)
    return f"{name} {old} → {new}"


CONFIG_CHANGES = frozenset(
    {"Runtime", "Handler", "MemorySize", "Timeout", "Role", "Environment", "VpcConfig"}
)


def apply_function(
    p: AwsPlanContext,
    *,
    got: dict | None,
    changes: list[str],
    name: str,
    arn: str,
    description: str,
    create_cfg: dict,
    update_cfg: dict,
    reserved: int | None,
    what: str,
) -> None:
    """Create or update one Lambda from the deployment's zip, waiting between calls (Lambda refuses an
    update while the last one is in progress), then set its reserved concurrency. The gateway (or
    model) function and the bucket trigger's function both go through here."""
    client = p.c("lambda")
    arch = p.spec.lambda_.architecture
    zipped = p.d.function_zip.path.read_bytes()

    def wait(waiter: str) -> None:
        client.get_waiter(waiter).wait(
            FunctionName=name, WaiterConfig={"Delay": p.options.lambda_poll_s, "MaxAttempts": 150}
        )

    if got is None:
        p.retry_iam(
            lambda: client.create_function(
                FunctionName=name,
                Code={"ZipFile": zipped},
                Description=description,
                Architectures=[arch],
                Tags=p.n.tag_map,
                Publish=False,
                **create_cfg,
            ),
            f"create {what}",
        )
        wait("function_active_v2")
    else:
        if "code" in changes:
            client.update_function_code(
                FunctionName=name, ZipFile=zipped, Architectures=[arch], Publish=False
            )
            wait("function_updated_v2")
        if set(changes) & CONFIG_CHANGES:
            p.retry_iam(
                lambda: client.update_function_configuration(FunctionName=name, **update_cfg),
                f"update {what}",
            )
            wait("function_updated_v2")
        if "tags" in changes:
            client.tag_resource(Resource=arn, Tags=p.n.tag_map)
    if got is None or "reserved concurrency" in changes:
        if reserved is not None:
            client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=reserved)
        elif got is not None:
            client.delete_function_concurrency(FunctionName=name)


def function_calls(create: bool, changes: list[str], reserved: int | None) -> list[str]:
    """The API calls ``apply_function`` makes for these changes (shown in the plan)."""
    if create:
        return ["lambda.CreateFunction"] + ([] if reserved is None else ["lambda.PutFunctionConcurrency"])
    calls = ["lambda.UpdateFunctionCode"] if "code" in changes else []
    if set(changes) & CONFIG_CHANGES:
        calls.append("lambda.UpdateFunctionConfiguration")
    if "tags" in changes:
        calls.append("lambda.TagResource")
    if "reserved concurrency" in changes:
        calls.append(
            "lambda.DeleteFunctionConcurrency" if reserved is None else "lambda.PutFunctionConcurrency"
        )
    return calls


def plan_function_alias(p: AwsPlanContext) -> Step:
    lam = p.c("lambda")
    n, f = p.n, p.spec.lambda_
    summary = (
        f"{n.function}:{ALIAS} -> the latest published version, "
        f"provisioned concurrency {f.provisioned_concurrency}"
    )
    alias_id = f"{n.function}:{ALIAS}"
    got = None
    if not p.creating("function"):
        got = p.describe(lam.get_alias, FunctionName=n.function, Name=ALIAS)
    provisioned_now = 0
    previous = p.record("function_alias")
    if got is not None and (f.provisioned_concurrency or (previous and previous.attrs.get("provisioned"))):
        pc = p.describe(lam.get_provisioned_concurrency_config, FunctionName=n.function, Qualifier=ALIAS)
        provisioned_now = int((pc or {}).get("RequestedProvisionedConcurrentExecutions") or 0)
    function_changes = p.seen.actions.get("function") != "noop"
    outputs = {"alias_arn": n.alias_arn}
    if got is not None:
        outputs["function_version"] = got.get("FunctionVersion")
    attrs = {"provisioned": f.provisioned_concurrency}
    if got is not None and not function_changes and provisioned_now == f.provisioned_concurrency:
        rec = ResourceRecord("lambda:alias", alias_id, {**attrs, "version": got.get("FunctionVersion")})
        return p.step("function_alias", "lambda:alias", "noop", summary, lambda ctx: StepResult(rec, outputs))

    def run(ctx: Context) -> StepResult:
        client = p.c("lambda")
        version = got.get("FunctionVersion") if got else None
        if got is None or function_changes:  # a new version of the changed code and settings
            version = client.publish_version(FunctionName=n.function)["Version"]
            if got is None:
                client.create_alias(FunctionName=n.function, Name=ALIAS, FunctionVersion=version)
            else:
                client.update_alias(FunctionName=n.function, Name=ALIAS, FunctionVersion=version)
        if f.provisioned_concurrency:
            client.put_provisioned_concurrency_config(
                FunctionName=n.function,
                Qualifier=ALIAS,
                ProvisionedConcurrentExecutions=f.provisioned_concurrency,
            )
            ctx.events.info(
                f"provisioned concurrency {f.provisioned_concurrency} requested on {n.function}:{ALIAS}; "
                "it takes a few minutes to be ready"
            )
        elif provisioned_now:
            client.delete_provisioned_concurrency_config(FunctionName=n.function, Qualifier=ALIAS)
        rec = ResourceRecord("lambda:alias", alias_id, {**attrs, "version": version})
        return StepResult(rec, {**outputs, "function_version": version})

    action = "create" if got is None else "update"
    calls = []
    if got is None or function_changes:
        calls = ["lambda.PublishVersion", "lambda.CreateAlias" if got is None else "lambda.UpdateAlias"]
    if f.provisioned_concurrency:
        calls.append("lambda.PutProvisionedConcurrencyConfig")
    elif provisioned_now:
        calls.append("lambda.DeleteProvisionedConcurrencyConfig")
    return p.step("function_alias", "lambda:alias", action, summary, run, calls=calls)


def plan_invoke_permission(p: AwsPlanContext) -> Step:
    lam = p.c("lambda")
    n = p.n
    sid = n.permission_sid
    api_id = p.seen.api["ApiId"] if p.seen.api is not None else None
    where = n.execute_api_arn(api_id) if api_id else n.execute_api_arn("<api-id>")
    summary = f"API Gateway may invoke {n.function}:{ALIAS}, from this API's POST /predict only"
    rec = ResourceRecord("lambda:permission", sid, {"function": n.function, "qualifier": ALIAS})
    current = None
    if api_id and not p.creating("function_alias"):
        got = p.describe(lam.get_policy, FunctionName=n.function, Qualifier=ALIAS)
        if got is not None:
            doc = json.loads(got["Policy"])
            current = next((s for s in doc.get("Statement", []) if s.get("Sid") == sid), None)
    if current is not None and _source_arn(current) == where:
        return p.step("invoke_permission", rec.kind, "noop", summary, lambda ctx: StepResult(rec))

    def run(ctx: Context) -> StepResult:
        client = p.c("lambda")
        source = n.execute_api_arn(ctx.get("api_id"))
        if current is not None:
            client.remove_permission(FunctionName=n.function, StatementId=sid, Qualifier=ALIAS)
        client.add_permission(
            FunctionName=n.function,
            Qualifier=ALIAS,
            StatementId=sid,
            Action="lambda:InvokeFunction",
            Principal="apigateway.amazonaws.com",
            SourceArn=source,
            SourceAccount=n.account,
        )
        return StepResult(rec, {"permission_source_arn": source})

    action = "create" if current is None else "update"
    calls = ([] if current is None else ["lambda.RemovePermission"]) + ["lambda.AddPermission"]
    return p.step("invoke_permission", rec.kind, action, summary, run, calls=calls)


def _source_arn(statement: dict) -> str | None:
    condition = statement.get("Condition") or {}
    for op in ("ArnLike", "ArnEquals", "StringEquals"):
        block = condition.get(op) or {}
        for key, value in block.items():
            if key.lower() == "aws:sourcearn":
                return value
    return None


def delete_permission(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    a.c("lambda").remove_permission(
        FunctionName=rec.attrs.get("function", a.names.function),
        StatementId=rec.id,
        Qualifier=rec.attrs.get("qualifier", ALIAS),
    )


def delete_alias(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    function, _, alias = rec.id.partition(":")
    client = a.c("lambda")
    if rec.attrs.get("provisioned"):
        try:
            client.delete_provisioned_concurrency_config(FunctionName=function, Qualifier=alias or ALIAS)
        except Exception as exc:
            if not gone(exc):
                raise
    client.delete_alias(FunctionName=function, Name=alias or ALIAS)


def delete_function(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    a.c("lambda").delete_function(FunctionName=rec.id)


def describe_function(a: AwsAccess, rec: ResourceRecord) -> Described:
    got = describe_or_none(a.c("lambda").get_function, FunctionName=rec.id)
    if got is None:
        return Described("missing", healthy=False)
    conf = got["Configuration"]
    return Described(f"{conf.get('State', 'Active')}, {conf.get('Runtime')}, {conf.get('MemorySize')} MB")


def describe_alias(a: AwsAccess, rec: ResourceRecord) -> Described:
    function, _, alias = rec.id.partition(":")
    got = describe_or_none(a.c("lambda").get_alias, FunctionName=function, Name=alias)
    return Described(f"-> version {got.get('FunctionVersion')}" if got is not None else "missing")


def describe_permission(a: AwsAccess, rec: ResourceRecord) -> Described:
    return Described("granted to API Gateway")


def owner_function(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    client = a.c("lambda")
    return owned_by_tags(a, lambda: client.get_function(FunctionName=rec.id).get("Tags"))


def discover(a: AwsAccess) -> Found:
    try:
        a.c("lambda").get_function(FunctionName=a.names.function)
        return [("function", ResourceRecord("lambda:function", a.names.function))]
    except Exception as exc:
        if not gone(exc):
            raise
    return []


FAMILY = Family[AwsPlanContext, AwsAccess](
    name="lambda",
    models=(
        ResourceModel("function", "lambda:function", ("lambda_role", "lambda_log_group", "endpoint")),
        ResourceModel("function_alias", "lambda:alias", ("function",)),
        ResourceModel("invoke_permission", "lambda:permission", ("function_alias", "api")),
    ),
    plan={
        "function": plan_function,
        "function_alias": plan_function_alias,
        "invoke_permission": plan_invoke_permission,
    },
    delete={
        "lambda:permission": delete_permission,
        "lambda:alias": delete_alias,
        "lambda:function": delete_function,
    },
    describe={
        "lambda:function": describe_function,
        "lambda:alias": describe_alias,
        "lambda:permission": describe_permission,
    },
    discover=discover,
    rank={"lambda:permission": 0, "lambda:alias": 5, "lambda:function": 6},
    owner={"lambda:function": owner_function},
    delete_calls={
        "lambda:permission": ("lambda.RemovePermission",),
        "lambda:alias": ("lambda.DeleteProvisionedConcurrencyConfig", "lambda.DeleteAlias"),
        "lambda:function": ("lambda.DeleteFunction",),
    },
)
