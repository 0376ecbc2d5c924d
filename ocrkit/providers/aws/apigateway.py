"""API Gateway (HTTP API): the API with its CORS, the Lambda proxy integration, `POST /predict` (IAM or
public), and the `$default` stage with throttling and JSON access logs.

Plan, apply, delete, describe and find-by-name (name + tag) for the `apigateway:*` kinds.
"""

from __future__ import annotations

import json
from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.aws.names import ALIAS, ROUTE_KEY, STAGE, TAG_KEY
from ocrkit.providers.aws.planning import AwsAccess, AwsPlanContext, describe_or_none, owned_by_tags

ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integration.latency",
        "integrationError": "$context.integrationErrorMessage",
    },
    separators=(",", ":"),
)


def _cors(p: AwsPlanContext) -> dict[str, Any] | None:
    c = p.spec.api.cors
    if c is None:
        return None
    return {
        "AllowOrigins": list(c.allow_origins),
        "AllowMethods": list(c.allow_methods),
        "AllowHeaders": list(c.allow_headers),
        "MaxAge": c.max_age_s,
    }


def _find_api(p: AwsPlanContext, apigw) -> dict | None:
    rec = p.record("api")
    if rec is not None:
        got = p.describe(apigw.get_api, ApiId=rec.id)
        if got is not None:
            return got
    for page in apigw.get_paginator("get_apis").paginate():
        for item in page.get("Items", []):
            if item.get("Name") == p.n.api and (item.get("Tags") or {}).get(next(iter(p.n.tag_map))) == (
                p.n.deployment
            ):
                return item
    return None


def plan_api(p: AwsPlanContext) -> Step:
    apigw = p.c("apigatewayv2")
    n = p.n
    cors = _cors(p)
    summary = f"{n.api}: HTTP API, CORS {'for ' + ', '.join(cors['AllowOrigins']) if cors else 'off'}"
    got = _find_api(p, apigw)
    p.seen.api = got
    if got is not None:
        outputs = _api_outputs(p, got)
        rec = ResourceRecord("apigateway:api", got["ApiId"], {"endpoint": got.get("ApiEndpoint")})
        have = _cors_norm(got.get("CorsConfiguration"))
        if have == _cors_norm(cors):
            return p.step("api", "apigateway:api", "noop", summary, lambda ctx: StepResult(rec, outputs))

        def update(ctx: Context) -> StepResult:
            client = p.c("apigatewayv2")
            if cors is None:
                client.delete_cors_configuration(ApiId=got["ApiId"])
            else:
                client.update_api(ApiId=got["ApiId"], CorsConfiguration=cors)
            return StepResult(rec, outputs)

        calls = ["apigatewayv2.DeleteCorsConfiguration" if cors is None else "apigatewayv2.UpdateApi"]
        return p.step("api", "apigateway:api", "update", f"{summary} (change: CORS)", update, calls=calls)

    def create(ctx: Context) -> StepResult:
        kwargs: dict[str, Any] = {
            "Name": n.api,
            "ProtocolType": "HTTP",
            "Description": f"ocrkit deployment {n.deployment}: POST /predict",
            "Tags": n.tag_map,
        }
        if cors:
            kwargs["CorsConfiguration"] = cors
        created = p.c("apigatewayv2").create_api(**kwargs)
        rec = ResourceRecord("apigateway:api", created["ApiId"], {"endpoint": created.get("ApiEndpoint")})
        return StepResult(rec, _api_outputs(p, created))

    return p.step("api", "apigateway:api", "create", summary, create, calls=["apigatewayv2.CreateApi"])


def _api_outputs(p: AwsPlanContext, api: dict) -> dict[str, Any]:
    endpoint = api.get("ApiEndpoint") or (f"https://{api['ApiId']}.execute-api.{p.n.region}.amazonaws.com")
    return {"api_id": api["ApiId"], "url": endpoint, "invoke_url": f"{endpoint}/predict"}


