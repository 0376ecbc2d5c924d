"""The bucket trigger's Cloud Function (`--trigger gcs`) and the service account it runs as.

- `<name>-trg@PROJECT.iam.gserviceaccount.com`: its own account (not the HTTP function's), marked in its
  description like the other one (service accounts have no labels); what it may do is
  ocrkit.providers.gcp.trigger_iam's.
- `<name>-trigger`: Cloud Functions 2nd gen with an `event_trigger`: event type
  google.cloud.storage.object.v1.finalized, event filter bucket=<input bucket>, retry_policy
  RETRY_POLICY_RETRY (the function raises only when the dead-letter publish failed), the account above as
  both the runtime and the trigger identity, `trigger_region` the bucket's region unless the config says.
  Ingress internal-only: Eventarc is its only caller. The source is ocrkit.providers.gcp.trigger_package's,
  uploaded through generateUploadUrl like the HTTP function's.

Plan, apply and find for `iam:service-account` (key trigger-account) and `functions:function` (key
trigger-function); delete, describe and ownership are the iam and functions families' (same kinds).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import PlannedCall, ResourceRecord
from ocrkit.deploy.resource import Family, Found
from ocrkit.providers.gcp import iam_policy as iam
from ocrkit.providers.gcp.iam import plan_account
from ocrkit.providers.gcp.planning import (
    SOURCE_LABEL,
    GcpAccess,
    GcpPlanContext,
    default_put,
    settings_hash,
    wait_operation,
)
from ocrkit.providers.gcp.session import is_not_found
from ocrkit.providers.gcp.trigger_package import ENTRY_POINT, EVENT_TYPE, trigger_environment

ACCOUNT_KIND = "iam:service-account"
FUNCTION_KIND = "functions:function"
DUTY = "runs the bucket trigger; may only read its input prefix, write its output and error prefixes"


def plan_trigger_account(p: GcpPlanContext) -> Step:
    email = p.names.trigger_account
    return plan_account(
        p,
        "trigger-account",
        email,
        display=f"ocrkit {p.names.name} bucket trigger",
        duty=DUTY,
        output="trigger_account",
        summary=f"{email}: the trigger function runs as it (its own account; bindings under trigger-access)",
        runs="the trigger function",
    )


def trigger_settings(p: GcpPlanContext, endpoint: str | None) -> dict[str, Any]:
    """What the trigger function runs with (hashed into the state: a change means an update)."""
    t, fn = p.d.spec.trigger, p.d.spec.function
    env = trigger_environment(
        p.d.spec,
        bucket=p.names.input_bucket,
        topic=p.names.dead_letter_topic,
        model_uri=p.d.model_uri if p.d.holds_model else None,
        model_sha256=p.d.artifact.sha256 if p.d.holds_model else None,
        endpoint=endpoint,
    )
    return {
        "runtime": fn.runtime,
        "memory": t.memory_for(fn, p.d.spec.serving),
        "timeout_s": t.timeout_s,
        "max_instances": t.max_instances,
        "service_account": p.names.trigger_account,
        "environment": env,
        "event_type": EVENT_TYPE,
        "bucket": p.names.input_bucket,
        "retry": t.retry,
        "trigger_region": t.trigger_region or p.d.spec.region,
        "source_sha256": p.d.trigger_source.sha256 if p.d.trigger_source else None,
    }


def function_message(p: GcpPlanContext, settings: dict[str, Any], source: Any) -> Any:
    """The Cloud Functions v2 `Function` for the trigger (tests read it back from the emulator)."""
    from google.cloud import functions_v2 as fv

    retry = fv.EventTrigger.RetryPolicy
    return fv.Function(
        name=p.names.trigger_function,
        description=f"ocrkit bucket trigger for {p.names.name}",
        labels={**p.names.labels, SOURCE_LABEL: (settings["source_sha256"] or "")[:12]},
        environment=fv.Environment.GEN_2,
        build_config=fv.BuildConfig(
            runtime=settings["runtime"], entry_point=ENTRY_POINT, source=fv.Source(storage_source=source)
        ),
        service_config=fv.ServiceConfig(
            available_memory=settings["memory"],
            timeout_seconds=settings["timeout_s"],
            max_instance_count=settings["max_instances"],
            min_instance_count=0,
            service_account_email=settings["service_account"],
            environment_variables=settings["environment"],
            ingress_settings=fv.ServiceConfig.IngressSettings.ALLOW_INTERNAL_ONLY,
            all_traffic_on_latest_revision=True,
        ),
        event_trigger=fv.EventTrigger(
            trigger_region=settings["trigger_region"],
            event_type=settings["event_type"],
            event_filters=[fv.EventFilter(attribute="bucket", value=settings["bucket"])],
            retry_policy=retry.RETRY_POLICY_RETRY if settings["retry"] else retry.RETRY_POLICY_DO_NOT_RETRY,
            service_account_email=settings["service_account"],
        ),
    )


def plan_trigger_function(p: GcpPlanContext) -> Step:
    t = p.d.spec.trigger
    p.wanted["trigger-function"] = p.names.trigger_function
    endpoint_now = p.seen.endpoint.name if p.seen.endpoint is not None else None
    settings = trigger_settings(p, endpoint_now)
    backend = "the ONNX engine in the function" if p.d.holds_model else "the Vertex AI endpoint"
    summary = (
        f"{p.names.trigger_function_id}: on {EVENT_TYPE} from gs://{p.names.input_bucket} "
        f"(keys outside {t.input_prefix} skipped by the function), runs {backend}; {settings['memory']}, "
        f"timeout {t.timeout_s} s, max {t.max_instances} instances, "
        f"{'retries' if t.retry else 'no retries'}, dead letters to {p.names.dead_letter_topic}, runs as "
        f"{p.names.trigger_account}"
    )
    existing = None
    try:
        existing = p.gcp.functions().get_function(name=p.names.trigger_function)
    except Exception as exc:
        if not is_not_found(exc):
            raise
    p.seen.trigger_function = existing
    rec = p.record("trigger-function")
    same = rec is not None and rec.attrs.get("settings") == settings_hash(settings)
    if existing is not None and rec is not None and same and (endpoint_now or p.d.holds_model):
        record = ResourceRecord(FUNCTION_KIND, existing.name, dict(rec.attrs))
        return Step(
            PlannedCall("trigger-function", FUNCTION_KIND, "noop", summary),
            lambda ctx: StepResult(record=record, outputs={"trigger_function": existing.name}),
        )
    action = "update" if existing is not None else "create"

    def run(ctx: Context) -> StepResult:
        endpoint = None if p.d.holds_model else ctx.get("endpoint")
        wanted = trigger_settings(p, endpoint)
        functions = p.gcp.functions()
        upload = functions.generate_upload_url(request={"parent": p.names.parent})
        source = p.d.trigger_source
        assert source is not None  # planned only with --trigger gcs
        ctx.events.progress("uploading the trigger's source", 0, source.size)
        (p.options.put_source or default_put)(upload.upload_url, Path(source.path).read_bytes())
        ctx.events.progress("uploading the trigger's source", source.size, source.size)
        message = function_message(p, wanted, upload.storage_source)
        if action == "create":
            operation = functions.create_function(
                parent=p.names.parent, function=message, function_id=p.names.trigger_function_id
            )
        else:
            operation = functions.update_function(function=message)
        verb = "creating" if action == "create" else "updating"
        result = wait_operation(operation, f"{verb} the trigger function", ctx.events, p.options)
        attrs = {
            "settings": settings_hash(wanted),
            "source_sha256": source.sha256,
            "bucket": p.names.input_bucket,
        }
        return StepResult(
            record=ResourceRecord(FUNCTION_KIND, result.name, attrs),
            outputs={"trigger_function": result.name},
        )

    verb = "CreateFunction" if action == "create" else "UpdateFunction"
    calls = ("functions.GenerateUploadUrl", "functions.<upload URL>.PUT", f"functions.{verb}")
    details = {k: v for k, v in settings.items() if k != "environment"}
    return Step(PlannedCall("trigger-function", FUNCTION_KIND, action, summary, details, calls), run)


def discover(a: GcpAccess) -> Found:
    """The trigger's account (address + description marker); its function is found by the functions
    family (by label) and filed under trigger-function there."""
    n = a.names
    return [
        (
            "trigger-account",
            ResourceRecord(ACCOUNT_KIND, account.email, {"unique_id": account.unique_id, "ours": True}),
        )
        for account in a.gcp.iam().list_service_accounts(request={"name": f"projects/{n.project}"})
        if iam.is_ours(account, n.name, n.trigger_account)
    ]


FAMILY = Family[GcpPlanContext, GcpAccess](
    name="trigger-function",
    models=(
        ResourceModel("trigger-account", ACCOUNT_KIND),
        ResourceModel(
            "trigger-function",
            FUNCTION_KIND,
            ("trigger-account", "input-bucket", "dead-letter", "artifact", "endpoint", "deployed-model"),
        ),
    ),
    plan={"trigger-account": plan_trigger_account, "trigger-function": plan_trigger_function},
    discover=discover,
)
