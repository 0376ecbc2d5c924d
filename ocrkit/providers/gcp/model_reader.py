"""The function's read access to its model (`serving: function`): one conditional binding in the bucket's
IAM policy, and nothing else.

`serviceAccount:<name>-fn@...` gets `roles/storage.objectViewer` on the deployment's bucket under the IAM
condition `resource.name == "projects/_/buckets/BUCKET/objects/models/<sha12>/model-onnx.zip"` (titled
`ocrkit-<name>-model`). Why this shape:

- Cloud Storage has no per-object IAM policy; with uniform bucket-level access (ocrkit's buckets always
  have it) a bucket-level binding with an IAM condition on `resource.name` is how one object is granted
  (https://cloud.google.com/storage/docs/access-control/iam#conditions; the object form of
  `resource.name` is `projects/_/buckets/BUCKET/objects/OBJECT`:
  https://cloud.google.com/iam/docs/conditions-attribute-reference#resource-name).
- objectViewer holds `storage.objects.get` and `storage.objects.list`; a list is checked against the
  bucket (`projects/_/buckets/BUCKET`), which the condition does not match, so the account can read that
  one object and cannot list, read another object, write or delete anything. No project-level role.
- A new model moves the condition to the new object (same title: replaced, not added).

Plan, apply, delete and describe for `gcs:binding`. The bucket's policy is read and written through the
storage client (`Bucket.get_iam_policy` / `set_iam_policy`), adapted to the google.iam.v1 call shape so
that ocrkit.providers.gcp.iam_policy's read-modify-write (etag, version 3, retries) is reused.
"""

from __future__ import annotations

from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, PlannedCall, ResourceRecord
from ocrkit.deploy.resource import Described, Family
from ocrkit.providers.gcp import iam_policy as iam
from ocrkit.providers.gcp.planning import GcpAccess, GcpPlanContext
from ocrkit.providers.gcp.session import is_not_found

KIND = "gcs:binding"
READER_ROLE = "roles/storage.objectViewer"


def object_resource(bucket: str, name: str) -> str:
    return f"projects/_/buckets/{bucket}/objects/{name}"


def condition(deployment: str, bucket: str, name: str) -> dict[str, str]:
    return {
        "title": f"ocrkit-{deployment}-model",
        "description": "the function may read its model object only",
        "expression": f'resource.name == "{object_resource(bucket, name)}"',
    }


class BucketIamClient:
    """A bucket's IAM policy with the GAPIC call shape (`request=` google.iam.v1 Get/SetIamPolicyRequest,
    answers a google.iam.v1 Policy); an etag mismatch (HTTP 412) becomes Conflict, as the retry expects."""

    def __init__(self, storage_client: Any) -> None:
        self.storage = storage_client

    def get_iam_policy(self, request: Any) -> Any:
        from google.iam.v1 import policy_pb2
        from google.protobuf import json_format

        bucket = self.storage.bucket(request.resource)
        got = bucket.get_iam_policy(requested_policy_version=iam.POLICY_VERSION)
        return json_format.ParseDict(got.to_api_repr(), policy_pb2.Policy(), ignore_unknown_fields=True)

    def set_iam_policy(self, request: Any) -> Any:
        from google.api_core import exceptions as gx
        from google.api_core.iam import Policy
        from google.protobuf import json_format

        bucket = self.storage.bucket(request.resource)
        body = json_format.MessageToDict(request.policy)
        body.setdefault("bindings", [])
        try:
            bucket.set_iam_policy(Policy.from_api_repr(body))
        except gx.PreconditionFailed as exc:
            raise gx.Conflict(str(exc)) from None
        return self.get_iam_policy(request)


def _client(gcp: Any) -> BucketIamClient:
    return BucketIamClient(gcp.storage())


def _record(bucket: str, member: str, cond: dict[str, str]) -> ResourceRecord:
    attrs = {"resource": bucket, "role": READER_ROLE, "member": member, **cond}
    return ResourceRecord(KIND, f"{bucket}#{READER_ROLE}#{cond['title']}", attrs)


def plan_model_reader(p: GcpPlanContext) -> Step:
    bucket, name = p.names.bucket, p.d.artifact_name
    member = f"serviceAccount:{p.names.service_account}"
    cond = condition(p.names.name, bucket, name)
    p.wanted["model-reader"] = None
    summary = (
        f"{member}: {READER_ROLE} on gs://{bucket}/{name} only (IAM condition on the object's name: "
        "no other object, no listing, no writes)"
    )
    if p.gcp.storage().lookup_bucket(bucket) is not None:
        policy = iam.get_policy(_client(p.gcp), bucket)
        found = iam.find_binding(policy, READER_ROLE, member, cond["title"])
        if found is not None and found.condition.expression == cond["expression"]:
            record = _record(bucket, member, cond)
            return Step(
                PlannedCall("model-reader", KIND, "noop", summary), lambda ctx: StepResult(record=record)
            )

    def run(ctx: Context) -> StepResult:
        iam.grant(_client(p.gcp), bucket, READER_ROLE, member, cond)
        return StepResult(record=_record(bucket, member, cond))

    want = {"member": member, "role": READER_ROLE, "condition": cond["expression"]}
    calls = ("storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy")
    return Step(PlannedCall("model-reader", KIND, "create", summary, want, calls), run)


def delete_model_reader(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    bucket = rec.attrs.get("resource") or a.names.bucket
    if a.gcp.storage().lookup_bucket(bucket) is None:
        return  # the bucket (and its policy) is gone already
    iam.revoke(_client(a.gcp), bucket, READER_ROLE, rec.attrs.get("member", ""), rec.attrs.get("title"))


def describe_model_reader(a: GcpAccess, rec: ResourceRecord) -> Described:
    bucket = rec.attrs.get("resource") or ""
    try:
        policy = iam.get_policy(_client(a.gcp), bucket)
    except Exception as exc:
        if not is_not_found(exc):
            raise
        return Described("missing (the bucket is gone)", healthy=False)
    found = iam.find_binding(policy, READER_ROLE, rec.attrs.get("member", ""), rec.attrs.get("title"))
    if found is None:
        return Described(f"missing: {rec.attrs.get('member')} cannot read the model", healthy=False)
    return Described(f"{rec.attrs.get('member')}: {READER_ROLE} if {found.condition.expression}")


FAMILY = Family[GcpPlanContext, GcpAccess](
    name="model-reader",
    models=(ResourceModel("model-reader", KIND, ("service-account", "artifact")),),
    plan={"model-reader": plan_model_reader},
    delete={KIND: delete_model_reader},
    describe={KIND: describe_model_reader},
    discover=None,  # it lives in the bucket's policy: deleting the bucket removes it
    rank={KIND: 1},
    delete_calls={KIND: ("storage.buckets.getIamPolicy", "storage.buckets.setIamPolicy")},
)