def plan_integration(p: AwsPlanContext) -> Step:
    apigw = p.c("apigatewayv2")
    timeout_ms = p.spec.api.integration_timeout_s * 1000
    uri = p.n.alias_arn
    summary = (
        f"AWS_PROXY -> {p.n.function}:{ALIAS}, payload 2.0, timeout {p.spec.api.integration_timeout_s} s"
    )
    want = {
        "IntegrationType": "AWS_PROXY",
        "IntegrationUri": uri,
        "PayloadFormatVersion": "2.0",
        "TimeoutInMillis": timeout_ms,
    }
    found = None
    if p.seen.api is not None:
        items = apigw.get_integrations(ApiId=p.seen.api["ApiId"]).get("Items", [])
        found = next((i for i in items if i.get("IntegrationUri") == uri), None) or (
            items[0] if items else None
        )
    p.seen.integration = found
    if found is not None:
        rec = ResourceRecord(
            "apigateway:integration", found["IntegrationId"], {"api_id": p.seen.api["ApiId"]}
        )
        outputs = {"integration_id": found["IntegrationId"]}
        if all(found.get(k) == v for k, v in want.items()):
            return p.step("integration", rec.kind, "noop", summary, lambda ctx: StepResult(rec, outputs))

        def update(ctx: Context) -> StepResult:
            p.c("apigatewayv2").update_integration(
                ApiId=p.seen.api["ApiId"], IntegrationId=found["IntegrationId"], **want
            )
            return StepResult(rec, outputs)

        calls = ["apigatewayv2.UpdateIntegration"]
        return p.step("integration", rec.kind, "update", summary, update, calls=calls)

    def create(ctx: Context) -> StepResult:
        api_id = ctx.get("api_id")
        created = p.c("apigatewayv2").create_integration(ApiId=api_id, **want)
        rec = ResourceRecord("apigateway:integration", created["IntegrationId"], {"api_id": api_id})
        return StepResult(rec, {"integration_id": created["IntegrationId"]})

    calls = ["apigatewayv2.CreateIntegration"]
    return p.step("integration", "apigateway:integration", "create", summary, create, calls=calls)


def plan_route(p: AwsPlanContext) -> Step:
    apigw = p.c("apigatewayv2")
    auth = "AWS_IAM" if p.spec.api.auth == "iam" else "NONE"
    summary = f"{ROUTE_KEY}, auth {'IAM (SigV4)' if auth == 'AWS_IAM' else 'none (public)'}"
    found = None
    if p.seen.api is not None:
        items = apigw.get_routes(ApiId=p.seen.api["ApiId"]).get("Items", [])
        found = next((r for r in items if r.get("RouteKey") == ROUTE_KEY), None)
    if found is not None:
        rec = ResourceRecord("apigateway:route", found["RouteId"], {"api_id": p.seen.api["ApiId"]})
        target_ok = p.seen.integration is not None and found.get("Target") == (
            f"integrations/{p.seen.integration['IntegrationId']}"
        )
        if target_ok and found.get("AuthorizationType", "NONE") == auth:
            return p.step("route", rec.kind, "noop", summary, lambda ctx: StepResult(rec))

        def update(ctx: Context) -> StepResult:
            p.c("apigatewayv2").update_route(
                ApiId=p.seen.api["ApiId"],
                RouteId=found["RouteId"],
                AuthorizationType=auth,
                Target=f"integrations/{ctx.get('integration_id')}",
            )
            return StepResult(rec)

        return p.step("route", rec.kind, "update", summary, update, calls=["apigatewayv2.UpdateRoute"])

    def create(ctx: Context) -> StepResult:
        api_id = ctx.get("api_id")
        created = p.c("apigatewayv2").create_route(
            ApiId=api_id,
            RouteKey=ROUTE_KEY,
            AuthorizationType=auth,
            Target=f"integrations/{ctx.get('integration_id')}",
        )
        return StepResult(ResourceRecord("apigateway:route", created["RouteId"], {"api_id": api_id}))

    calls = ["apigatewayv2.CreateRoute"]
    return p.step("route", "apigateway:route", "create", summary, create, calls=calls, authorization=auth)


