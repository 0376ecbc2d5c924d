"""Cloud Storage: the bucket (uniform access, public access prevention, versioning, CMEK) and the
model artifact in it (`models/<sha12>/model.mar` for Vertex AI, `models/<sha12>/model-onnx.zip` when the
function holds the model), skipped when its sha256 is already there.

Plan, apply, delete, describe and find-by-label for `gcs:bucket` and `gcs:object`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, PlannedCall, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.providers.gcp.planning import (
    UPLOAD_CHUNK,
    GcpAccess,
    GcpPlanContext,
    UploadProgress,
)
from ocrkit.providers.gcp.spec import LABEL_KEY


def _bucket_wanted(p: GcpPlanContext) -> dict[str, Any]:
    b = p.d.spec.bucket
    return {
        "location": (b.location or p.d.spec.region).upper(),
        "uniform_access": True,
        "public_access_prevention": "enforced",
        "versioning": b.versioning,
        "kms_key": b.kms_key,
        "noncurrent_version_expiry_days": b.noncurrent_version_expiry_days,
    }


def plan_bucket(p: GcpPlanContext) -> Step:
    name = p.names.bucket
    p.wanted["bucket"] = name
    want = _bucket_wanted(p)
    existing = p.gcp.storage().lookup_bucket(name)
    summary = (
        f"{name} in {want['location']}: uniform access, public access prevention enforced, "
        f"versioning {'on' if want['versioning'] else 'off'}, "
        f"{'CMEK ' + want['kms_key'] if want['kms_key'] else 'Google-managed encryption'}"
    )
    if existing is not None:
        have = {
            "uniform_access": bool(existing.iam_configuration.uniform_bucket_level_access_enabled),
            "public_access_prevention": existing.iam_configuration.public_access_prevention,
            "versioning": bool(existing.versioning_enabled),
            "kms_key": existing.default_kms_key_name,
            "labels": dict(existing.labels or {}).get(LABEL_KEY),
        }
        target = {k: want[k] for k in ("uniform_access", "public_access_prevention", "versioning", "kms_key")}
        target["labels"] = p.names.name
        if have == target:
            rec = ResourceRecord("gcs:bucket", name, {"location": existing.location, **want})
            return Step(
                PlannedCall("bucket", "gcs:bucket", "noop", summary),
                lambda ctx: StepResult(record=rec, outputs={"bucket": name}),
            )
        update = PlannedCall("bucket", "gcs:bucket", "update", summary, want, ("storage.buckets.patch",))
        return Step(update, _make_bucket(p, False))
    calls = ("storage.buckets.insert", "storage.buckets.patch")
    return Step(PlannedCall("bucket", "gcs:bucket", "create", summary, want, calls), _make_bucket(p, True))


def _make_bucket(p: GcpPlanContext, create: bool) -> Callable[[Context], StepResult]:
    want = _bucket_wanted(p)
    names = p.names

    def configure(bucket: Any) -> Any:
        bucket.iam_configuration.uniform_bucket_level_access_enabled = True
        bucket.iam_configuration.public_access_prevention = "enforced"
        bucket.versioning_enabled = want["versioning"]
        bucket.labels = {**dict(bucket.labels or {}), **names.labels}
        if want["kms_key"]:
            bucket.default_kms_key_name = want["kms_key"]
        if want["noncurrent_version_expiry_days"]:
            bucket.lifecycle_rules = []
            bucket.add_lifecycle_delete_rule(
                days_since_noncurrent_time=want["noncurrent_version_expiry_days"]
            )
        return bucket

    def run(ctx: Context) -> StepResult:
        client = p.gcp.storage()
        if create:
            client.create_bucket(configure(client.bucket(names.bucket)), location=want["location"])
        # patched as well: the local emulator keeps only what a patch sets (on Google it is a no-op)
        configure(client.get_bucket(names.bucket)).patch()
        return StepResult(
            record=ResourceRecord("gcs:bucket", names.bucket, dict(want)),
            outputs={"bucket": names.bucket},
        )

    return run


def plan_artifact(p: GcpPlanContext) -> Step:
    art = p.d.artifact
    name = p.d.artifact_name
    p.wanted["artifact"] = name
    summary = f"gs://{p.names.bucket}/{name}, {art.size:,} bytes, sha256 {art.sha256[:12]}"
    attrs = {"bucket": p.names.bucket, "sha256": art.sha256, "size": art.size}
    bucket = p.gcp.storage().lookup_bucket(p.names.bucket)
    blob = bucket.get_blob(name) if bucket is not None else None
    if blob is not None and (blob.metadata or {}).get("sha256") == art.sha256:
        rec = ResourceRecord("gcs:object", name, attrs)
        return Step(
            PlannedCall("artifact", "gcs:object", "noop", summary + " (already uploaded)"),
            lambda ctx: StepResult(record=rec),
        )

    def run(ctx: Context) -> StepResult:
        target = p.gcp.storage().bucket(p.names.bucket).blob(name, chunk_size=UPLOAD_CHUNK)
        target.metadata = {"sha256": art.sha256}
        task = f"uploading {p.d.artifact_file}"
        with open(art.path, "rb") as fh:
            target.upload_from_file(
                UploadProgress(fh, art.size, ctx.events, task), size=art.size, content_type="application/zip"
            )
        return StepResult(record=ResourceRecord("gcs:object", name, attrs))

    calls = ("storage.objects.insert",)  # a resumable upload
    return Step(PlannedCall("artifact", "gcs:object", "create", summary, attrs, calls), run)


def delete_object(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    bucket = a.gcp.storage().bucket(rec.attrs.get("bucket") or a.names.bucket)
    for blob in bucket.list_blobs(prefix=rec.id, versions=True):
        if blob.name == rec.id:
            blob.delete()


def delete_bucket(a: GcpAccess, rec: ResourceRecord, events: Events) -> None:
    bucket = a.gcp.storage().lookup_bucket(rec.id)
    if bucket is None:
        return
    for blob in list(bucket.list_blobs(versions=True)):
        blob.delete()
    bucket.delete()


def describe_bucket(a: GcpAccess, rec: ResourceRecord) -> Described:
    got = a.gcp.storage().lookup_bucket(rec.id)
    return Described("exists" if got else "missing", healthy=got is not None)


def describe_object(a: GcpAccess, rec: ResourceRecord) -> Described:
    bucket = a.gcp.storage().lookup_bucket(rec.attrs.get("bucket") or "")
    blob = bucket.get_blob(rec.id) if bucket is not None else None
    if blob is None:
        return Described("missing", healthy=False)
    return Described(f"uploaded, {blob.size:,} bytes")


def owner_bucket(a: GcpAccess, rec: ResourceRecord) -> bool | None:
    """Ours when it carries this deployment's label (the name alone says nothing: anyone can hold it)."""
    bucket = a.gcp.storage().lookup_bucket(rec.id)
    return None if bucket is None else dict(bucket.labels or {}).get(LABEL_KEY) == a.names.name


def discover(a: GcpAccess) -> Found:
    return [
        ("bucket", ResourceRecord("gcs:bucket", bucket.name))
        for bucket in a.gcp.storage().list_buckets()
        if dict(bucket.labels or {}).get(LABEL_KEY) == a.names.name
        and dict(bucket.labels or {}).get("ocrkit-role") != "trigger-input"  # trigger_bucket's: kept if used
    ]


FAMILY = Family[GcpPlanContext, GcpAccess](
    name="gcs",
    models=(ResourceModel("bucket", "gcs:bucket"), ResourceModel("artifact", "gcs:object", ("bucket",))),
    plan={"bucket": plan_bucket, "artifact": plan_artifact},
    delete={"gcs:object": delete_object, "gcs:bucket": delete_bucket},
    describe={"gcs:bucket": describe_bucket, "gcs:object": describe_object},
    discover=discover,
    rank={"gcs:object": 6, "gcs:bucket": 7},
    owner={"gcs:bucket": owner_bucket},
    delete_calls={
        "gcs:object": ("storage.objects.delete",),
        "gcs:bucket": ("storage.objects.delete", "storage.buckets.delete"),
    },
)
