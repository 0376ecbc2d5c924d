"""Vertex AI: the model (the prebuilt PyTorch container + the archive's folder), the endpoint, and the
deployed model (machine type + accelerator, min/max replicas, 100% of the traffic). New weights add a new
model deployed with all the traffic; the sweeper then undeploys the old one and deletes the old model.

Plan, apply, delete, describe and find-by-label for `vertex:model`, `vertex:endpoint` and
`vertex:deployed-model`.
"""

from __future__ import annotations

from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, PlannedCall, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.gcp.package import MAR_NAME
from ocrkit.providers.gcp.planning import (
    ARTIFACT_LABEL,
    GcpAccess,
    GcpPlanContext,
    labelled,
    wait_operation,
)
from ocrkit.providers.gcp.session import is_not_found
from ocrkit.providers.gcp.spec import LABEL_KEY, model_environment


def batching_text(batch_size: int, delay_ms: int) -> str:
    if batch_size <= 1:
        return "TorchServe batching off (one request at a time)"
    return f"TorchServe batches up to {batch_size} requests arriving within {delay_ms} ms"


def _find_model(p: GcpPlanContext) -> Any:
    models = p.gcp.models()
    request = {"parent": p.names.parent, "filter": f'labels.{LABEL_KEY}="{p.names.name}"'}
    for model in models.list_models(request=request):
        labels = dict(model.labels or {})
        same_artifact = labels.get(LABEL_KEY) == p.names.name and labels.get(ARTIFACT_LABEL) == p.d.sha12
        if same_artifact and _same_container(model, p.d.shape.image_uri):
            return model
    return None


def _same_container(model: Any, image: str) -> bool:
    """Whether a model serves with `image` (a switch between options changes the image: a new model)."""
    spec = getattr(model, "container_spec", None)
    found = getattr(spec, "image_uri", "") if spec is not None else ""
    return not found or found == image


def plan_model(p: GcpPlanContext) -> Step:
    vx, shape = p.d.spec.vertex, p.d.shape
    summary = (
        f"{p.names.name}-{p.d.sha12}: {shape.image_uri} serving {p.d.artifact_uri}{MAR_NAME}; "
        f"{batching_text(vx.batch_size, vx.max_batch_delay_ms)}"
    )
    rec = p.record("model")
    found = None
    if (
        rec is not None
        and rec.attrs.get("sha256") == p.d.artifact.sha256
        and rec.attrs.get("image", vx.image_uri) == shape.image_uri
    ):
        try:
            found = p.gcp.models().get_model(name=rec.id)
        except Exception as exc:
            if not is_not_found(exc):
                raise
        if found is not None and not _same_container(found, shape.image_uri):
            found = None
    if found is None:
        found = _find_model(p)  # made by a run that stopped before recording it
    attrs = {
        "sha256": p.d.artifact.sha256,
        "artifact_uri": p.d.artifact_uri,
        "image": shape.image_uri,
        "batch_size": vx.batch_size,
        "max_batch_delay_ms": vx.max_batch_delay_ms,
    }
    if found is not None:
        p.wanted["model"] = found.name
        record = ResourceRecord("vertex:model", found.name, attrs)
        return Step(
            PlannedCall("model", "vertex:model", "noop", summary),
            lambda ctx: StepResult(record=record, outputs={"model": found.name}),
        )
    p.wanted["model"] = f"(new {p.d.sha12})"

    def run(ctx: Context) -> StepResult:
        from google.cloud import aiplatform_v1 as ap

        model = ap.Model(
            display_name=f"{p.names.name}-{p.d.sha12}",
            description=f"ocrkit deployment {p.names.name}",
            artifact_uri=p.d.artifact_uri,
            labels={**p.names.labels, ARTIFACT_LABEL: p.d.sha12},
            container_spec=ap.ModelContainerSpec(
                image_uri=shape.image_uri,
                env=[
                    ap.EnvVar(name=k, value=v)
                    for k, v in sorted(model_environment(p.d.spec, shape.device).items())
                ],
            ),
        )
        operation = p.gcp.models().upload_model(parent=p.names.parent, model=model)
        result = wait_operation(operation, "uploading the model", ctx.events, p.options)
        name = result.model
        return StepResult(record=ResourceRecord("vertex:model", name, attrs), outputs={"model": name})

    calls = ("aiplatform.ModelService.UploadModel",)
    return Step(PlannedCall("model", "vertex:model", "create", summary, attrs, calls), run)


def _find_endpoint(p: GcpPlanContext) -> Any:
    request = {"parent": p.names.parent, "filter": f'labels.{LABEL_KEY}="{p.names.name}"'}
    for endpoint in p.gcp.endpoints().list_endpoints(request=request):
        if labelled(endpoint, p.names.name):
            return endpoint
    return None


