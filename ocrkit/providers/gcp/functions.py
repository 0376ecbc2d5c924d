"""Cloud Functions 2nd gen: the gateway (python312, the function source built from ocrkit.runtime,
uploaded through generateUploadUrl), running as the deployment's service account; with `serving:
function` it holds the ONNX model itself (ocrkit.providers.gcp.function_serving) and calls no endpoint.

Plan, apply, delete, describe and find-by-label for `functions:function`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, PlannedCall, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.gcp.planning import (
    SOURCE_LABEL,
    GcpAccess,
    GcpPlanContext,
    default_put,
    labelled,
    service_name,
    settings_hash,
    wait_operation,
)
from ocrkit.providers.gcp.session import is_not_found

KIND = "functions:function"


def _function_message(p: GcpPlanContext, endpoint: str | None, source: Any) -> Any:
    from google.cloud import functions_v2 as fv

    fn = p.d.spec.function
    settings = p.d.function_settings(endpoint)
    return fv.Function(
        name=p.names.function,
        description=f"ocrkit {'model' if p.d.holds_model else 'gateway'} for {p.names.name}",
        labels={**p.names.labels, SOURCE_LABEL: p.d.source.sha256[:12]},
        environment=fv.Environment.GEN_2,
        build_config=fv.BuildConfig(
            runtime=fn.runtime, entry_point="predict", source=fv.Source(storage_source=source)
        ),
        service_config=fv.ServiceConfig(
            available_memory=p.d.function_memory,
            timeout_seconds=fn.timeout_s,
            max_instance_count=fn.max_instances,
            min_instance_count=fn.min_instances,
            service_account_email=p.names.service_account,
            environment_variables=settings["environment"],
            ingress_settings=fv.ServiceConfig.IngressSettings.ALLOW_ALL,
            all_traffic_on_latest_revision=True,
        ),
    )


def plan_function(p: GcpPlanContext) -> Step:
    fn = p.d.spec.function
    p.wanted["function"] = p.names.function
    summary = (
        f"{p.names.function_id}: {fn.runtime}, {p.d.function_memory}, timeout {fn.timeout_s} s, "
        f"max {fn.max_instances} instances, runs as {p.names.service_account}, "
        f"source {p.d.source.size:,} bytes"
    )
    if p.d.holds_model:
        summary += f"; holds the ONNX model, read once per cold start from {p.d.model_uri}"
    existing = None
    try:
        existing = p.gcp.functions().get_function(name=p.names.function)
    except Exception as exc:
        if not is_not_found(exc):
            raise
    p.seen.function = existing
    rec = p.record("function")
    endpoint_now = p.seen.endpoint.name if p.seen.endpoint is not None else None
    if existing is not None and rec is not None and (endpoint_now or p.d.holds_model):
        same = rec.attrs.get("settings") == settings_hash(p.d.function_settings(endpoint_now))
        if same:
            url = existing.url or existing.service_config.uri
            record = ResourceRecord("functions:function", existing.name, dict(rec.attrs, url=url))
            return Step(
                PlannedCall("function", "functions:function", "noop", summary),
                lambda ctx: StepResult(
                    record=record,
                    outputs={
                        "url": url,
                        "invoke_url": f"{url}/predict",
                        "service": service_name(p.names, existing),
                    },
                ),
            )
    action = "update" if existing is not None else "create"

    def run(ctx: Context) -> StepResult:
        endpoint = None if p.d.holds_model else ctx.get("endpoint")
        functions = p.gcp.functions()
        upload = functions.generate_upload_url(request={"parent": p.names.parent})
        put = p.options.put_source or default_put
        ctx.events.progress("uploading the function source", 0, p.d.source.size)
        put(upload.upload_url, Path(p.d.source.path).read_bytes())
        ctx.events.progress("uploading the function source", p.d.source.size, p.d.source.size)
        message = _function_message(p, endpoint, upload.storage_source)
        if action == "create":
            operation = functions.create_function(
                parent=p.names.parent, function=message, function_id=p.names.function_id
            )
        else:
            operation = functions.update_function(function=message)
        result = wait_operation(
            operation,
            f"{'creating' if action == 'create' else 'updating'} the function",
            ctx.events,
            p.options,
        )
        url = result.url or result.service_config.uri
        attrs = {
            "url": url,
            "settings": settings_hash(p.d.function_settings(endpoint)),
            "source_sha256": p.d.source.sha256,
            "public": fn.public,
        }
        return StepResult(
            record=ResourceRecord("functions:function", result.name, attrs),
            outputs={
                "url": url,
                "invoke_url": f"{url}/predict",
                "public": fn.public,
                "service": service_name(p.names, result),
            },
        )

    verb = "CreateFunction" if action == "create" else "UpdateFunction"
    calls = ("functions.GenerateUploadUrl", "functions.<upload URL>.PUT", f"functions.{verb}")
    return Step(PlannedCall("function", "functions:function", action, summary, {}, calls), run)


def delete_function(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    operation = a.gcp.functions().delete_function(name=rec.id)
    wait_operation(operation, "deleting the function", events, a.options)


def describe_function(a: GcpAccess, rec: ResourceRecord) -> Described:
    try:
        got = a.gcp.functions().get_function(name=rec.id)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        return Described("missing", healthy=False)
    return Described(
        f"{got.state.name}, {got.build_config.runtime}, {got.service_config.available_memory}",
        healthy=got.state.name == "ACTIVE",
    )


def owner_function(a: GcpAccess, rec: ResourceRecord) -> bool | None:
    try:
        got = a.gcp.functions().get_function(name=rec.id)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        return None
    return labelled(got, a.names.name)


def discover(a: GcpAccess) -> Found:
    return [
        (
            "trigger-function" if function.name == a.names.trigger_function else "function",
            ResourceRecord(KIND, function.name),
        )
        for function in a.gcp.functions().list_functions(request={"parent": a.names.parent})
        if labelled(function, a.names.name)
    ]


FAMILY = Family[GcpPlanContext, GcpAccess](
    name="functions",
    models=(ResourceModel("function", KIND, ("service-account", "endpoint", "artifact", "model-reader")),),
    plan={"function": plan_function},
    delete={KIND: delete_function},
    describe={KIND: describe_function},
    discover=discover,
    rank={KIND: 2},
    owner={KIND: owner_function},
    delete_calls={KIND: ("functions.DeleteFunction",)},
)
