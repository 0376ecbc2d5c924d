"""Least privilege for the bucket trigger's function (`--trigger gcs`): what its own service account
`<name>-trg@PROJECT.iam.gserviceaccount.com` may do, as resource-level bindings only (nothing on the
project). `trigger_grants` computes them (pure; the tests parse its output and the stored policies):

- input bucket: `roles/storage.objectViewer` under the IAM condition
  `resource.name.startsWith("projects/_/buckets/IN/objects/<input_prefix>")` -- it reads uploads, and
  cannot list (a list is checked against the bucket, which the condition does not match);
- input bucket: `roles/storage.objectCreator` under
  `resource.name.startsWith(".../objects/<output_prefix>") || resource.name.startsWith(".../<error_prefix>")`
  -- it creates results and error records there, and cannot replace or delete anything;
- the dead-letter topic: `roles/pubsub.publisher` on that topic's own policy;
- serving `function`: `roles/storage.objectViewer` on the artifact bucket conditioned on the one model
  object (`resource.name == ...`); endpoint options: `roles/aiplatform.user` on the endpoint's own policy;
- the trigger function's Cloud Run service: `roles/run.invoker` (Eventarc delivers the events as this
  account: `event_trigger.service_account_email`).

Conditions on Cloud Storage: https://cloud.google.com/storage/docs/access-control/iam#conditions (the
object form of resource.name: https://cloud.google.com/iam/docs/conditions-attribute-reference).

Not granted by ocrkit, because they are project-wide (listed in the plan as prerequisites): Eventarc
needs `roles/eventarc.eventReceiver` for the trigger's account and the Cloud Storage service agent needs
`roles/pubsub.publisher` in the project (https://cloud.google.com/functions/docs/calling/storage).

Plan, apply, delete and describe for `iam:trigger-grants` (one record, one entry per binding).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ocrkit.batch.trigger import TriggerRule
from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, PlannedCall, ResourceRecord
from ocrkit.deploy.resource import Described, Family
from ocrkit.providers.gcp import iam_policy as iam
from ocrkit.providers.gcp.model_reader import BucketIamClient, object_resource
from ocrkit.providers.gcp.planning import GcpAccess, GcpPlanContext, Names
from ocrkit.providers.gcp.session import is_not_found

KIND = "iam:trigger-grants"
VIEWER = "roles/storage.objectViewer"
CREATOR = "roles/storage.objectCreator"
PUBLISHER = "roles/pubsub.publisher"
PROJECT_PREREQUISITES = (
    "roles/eventarc.eventReceiver for the trigger's service account (Eventarc delivers events as it)",
    "roles/pubsub.publisher for the Cloud Storage service agent (service-PROJECT_NUMBER@gs-project-"
    "accounts.iam.gserviceaccount.com), which Cloud Storage triggers publish through",
)


@dataclass(frozen=True)
class Grant:
    """One binding: on `policy` ("bucket", "topic", "endpoint", "run") of `resource`; `resource` "" for
    the endpoint means: the one the deploy creates (known once it exists)."""

    policy: str
    resource: str
    role: str
    member: str
    title: str | None = None
    expression: str | None = None

    @property
    def condition(self) -> dict[str, str] | None:
        if self.title is None or self.expression is None:
            return None
        return {"title": self.title, "expression": self.expression, "description": "ocrkit bucket trigger"}


def _prefix(bucket: str, prefix: str) -> str:
    return f'resource.name.startsWith("{object_resource(bucket, prefix)}")'


def trigger_grants(
    names: Names, rule: TriggerRule, *, model_object: str | None, endpoint: str | None
) -> list[Grant]:
    """Every binding the trigger's account gets (`model_object`: serving function; else `endpoint`)."""
    member = f"serviceAccount:{names.trigger_account}"
    bucket, tag = names.input_bucket, f"ocrkit-{names.name}-trigger"
    grants = [
        Grant("bucket", bucket, VIEWER, member, f"{tag}-read", _prefix(bucket, rule.input_prefix)),
        Grant(
            "bucket",
            bucket,
            CREATOR,
            member,
            f"{tag}-write",
            f"{_prefix(bucket, rule.output_prefix)} || {_prefix(bucket, rule.error_prefix)}",
        ),
        Grant("topic", names.dead_letter_topic, PUBLISHER, member),
    ]
    if model_object is not None:
        expression = f'resource.name == "{object_resource(names.bucket, model_object)}"'
        grants.append(Grant("bucket", names.bucket, VIEWER, member, f"{tag}-model", expression))
    else:
        grants.append(Grant("endpoint", endpoint or "", iam.PREDICT_ROLE, member))
    grants.append(Grant("run", names.trigger_service, iam.INVOKER_ROLE, member))
    return grants


