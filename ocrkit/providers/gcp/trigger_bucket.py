"""The bucket trigger's input bucket (`--trigger gcs`): `<name>-in-<project>`, where the user uploads images
under `trigger.input_prefix` and the function writes `results/` and `errors/`. Apart from the
model-artifact bucket (user data and model artifacts stay apart): uniform bucket-level access (IAM only,
so the function's prefix-conditioned grants are the whole story), public access prevention enforced,
encrypted (Google-managed, or the config's CMEK `bucket.kms_key`), labelled `ocrkit-deployment=<name>` and
`ocrkit-role=trigger-input` (so that the artifact bucket's teardown, which empties its bucket, never
touches this one).

Teardown deletes it only when it is empty: the uploads and their results are the user's. A bucket still
holding objects is kept, with one line saying so and how to empty it; `ocrkit teardown` run again after
that removes it.

Plan, apply, delete, describe and find-by-label for `gcs:input-bucket`.
"""

from __future__ import annotations

from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, PlannedCall, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.gcp.planning import GcpAccess, GcpPlanContext
from ocrkit.providers.gcp.spec import LABEL_KEY

KIND = "gcs:input-bucket"
ROLE_LABEL = "ocrkit-role"
ROLE = "trigger-input"


def is_input_bucket(bucket: Any) -> bool:
    return dict(bucket.labels or {}).get(ROLE_LABEL) == ROLE


def _wanted(p: GcpPlanContext) -> dict[str, Any]:
    b = p.d.spec.bucket
    return {
        "location": (b.location or p.d.spec.region).upper(),
        "uniform_access": True,
        "public_access_prevention": "enforced",
        "kms_key": b.kms_key,
        "labels": {**p.names.labels, ROLE_LABEL: ROLE},
    }


def plan_input_bucket(p: GcpPlanContext) -> Step:
    name = p.names.input_bucket
    p.wanted["input-bucket"] = name
    want = _wanted(p)
    rule = p.d.spec.trigger.rule()
    summary = (
        f"gs://{name} in {want['location']}: uploads under {rule.input_prefix} run the model, answers "
        f"under {rule.output_prefix}, failures under {rule.error_prefix}; uniform access, public access "
        f"prevention enforced, {'CMEK ' + want['kms_key'] if want['kms_key'] else 'Google-managed key'}"
    )
    existing = p.gcp.storage().lookup_bucket(name)
    record = ResourceRecord(KIND, name, dict(want))
    if existing is not None:
        have = {
            "uniform_access": bool(existing.iam_configuration.uniform_bucket_level_access_enabled),
            "public_access_prevention": existing.iam_configuration.public_access_prevention,
            "kms_key": existing.default_kms_key_name,
            "labels": {k: v for k, v in dict(existing.labels or {}).items() if k in want["labels"]},
        }
        if have == {k: want[k] for k in have}:
            return Step(
                PlannedCall("input-bucket", KIND, "noop", summary),
                lambda ctx: StepResult(record=record, outputs={"input_bucket": name}),
            )
        call = PlannedCall("input-bucket", KIND, "update", summary, want, ("storage.buckets.patch",))
        return Step(call, _make(p, False))
    calls = ("storage.buckets.insert", "storage.buckets.patch")
    return Step(PlannedCall("input-bucket", KIND, "create", summary, want, calls), _make(p, True))


def _make(p: GcpPlanContext, create: bool):
    want, name = _wanted(p), p.names.input_bucket

    def configure(bucket: Any) -> Any:
        bucket.iam_configuration.uniform_bucket_level_access_enabled = True
        bucket.iam_configuration.public_access_prevention = "enforced"
        bucket.labels = {**dict(bucket.labels or {}), **want["labels"]}
        if want["kms_key"]:
            bucket.default_kms_key_name = want["kms_key"]
        return bucket

    def run(ctx: Context) -> StepResult:
        client = p.gcp.storage()
        if create:
            client.create_bucket(configure(client.bucket(name)), location=want["location"])
        configure(client.get_bucket(name)).patch()  # the emulator keeps only what a patch sets
        return StepResult(record=ResourceRecord(KIND, name, dict(want)), outputs={"input_bucket": name})

    return run


def delete_input_bucket(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    """Deleted when empty; kept (with a note) while it holds the user's objects."""
    bucket = a.gcp.storage().lookup_bucket(rec.id)
    if bucket is None:
        return
    held = list(bucket.list_blobs(max_results=1000))
    if held:
        count = f"{len(held):,}" if len(held) < 1000 else "1,000 or more"
        a.notes.append(
            f"kept gs://{rec.id}: it holds {count} objects (your uploads and their results); empty it with "
            f"`gcloud storage rm -r 'gs://{rec.id}/**'` and run teardown again to delete it"
        )
        return
    bucket.delete()


def describe_input_bucket(a: GcpAccess, rec: ResourceRecord) -> Described:
    got = a.gcp.storage().lookup_bucket(rec.id)
    return Described("exists" if got else "missing", healthy=got is not None)


def owner_input_bucket(a: GcpAccess, rec: ResourceRecord) -> bool | None:
    bucket = a.gcp.storage().lookup_bucket(rec.id)
    return None if bucket is None else dict(bucket.labels or {}).get(LABEL_KEY) == a.names.name


def discover(a: GcpAccess) -> Found:
    return [
        ("input-bucket", ResourceRecord(KIND, bucket.name))
        for bucket in a.gcp.storage().list_buckets()
        if dict(bucket.labels or {}).get(LABEL_KEY) == a.names.name and is_input_bucket(bucket)
    ]


FAMILY = Family[GcpPlanContext, GcpAccess](
    name="trigger-bucket",
    models=(ResourceModel("input-bucket", KIND),),
    plan={"input-bucket": plan_input_bucket},
    delete={KIND: delete_input_bucket},
    describe={KIND: describe_input_bucket},
    discover=discover,
    rank={KIND: 7},
    owner={KIND: owner_input_bucket},
    delete_calls={KIND: ("storage.objects.list", "storage.buckets.delete")},
)