def plan_endpoint(p: GcpPlanContext) -> Step:
    summary = f"{p.names.endpoint_display} in {p.names.region}"
    rec = p.record("endpoint")
    found = None
    if rec is not None:
        try:
            found = p.gcp.endpoints().get_endpoint(name=rec.id)
        except Exception as exc:
            if not is_not_found(exc):
                raise
    if found is None:
        found = _find_endpoint(p)
    p.seen.endpoint = found
    if found is not None:
        p.wanted["endpoint"] = found.name
        record = ResourceRecord("vertex:endpoint", found.name, {"display_name": found.display_name})
        return Step(
            PlannedCall("endpoint", "vertex:endpoint", "noop", summary),
            lambda ctx: StepResult(record=record, outputs={"endpoint": found.name}),
        )
    p.wanted["endpoint"] = None

    def run(ctx: Context) -> StepResult:
        from google.cloud import aiplatform_v1 as ap

        endpoint = ap.Endpoint(display_name=p.names.endpoint_display, labels=p.names.labels)
        operation = p.gcp.endpoints().create_endpoint(parent=p.names.parent, endpoint=endpoint)
        result = wait_operation(operation, "creating the endpoint", ctx.events, p.options)
        record = ResourceRecord("vertex:endpoint", result.name, {"display_name": result.display_name})
        return StepResult(record=record, outputs={"endpoint": result.name})

    calls = ("aiplatform.EndpointService.CreateEndpoint",)
    return Step(PlannedCall("endpoint", "vertex:endpoint", "create", summary, {}, calls), run)


def _settings_of(deployed: Any) -> dict[str, Any]:
    res = deployed.dedicated_resources
    spec = res.machine_spec
    accelerator = spec.accelerator_type.name if spec.accelerator_type else None
    if accelerator == "ACCELERATOR_TYPE_UNSPECIFIED":
        accelerator = None
    return {
        "machine_type": spec.machine_type,
        "accelerator_type": accelerator,
        "accelerator_count": spec.accelerator_count if accelerator else 0,
        "min_replicas": res.min_replica_count,
        "max_replicas": res.max_replica_count,
    }


def plan_deployed_model(p: GcpPlanContext) -> Step:
    want = p.d.deploy_settings()
    vx, shape = p.d.spec.vertex, p.d.shape
    gpu = (
        f" + {shape.accelerator_type} x {shape.accelerator_count}"
        if shape.accelerator_type
        else " (CPU only)"
    )
    summary = (
        f"{shape.machine_type}{gpu}, autoscaling {vx.min_replicas}-{vx.max_replicas} replicas, "
        "100% of the traffic"
    )
    endpoint = p.seen.endpoint
    model_name = p.wanted.get("model") or ""
    if endpoint is not None and not model_name.startswith("(new"):
        for deployed in endpoint.deployed_models:
            if deployed.model == model_name and _settings_of(deployed) == want:
                traffic = dict(endpoint.traffic_split or {})
                if traffic and traffic.get(deployed.id, 0) != 100 and "0" not in traffic:
                    continue
                p.wanted["deployed-model"] = deployed.id
                record = ResourceRecord(
                    "vertex:deployed-model",
                    deployed.id,
                    {"endpoint": endpoint.name, "model": model_name, **want},
                )
                return Step(
                    PlannedCall("deployed-model", "vertex:deployed-model", "noop", summary),
                    lambda ctx, r=record: StepResult(record=r, outputs={"deployed_model": r.id}),
                )
    rec = p.record("deployed-model")
    action = "update" if rec is not None else "create"
    if rec is not None:
        summary += " (replaces deployed model " + rec.id + ")"
    p.wanted["deployed-model"] = "(new)"

    def run(ctx: Context) -> StepResult:
        from google.cloud import aiplatform_v1 as ap

        endpoint_name = ctx.get("endpoint")
        model = ctx.get("model")
        machine = ap.MachineSpec(machine_type=shape.machine_type)
        if shape.accelerator_type:
            machine.accelerator_type = ap.AcceleratorType[shape.accelerator_type]
            machine.accelerator_count = shape.accelerator_count
        deployed = ap.DeployedModel(
            model=model,
            display_name=f"{p.names.name}-{p.d.sha12}",
            dedicated_resources=ap.DedicatedResources(
                machine_spec=machine,
                min_replica_count=vx.min_replicas,
                max_replica_count=vx.max_replicas,
            ),
        )
        ctx.events.info(
            "deploying the model on the endpoint: on Google Cloud this usually takes 10-30 minutes"
        )
        operation = p.gcp.endpoints().deploy_model(
            endpoint=endpoint_name, deployed_model=deployed, traffic_split={"0": 100}
        )
        result = wait_operation(operation, "deploying the model", ctx.events, p.options)
        deployed_id = result.deployed_model.id
        record = ResourceRecord(
            "vertex:deployed-model", deployed_id, {"endpoint": endpoint_name, "model": model, **want}
        )
        return StepResult(record=record, outputs={"deployed_model": deployed_id})

    calls = ("aiplatform.EndpointService.DeployModel",)
    return Step(PlannedCall("deployed-model", "vertex:deployed-model", action, summary, want, calls), run)


def _get(call) -> Any:
    try:
        return call()
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