def _client(gcp: Any, policy: str) -> Any:
    if policy == "bucket":
        return BucketIamClient(gcp.storage())
    if policy == "topic":
        return gcp.topic_iam()
    if policy == "endpoint":
        return gcp.endpoint_iam()
    return gcp.run_iam()


def _present(gcp: Any, grant: Grant) -> bool:
    try:
        policy = iam.get_policy(_client(gcp, grant.policy), grant.resource)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        return False
    found = iam.find_binding(policy, grant.role, grant.member, grant.title)
    return found is not None and (grant.expression is None or found.condition.expression == grant.expression)


def _wanted(p: GcpPlanContext) -> list[Grant]:
    endpoint = p.seen.endpoint.name if p.seen.endpoint is not None else None
    model = p.d.artifact_name if p.d.holds_model else None
    return trigger_grants(p.names, p.d.spec.trigger.rule(), model_object=model, endpoint=endpoint)


def _record(grants: list[Grant]) -> ResourceRecord:
    member = grants[0].member
    return ResourceRecord(KIND, f"{member}#trigger", {"grants": [asdict(g) for g in grants]})


def plan_trigger_grants(p: GcpPlanContext) -> Step:
    p.wanted["trigger-access"] = None
    grants = _wanted(p)
    summary = "; ".join(
        f"{g.role} on {g.policy} {g.resource or '(the endpoint)'}"
        + (f" if {g.expression}" if g.expression else "")
        for g in grants
    )
    summary = f"{grants[0].member}: {summary} (nothing on the project)"
    if p.seen.trigger_function is not None and all(g.resource and _present(p.gcp, g) for g in grants):
        record = _record(grants)
        return Step(
            PlannedCall("trigger-access", KIND, "noop", summary), lambda ctx: StepResult(record=record)
        )

    def run(ctx: Context) -> StepResult:
        endpoint = ctx.values.get("endpoint")
        done = [
            g if g.resource or not endpoint else Grant(**{**asdict(g), "resource": endpoint}) for g in grants
        ]
        for g in done:
            iam.grant(_client(p.gcp, g.policy), g.resource, g.role, g.member, g.condition)
        return StepResult(record=_record(done))

    want = {"grants": [asdict(g) for g in grants]}
    calls = tuple(sorted({f"{g.policy}.setIamPolicy" for g in grants}))
    return Step(PlannedCall("trigger-access", KIND, "create", summary, want, calls), run)


def delete_trigger_grants(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    for raw in rec.attrs.get("grants", []):
        g = Grant(**raw)
        if not g.resource:
            continue
        try:
            iam.revoke(_client(a.gcp, g.policy), g.resource, g.role, g.member, g.title)
        except Exception as exc:
            if not is_not_found(exc):
                raise  # the resource is gone: so is its policy


def describe_trigger_grants(a: GcpAccess, rec: ResourceRecord) -> Described:
    grants = [Grant(**raw) for raw in rec.attrs.get("grants", [])]
    missing = [f"{g.role} on {g.resource}" for g in grants if not _present(a.gcp, g)]
    if missing:
        return Described(f"missing: {'; '.join(missing)}", healthy=False)
    return Described(f"{len(grants)} bindings, each on one resource (none on the project)")


FAMILY = Family[GcpPlanContext, GcpAccess](
    name="trigger-iam",
    models=(ResourceModel("trigger-access", KIND, ("trigger-function", "deployed-model", "artifact")),),
    plan={"trigger-access": plan_trigger_grants},
    delete={KIND: delete_trigger_grants},
    describe={KIND: describe_trigger_grants},
    discover=None,  # in the policies of resources the deployment owns (the state holds the record)
    rank={KIND: 1},
    delete_calls={
        KIND: ("storage.buckets.setIamPolicy", "pubsub.topics.setIamPolicy", "run.services.setIamPolicy")
    },
)
