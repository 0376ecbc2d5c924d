"""The GCP planner: only orders and dispatches. Each resource family module (gcs, vertex, iam, functions)
plans, applies, deletes, describes and finds its own resources; this module registers them, plans them in
dependency order, and finds a deployment's resources by label for teardown.

    bucket            gcs:bucket               uniform access, public access prevention, versioning, CMEK
    artifact          gcs:object               models/<sha12>/model.mar (skipped when its sha256 is there)
    model             vertex:model             the prebuilt PyTorch container + the archive's folder
    endpoint          vertex:endpoint
    deployed-model    vertex:deployed-model    machine type + accelerator, min/max replicas, 100% traffic
    service-account   iam:service-account      <name>-fn@PROJECT.iam.gserviceaccount.com, description-marked
    predict-binding   iam:binding              roles/aiplatform.user for it on the endpoint (its IAM policy)
    function          functions:function       2nd gen, python312, the gateway; source via generateUploadUrl
    invoker           iam:binding              --public: allUsers get roles/run.invoker; private: no binding

`serving: function` (the function holds the ONNX model): no Vertex AI resource and no predict binding;
the artifact is models/<sha12>/model-onnx.zip and one more resource lets the function read it:

    model-reader      gcs:binding              roles/storage.objectViewer on the bucket, IAM condition: that
                                               one object only

`--trigger gcs` (trigger.enabled) adds the bucket-triggered pipeline:

    input-bucket      gcs:input-bucket         <name>-in-<project>: uploads, results/, errors/ (teardown
                                               keeps it while it holds objects)
    dead-letter       pubsub:topic             <name>-dead-letter: failed images' events
    trigger-account   iam:service-account      <name>-trg@...: the trigger function's own account
    trigger-function  functions:function       2nd gen, event_trigger object.v1.finalized on the input bucket
    trigger-access    iam:trigger-grants       prefix-conditioned bucket grants, publisher on the topic, the
                                               model object / endpoint, invoker on its own service

Adding a family: a module with a `FAMILY` and one entry in `REGISTRY`.
"""

from __future__ import annotations

from dataclasses import replace

from ocrkit.deploy.plan import ResourceModel, Step
from ocrkit.deploy.resource import Found, Registry
from ocrkit.deploy.serving import ServingOption
from ocrkit.providers.gcp import (
    dead_letter,
    functions,
    gcs,
    iam,
    model_reader,
    trigger_bucket,
    trigger_function,
    trigger_iam,
    vertex,
)
from ocrkit.providers.gcp.planning import GcpAccess, GcpPlanContext

REGISTRY: Registry[GcpPlanContext, GcpAccess] = Registry(
    (
        gcs.FAMILY,
        vertex.FAMILY,
        iam.FAMILY,
        model_reader.FAMILY,
        functions.FAMILY,
        trigger_bucket.FAMILY,
        dead_letter.FAMILY,
        trigger_function.FAMILY,
        trigger_iam.FAMILY,
    )
)
ENDPOINT_ONLY = ("model", "endpoint", "deployed-model", "predict-binding")  # Vertex AI and its binding
FUNCTION_ONLY = ("model-reader",)
TRIGGER_ONLY = ("input-bucket", "dead-letter", "trigger-account", "trigger-function", "trigger-access")


def models_for(serving: ServingOption, trigger: bool = False) -> list[ResourceModel]:
    """The resources a serving option (and --trigger gcs) wants, in dependency order (dependencies on
    left-out ones dropped)."""
    left_out = ENDPOINT_ONLY if serving is ServingOption.function else FUNCTION_ONLY
    if not trigger:
        left_out = left_out + TRIGGER_ONLY
    kept = [m for m in REGISTRY.models() if m.key not in left_out]
    return [replace(m, depends_on=tuple(d for d in m.depends_on if d not in left_out)) for m in kept]


def plan_steps(p: GcpPlanContext) -> list[Step]:
    """One step per resource, in dependency order (describe calls only); fills `p.wanted` for the sweeper."""
    return [REGISTRY.planner(model.key)(p) for model in models_for(p.d.spec.serving, p.d.triggered)]


def discover(a: GcpAccess) -> Found:
    """Everything labelled ocrkit-deployment=<name> that still exists (billable or not), in deletion order."""
    return REGISTRY.sort_for_deletion(REGISTRY.discover(a))
