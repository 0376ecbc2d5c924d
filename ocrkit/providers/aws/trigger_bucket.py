"""The bucket trigger's input bucket (`--trigger s3`): private, SSE-S3, public access blocked, tagged.
Kept at teardown while it holds objects: the uploads and their results are the user's.

Plan, apply, delete, describe and ownership for `s3:input-bucket`; part of the trigger family
(ocrkit.providers.aws.trigger).
"""

from __future__ import annotations

from typing import Any

from ocrkit.deploy.plan import Context, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described
from ocrkit.providers.aws.planning import (
    AwsAccess,
    AwsPlanContext,
    describe_or_none,
    gone,
    owned_by_tags,
    tag_dict,
)
from ocrkit.providers.aws.s3 import bucket_exists, create_bucket

BUCKET_KIND = "s3:input-bucket"

PUBLIC_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}
SSE_S3 = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]}


def _bucket_drift(p: AwsPlanContext, s3: Any) -> list[str]:
    name, drift = p.n.trigger_bucket, []
    pab = p.describe(s3.get_public_access_block, Bucket=name)
    if not all(((pab or {}).get("PublicAccessBlockConfiguration") or {}).get(k) for k in PUBLIC_BLOCK):
        drift.append("public access block")
    enc = p.describe(s3.get_bucket_encryption, Bucket=name)
    rules = ((enc or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    if not rules or not (rules[0].get("ApplyServerSideEncryptionByDefault") or {}).get("SSEAlgorithm"):
        drift.append("encryption")
    tags = tag_dict((p.describe(s3.get_bucket_tagging, Bucket=name) or {}).get("TagSet"))
    if any(tags.get(k) != v for k, v in p.n.tag_map.items()):
        drift.append("tags")
    return drift


def plan_trigger_bucket(p: AwsPlanContext) -> Step:
    s3, n = p.c("s3"), p.n
    summary = f"s3://{n.trigger_bucket}: the input bucket (uploads, results, errors); private, SSE-S3, tagged"
    exists = bucket_exists(s3, n.trigger_bucket)
    drift = _bucket_drift(p, s3) if exists else []
    rec = ResourceRecord(BUCKET_KIND, n.trigger_bucket, {"region": n.region})
    outputs = {"trigger_bucket": n.trigger_bucket}
    if exists and not drift:
        return p.step("trigger_bucket", BUCKET_KIND, "noop", summary, lambda ctx: StepResult(rec, outputs))

    def run(ctx: Context) -> StepResult:
        client = p.c("s3")
        if not exists:
            create_bucket(client, n.trigger_bucket, n.region)
        client.put_public_access_block(Bucket=n.trigger_bucket, PublicAccessBlockConfiguration=PUBLIC_BLOCK)
        client.put_bucket_encryption(Bucket=n.trigger_bucket, ServerSideEncryptionConfiguration=SSE_S3)
        client.put_bucket_tagging(Bucket=n.trigger_bucket, Tagging={"TagSet": n.tag_list()})
        return StepResult(rec, outputs)

    calls = (["s3.CreateBucket"] if not exists else []) + [
        "s3.PutPublicAccessBlock",
        "s3.PutBucketEncryption",
        "s3.PutBucketTagging",
    ]
    detail = summary if not exists else f"{summary} (fix: {', '.join(drift)})"
    action = "create" if not exists else "update"
    return p.step("trigger_bucket", BUCKET_KIND, action, detail, run, calls=calls, name=n.trigger_bucket)


def bucket_is_empty(a: AwsAccess, name: str) -> bool:
    page = a.c("s3").list_object_versions(Bucket=name, MaxKeys=1)
    return not (page.get("Versions") or page.get("DeleteMarkers"))


def kept_words(name: str) -> str:
    return (
        f"kept s3://{name}: it still holds objects (the uploads and their results are yours); to delete "
        f"it, empty it (aws s3 rm s3://{name} --recursive) and run the teardown again"
    )


def delete_trigger_bucket(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    """Deleted only when empty: ocrkit never deletes the user's uploads or their results."""
    if not bucket_is_empty(a, rec.id):
        events.info(kept_words(rec.id))
        return
    a.c("s3").delete_bucket(Bucket=rec.id)


def counted(a: AwsAccess, rec: ResourceRecord) -> bool:
    """Whether teardown really deletes `rec` (False: an input bucket still holding objects, kept)."""
    if rec.kind != BUCKET_KIND:
        return True
    try:
        return bucket_is_empty(a, rec.id)
    except Exception as exc:
        if gone(exc):
            return True
        raise


def describe_trigger_bucket(a: AwsAccess, rec: ResourceRecord) -> Described:
    s3 = a.c("s3")
    if describe_or_none(s3.head_bucket, Bucket=rec.id) is None:
        return Described("missing", healthy=False)
    listing = s3.list_objects_v2(Bucket=rec.id, MaxKeys=1000)
    count = listing.get("KeyCount", 0)
    more = "+" if listing.get("IsTruncated") else ""
    return Described(f"exists, {count}{more} object(s)")


def owner_trigger_bucket(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    s3 = a.c("s3")
    return owned_by_tags(a, lambda: tag_dict(s3.get_bucket_tagging(Bucket=rec.id).get("TagSet")))