def plan_stage(p: AwsPlanContext) -> Step:
    apigw = p.c("apigatewayv2")
    a = p.spec.api
    log_arn = p.n.log_group_arn(p.n.api_log_group)
    summary = (
        f"{STAGE}: auto-deploy, throttling {a.throttling_rate_limit:g} requests/s (burst "
        f"{a.throttling_burst_limit}), access logs -> {p.n.api_log_group}"
    )
    settings = {
        "ThrottlingRateLimit": float(a.throttling_rate_limit),
        "ThrottlingBurstLimit": a.throttling_burst_limit,
        "DetailedMetricsEnabled": False,
    }
    access = {"DestinationArn": log_arn, "Format": ACCESS_LOG_FORMAT}
    found = None
    if p.seen.api is not None:
        items = apigw.get_stages(ApiId=p.seen.api["ApiId"]).get("Items", [])
        found = next((s for s in items if s.get("StageName") == STAGE), None)
    if found is not None:
        api_id = p.seen.api["ApiId"]
        rec = ResourceRecord("apigateway:stage", f"{api_id}/{STAGE}", {"api_id": api_id})
        have = found.get("DefaultRouteSettings") or {}
        same = (
            float(have.get("ThrottlingRateLimit", -1)) == settings["ThrottlingRateLimit"]
            and have.get("ThrottlingBurstLimit") == settings["ThrottlingBurstLimit"]
            and (found.get("AccessLogSettings") or {}).get("DestinationArn") == log_arn
            and (found.get("AccessLogSettings") or {}).get("Format") == ACCESS_LOG_FORMAT
            and found.get("AutoDeploy") is True
        )
        if same:
            return p.step("stage", rec.kind, "noop", summary, lambda ctx: StepResult(rec))

        def update(ctx: Context) -> StepResult:
            p.c("apigatewayv2").update_stage(
                ApiId=api_id,
                StageName=STAGE,
                AutoDeploy=True,
                DefaultRouteSettings=settings,
                AccessLogSettings=access,
            )
            return StepResult(rec)

        calls = ["apigatewayv2.UpdateStage"]
        return p.step("stage", rec.kind, "update", summary, update, calls=calls, throttling=settings)

    def create(ctx: Context) -> StepResult:
        api_id = ctx.get("api_id")
        p.c("apigatewayv2").create_stage(
            ApiId=api_id,
            StageName=STAGE,
            AutoDeploy=True,
            DefaultRouteSettings=settings,
            AccessLogSettings=access,
            Tags=p.n.tag_map,
        )
        return StepResult(ResourceRecord("apigateway:stage", f"{api_id}/{STAGE}", {"api_id": api_id}))

    calls = ["apigatewayv2.CreateStage"]
    return p.step("stage", "apigateway:stage", "create", summary, create, calls=calls, throttling=settings)


def _cors_norm(cors: dict | None) -> Any:
    if not cors:
        return None
    out = {}
    for key in ("AllowOrigins", "AllowMethods", "AllowHeaders"):
        out[key] = sorted(str(v).lower() for v in (cors.get(key) or []))
    out["MaxAge"] = cors.get("MaxAge")
    return out


def delete_stage(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    api_id = rec.attrs.get("api_id") or rec.id.split("/", 1)[0]
    a.c("apigatewayv2").delete_stage(ApiId=api_id, StageName=STAGE)


def delete_route(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    a.c("apigatewayv2").delete_route(ApiId=rec.attrs["api_id"], RouteId=rec.id)


def delete_integration(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    a.c("apigatewayv2").delete_integration(ApiId=rec.attrs["api_id"], IntegrationId=rec.id)


def delete_api(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    a.c("apigatewayv2").delete_api(ApiId=rec.id)


def describe_api(a: AwsAccess, rec: ResourceRecord) -> Described:
    got = describe_or_none(a.c("apigatewayv2").get_api, ApiId=rec.id)
    return Described(f"{got.get('ApiEndpoint')}" if got is not None else "missing")


def describe_configured(a: AwsAccess, rec: ResourceRecord) -> Described:
    return Described("configured")


def owner_api(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    client = a.c("apigatewayv2")
    return owned_by_tags(a, lambda: client.get_api(ApiId=rec.id).get("Tags"))


def discover(a: AwsAccess) -> Found:
    n, out = a.names, []
    for page in a.c("apigatewayv2").get_paginator("get_apis").paginate():
        for api in page.get("Items", []):
            if api.get("Name") == n.api and (api.get("Tags") or {}).get(TAG_KEY) == n.deployment:
                out.append((f"api@{api['ApiId']}", ResourceRecord("apigateway:api", api["ApiId"])))
    return out


FAMILY = Family[AwsPlanContext, AwsAccess](
    name="apigateway",
    models=(
        ResourceModel("api", "apigateway:api"),
        ResourceModel("integration", "apigateway:integration", ("api", "function_alias")),
        ResourceModel("route", "apigateway:route", ("integration",)),
        ResourceModel("stage", "apigateway:stage", ("api", "api_log_group", "route")),
    ),
    plan={"api": plan_api, "integration": plan_integration, "route": plan_route, "stage": plan_stage},
    delete={
        "apigateway:stage": delete_stage,
        "apigateway:route": delete_route,
        "apigateway:integration": delete_integration,
        "apigateway:api": delete_api,
    },
    describe={
        "apigateway:api": describe_api,
        "apigateway:integration": describe_configured,
        "apigateway:route": describe_configured,
        "apigateway:stage": describe_configured,
    },
    discover=discover,
    rank={"apigateway:stage": 1, "apigateway:route": 2, "apigateway:integration": 3, "apigateway:api": 4},
    owner={"apigateway:api": owner_api},
    delete_calls={
        "apigateway:stage": ("apigatewayv2.DeleteStage",),
        "apigateway:route": ("apigatewayv2.DeleteRoute",),
        "apigateway:integration": ("apigatewayv2.DeleteIntegration",),
        "apigateway:api": ("apigatewayv2.DeleteApi",),
    },
)