def delete_deployed_model(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    endpoint = rec.attrs.get("endpoint")
    operation = a.gcp.endpoints().undeploy_model(endpoint=endpoint, deployed_model_id=rec.id)
    wait_operation(operation, "undeploying the model", events, a.options)


def delete_endpoint(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    endpoints = a.gcp.endpoints()
    current = endpoints.get_endpoint(name=rec.id)
    for deployed in current.deployed_models:
        operation = endpoints.undeploy_model(endpoint=rec.id, deployed_model_id=deployed.id)
        wait_operation(operation, "undeploying the model", events, a.options)
    wait_operation(endpoints.delete_endpoint(name=rec.id), "deleting the endpoint", events, a.options)


def delete_model(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    wait_operation(a.gcp.models().delete_model(name=rec.id), "deleting the model", events, a.options)


def describe_model(a: GcpAccess, rec: ResourceRecord) -> Described:
    got = _get(lambda: a.gcp.models().get_model(name=rec.id))
    return Described("exists" if got else "missing", healthy=got is not None)


def describe_endpoint(a: GcpAccess, rec: ResourceRecord) -> Described:
    got = _get(lambda: a.gcp.endpoints().get_endpoint(name=rec.id))
    if got is None:
        return Described("missing", healthy=False)
    return Described(f"{len(got.deployed_models)} deployed model(s)", healthy=bool(got.deployed_models))


def describe_deployed_model(a: GcpAccess, rec: ResourceRecord) -> Described:
    """Its machine, replicas and traffic share, and the nodes running now (what it costs per hour)."""
    got = _get(lambda: a.gcp.endpoints().get_endpoint(name=rec.attrs.get("endpoint", "")))
    match = [d for d in (got.deployed_models if got else []) if d.id == rec.id]
    if not match:
        return Described("missing", healthy=False)
    res = match[0].dedicated_resources
    spec = res.machine_spec
    gpu = f" + {spec.accelerator_type.name} x {spec.accelerator_count}" if spec.accelerator_count else ""
    traffic = dict(got.traffic_split or {})
    share = traffic.get(rec.id, traffic.get("0", 0))
    words = (
        f"{spec.machine_type}{gpu}, {res.min_replica_count}-{res.max_replica_count} replicas, "
        f"{share}% of traffic"
    )
    attrs = {k: rec.attrs.get(k) for k in ("machine_type", "accelerator_type", "accelerator_count")}
    return Described(words, running=int(res.min_replica_count), attrs=attrs)


def owner_endpoint(a: GcpAccess, rec: ResourceRecord) -> bool | None:
    got = _get(lambda: a.gcp.endpoints().get_endpoint(name=rec.id))
    return None if got is None else labelled(got, a.names.name)


def owner_model(a: GcpAccess, rec: ResourceRecord) -> bool | None:
    got = _get(lambda: a.gcp.models().get_model(name=rec.id))
    return None if got is None else labelled(got, a.names.name)


def discover(a: GcpAccess) -> Found:
    n, found = a.names, []
    request = {"parent": n.parent, "filter": f'labels.{LABEL_KEY}="{n.name}"'}
    for endpoint in a.gcp.endpoints().list_endpoints(request=request):
        if not labelled(endpoint, n.name):
            continue
        for deployed in endpoint.deployed_models:
            rec = ResourceRecord("vertex:deployed-model", deployed.id, {"endpoint": endpoint.name})
            found.append(("deployed-model", rec))
        found.append(("endpoint", ResourceRecord("vertex:endpoint", endpoint.name)))
    for model in a.gcp.models().list_models(request=request):
        if labelled(model, n.name):
            found.append(("model", ResourceRecord("vertex:model", model.name)))
    return found


FAMILY = Family[GcpPlanContext, GcpAccess](
    name="vertex",
    models=(
        ResourceModel("model", "vertex:model", ("artifact",)),
        ResourceModel("endpoint", "vertex:endpoint"),
        ResourceModel("deployed-model", "vertex:deployed-model", ("model", "endpoint")),
    ),
    plan={"model": plan_model, "endpoint": plan_endpoint, "deployed-model": plan_deployed_model},
    delete={
        "vertex:deployed-model": delete_deployed_model,
        "vertex:endpoint": delete_endpoint,
        "vertex:model": delete_model,
    },
    describe={
        "vertex:model": describe_model,
        "vertex:endpoint": describe_endpoint,
        "vertex:deployed-model": describe_deployed_model,
    },
    discover=discover,
    rank={"vertex:deployed-model": 0, "vertex:endpoint": 3, "vertex:model": 4},
    owner={"vertex:endpoint": owner_endpoint, "vertex:model": owner_model},
    delete_calls={
        "vertex:deployed-model": ("aiplatform.EndpointService.UndeployModel",),
        "vertex:endpoint": (
            "aiplatform.EndpointService.UndeployModel",
            "aiplatform.EndpointService.DeleteEndpoint",
        ),
        "vertex:model": ("aiplatform.ModelService.DeleteModel",),
    },
)
