"""Application Auto Scaling: the endpoint variant's scalable target and its target-tracking policy.

Plan, apply, delete, describe and find-by-name for `autoscaling:scalable-target`.
"""

from __future__ import annotations

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.aws.names import SCALABLE_DIMENSION
from ocrkit.providers.aws.planning import AwsAccess, AwsPlanContext, gone
from ocrkit.providers.aws.session import error_code, error_message, is_not_found

KIND = "autoscaling:scalable-target"
NS = "application-autoscaling"
DEREGISTER_CALLS = (f"{NS}.DeleteScalingPolicy", f"{NS}.DeregisterScalableTarget")


def deregister_scaling(p: AwsPlanContext) -> None:
    aas = p.c("application-autoscaling")
    n = p.n
    try:
        aas.delete_scaling_policy(
            PolicyName=n.scaling_policy,
            ServiceNamespace="sagemaker",
            ResourceId=n.scaling_resource_id,
            ScalableDimension=SCALABLE_DIMENSION,
        )
    except Exception as exc:
        if not is_not_found(exc) and error_code(exc) != "ObjectNotFoundException":
            raise
    try:
        aas.deregister_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=n.scaling_resource_id,
            ScalableDimension=SCALABLE_DIMENSION,
        )
    except Exception as exc:
        if not is_not_found(exc) and error_code(exc) != "ObjectNotFoundException":
            raise


def plan_autoscaling(p: AwsPlanContext) -> Step:
    aas = p.c("application-autoscaling")
    n, a = p.n, p.spec.sagemaker.autoscaling
    summary = (
        f"{a.min_instances}-{a.max_instances} instances, target tracking "
        f"{a.target_invocations_per_instance} invocations/instance/minute"
    )
    rec = ResourceRecord("autoscaling:scalable-target", n.scaling_resource_id, {"policy": n.scaling_policy})
    config = {
        "TargetValue": float(a.target_invocations_per_instance),
        "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
        "ScaleInCooldown": a.scale_in_cooldown_s,
        "ScaleOutCooldown": a.scale_out_cooldown_s,
    }
    changes = ["target", "policy"]
    if not p.creating("endpoint"):
        targets = aas.describe_scalable_targets(
            ServiceNamespace="sagemaker",
            ResourceIds=[n.scaling_resource_id],
            ScalableDimension=SCALABLE_DIMENSION,
        ).get("ScalableTargets", [])
        changes = []
        if not targets or (targets[0].get("MinCapacity"), targets[0].get("MaxCapacity")) != (
            a.min_instances,
            a.max_instances,
        ):
            changes.append("target")
        found = aas.describe_scaling_policies(
            ServiceNamespace="sagemaker",
            ResourceId=n.scaling_resource_id,
            ScalableDimension=SCALABLE_DIMENSION,
            PolicyNames=[n.scaling_policy],
        ).get("ScalingPolicies", [])
        have = (found[0].get("TargetTrackingScalingPolicyConfiguration") if found else None) or {}
        if (
            float(have.get("TargetValue", -1)) != config["TargetValue"]
            or (have.get("PredefinedMetricSpecification") or {}).get("PredefinedMetricType")
            != "SageMakerVariantInvocationsPerInstance"
            or have.get("ScaleInCooldown") != a.scale_in_cooldown_s
            or have.get("ScaleOutCooldown") != a.scale_out_cooldown_s
        ):
            changes.append("policy")
        if p.seen.instance_type_changes:
            changes = ["target", "policy"]
    if not changes:
        return p.step("autoscaling", rec.kind, "noop", summary, lambda ctx: StepResult(rec))

    def run(ctx: Context) -> StepResult:
        client = p.c("application-autoscaling")
        client.register_scalable_target(
            ServiceNamespace="sagemaker",
            ResourceId=n.scaling_resource_id,
            ScalableDimension=SCALABLE_DIMENSION,
            MinCapacity=a.min_instances,
            MaxCapacity=a.max_instances,
            Tags=n.tag_map,
        )
        client.put_scaling_policy(
            PolicyName=n.scaling_policy,
            ServiceNamespace="sagemaker",
            ResourceId=n.scaling_resource_id,
            ScalableDimension=SCALABLE_DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration=config,
        )
        return StepResult(rec)

    action = "create" if changes == ["target", "policy"] and p.record("autoscaling") is None else "update"
    calls = [f"{NS}.RegisterScalableTarget", f"{NS}.PutScalingPolicy"]
    return p.step("autoscaling", rec.kind, action, summary, run, calls=calls, policy=config)


def _absent(exc: BaseException) -> bool:
    """The policy / target is not there (AWS: ObjectNotFoundException; moto: a ValidationException with
    the same "No scaling policy found" / "No scalable target found" words)."""
    message = error_message(exc).lower()
    return gone(exc) or "no scaling policy found" in message or "no scalable target found" in message


def delete_scalable_target(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    """Delete the policy and the target; either may be gone already (a switch to Serverless Inference
    or to another instance type deregisters them before UpdateEndpoint, and the sweeper then forgets it)."""
    client = a.c("application-autoscaling")
    try:
        client.delete_scaling_policy(
            PolicyName=rec.attrs.get("policy", a.names.scaling_policy),
            ServiceNamespace="sagemaker",
            ResourceId=rec.id,
            ScalableDimension=SCALABLE_DIMENSION,
        )
    except Exception as exc:
        if not _absent(exc):
            raise
    try:
        client.deregister_scalable_target(
            ServiceNamespace="sagemaker", ResourceId=rec.id, ScalableDimension=SCALABLE_DIMENSION
        )
    except Exception as exc:
        if not _absent(exc):
            raise


def describe_scalable_target(a: AwsAccess, rec: ResourceRecord) -> Described:
    targets = (
        a.c("application-autoscaling")
        .describe_scalable_targets(ServiceNamespace="sagemaker", ResourceIds=[rec.id])
        .get("ScalableTargets", [])
    )
    if not targets:
        return Described("missing", healthy=False)
    return Described(f"{targets[0]['MinCapacity']}-{targets[0]['MaxCapacity']} instances")


def owner_target(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    """A scalable target has no tag ocrkit can read back: it is ours when its endpoint is."""
    from ocrkit.providers.aws import sagemaker

    endpoint = rec.id.split("/")[1] if rec.id.count("/") >= 3 else a.names.endpoint
    return sagemaker.owner(a, ResourceRecord("sagemaker:endpoint", endpoint))


def discover(a: AwsAccess) -> Found:
    n = a.names
    targets = a.c("application-autoscaling").describe_scalable_targets(
        ServiceNamespace="sagemaker",
        ResourceIds=[n.scaling_resource_id],
        ScalableDimension=SCALABLE_DIMENSION,
    )
    if not targets.get("ScalableTargets"):
        return []
    return [("autoscaling", ResourceRecord(KIND, n.scaling_resource_id, {"policy": n.scaling_policy}))]


FAMILY = Family[AwsPlanContext, AwsAccess](
    name="autoscaling",
    models=(ResourceModel("autoscaling", KIND, ("endpoint",)),),
    plan={"autoscaling": plan_autoscaling},
    delete={KIND: delete_scalable_target},
    describe={KIND: describe_scalable_target},
    discover=discover,
    rank={KIND: 7},
    owner={KIND: owner_target},
    delete_calls={KIND: DEREGISTER_CALLS},
)
