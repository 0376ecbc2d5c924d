"""S3: the bucket (private, encrypted, versioned, tagged), the model artifact in it, and its TLS-only policy.

Plan, apply, delete, describe and find-by-name for `s3:bucket`, `s3:object` and `s3:bucket-policy`. A
bucket is emptied of every object version and delete marker before it is deleted.
"""

from __future__ import annotations

import json
from typing import Any

from ocrkit.deploy.plan import Context, ResourceModel, Step, StepResult
from ocrkit.deploy.records import Events, ResourceRecord
from ocrkit.deploy.resource import Described, Family, Found
from ocrkit.errors import OcrkitError
from ocrkit.providers.aws import policies
from ocrkit.providers.aws.planning import (
    AwsAccess,
    AwsPlanContext,
    describe_or_none,
    gone,
    mb,
    owned_by_tags,
    tag_dict,
)
from ocrkit.providers.aws.session import error_code


def plan_bucket(p: AwsPlanContext) -> Step:
    s3 = p.c("s3")
    n, b = p.n, p.spec.bucket
    encryption = "SSE-KMS" if b.encryption == "aws:kms" else "SSE-S3"
    summary = f"s3://{n.bucket}: private, {encryption}, versioned, tagged"
    exists = bucket_exists(s3, n.bucket)
    if not exists:
        return p.step(
            "bucket",
            "s3:bucket",
            "create",
            summary,
            _apply_bucket(p, create=True),
            calls=_bucket_calls(p, create=True),
            name=n.bucket,
            encryption=encryption,
        )
    drift = _bucket_drift(p, s3)
    if drift:
        return p.step(
            "bucket",
            "s3:bucket",
            "update",
            f"{summary} (fix: {', '.join(drift)})",
            _apply_bucket(p, create=False),
            calls=_bucket_calls(p, create=False),
            name=n.bucket,
            drift=drift,
        )
    return p.step("bucket", "s3:bucket", "noop", summary, _bucket_noop(p), name=n.bucket)


def _bucket_calls(p: AwsPlanContext, *, create: bool) -> list[str]:
    calls = ["s3.CreateBucket"] if create else []
    calls += ["s3.PutPublicAccessBlock", "s3.PutBucketEncryption", "s3.PutBucketVersioning"]
    calls += ["s3.PutBucketTagging"]
    return calls + (["s3.PutBucketLifecycleConfiguration"] if _lifecycle_rules(p) else [])


def upload_calls(size: int) -> list[str]:
    """boto3's upload_file: one PutObject, or a multipart upload from its 8 MiB threshold on."""
    if size >= 8 * 1024 * 1024:
        return ["s3.CreateMultipartUpload", "s3.UploadPart", "s3.CompleteMultipartUpload"]
    return ["s3.PutObject"]


def _bucket_noop(p: AwsPlanContext):
    rec = ResourceRecord("s3:bucket", p.n.bucket, {"region": p.n.region})
    return lambda ctx: StepResult(rec, {"bucket": p.n.bucket})


def bucket_exists(s3: Any, name: str) -> bool:
    """Whether the bucket exists and is this account's; a bucket another account holds is one line."""
    try:
        s3.head_bucket(Bucket=name)
        return True
    except Exception as exc:
        code = error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            return False
        if code in ("403", "AccessDenied"):
            raise OcrkitError(
                f"bucket {name} exists but this account cannot use it",
                hint="bucket names are global: it belongs to another account, or your identity lacks "
                "s3:ListBucket on it; pick another deployment name with --name",
            ) from None
        raise


def _encryption_rule(p: AwsPlanContext) -> dict[str, Any]:
    b = p.spec.bucket
    if b.encryption == "aws:kms":
        return {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": b.kms_key_arn,
            },
            "BucketKeyEnabled": True,
        }
    return {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}


def _lifecycle_rules(p: AwsPlanContext) -> list[dict[str, Any]]:
    days = p.spec.bucket.noncurrent_version_expiry_days
    if days is None:
        return []
    return [
        {
            "ID": "expire-old-artifact-versions",
            "Status": "Enabled",
            "Filter": {"Prefix": p.n.artifact_prefix},
            "NoncurrentVersionExpiration": {"NoncurrentDays": days},
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
        }
    ]


def _bucket_drift(p: AwsPlanContext, s3) -> list[str]:
    n = p.n
    drift = []
    pab = p.describe(s3.get_public_access_block, Bucket=n.bucket)
    conf = (pab or {}).get("PublicAccessBlockConfiguration") or {}
    if not all(
        conf.get(k)
        for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
    ):
        drift.append("public access block")
    enc = p.describe(s3.get_bucket_encryption, Bucket=n.bucket)
    rules = ((enc or {}).get("ServerSideEncryptionConfiguration") or {}).get("Rules") or []
    want = _encryption_rule(p)["ApplyServerSideEncryptionByDefault"]
    have = (rules[0].get("ApplyServerSideEncryptionByDefault") or {}) if rules else {}
    if have.get("SSEAlgorithm") != want["SSEAlgorithm"] or (
        want.get("KMSMasterKeyID") and have.get("KMSMasterKeyID") != want["KMSMasterKeyID"]
    ):
        drift.append("encryption")
    if s3.get_bucket_versioning(Bucket=n.bucket).get("Status") != "Enabled":
        drift.append("versioning")
    tags = p.describe(s3.get_bucket_tagging, Bucket=n.bucket)
    if {t["Key"]: t["Value"] for t in (tags or {}).get("TagSet", [])}.get(
        next(iter(n.tag_map))
    ) != n.deployment:
        drift.append("tags")
    if _lifecycle_rules(p):
        lc = p.describe(s3.get_bucket_lifecycle_configuration, Bucket=n.bucket)
        ids = {r.get("ID") for r in (lc or {}).get("Rules", [])}
        if "expire-old-artifact-versions" not in ids:
            drift.append("lifecycle")
    return drift


def create_bucket(s3: Any, name: str, region: str) -> None:
    """A bucket owned by this account (object ACLs off), in `region`; returns once S3 reports it."""
    kwargs: dict[str, Any] = {"Bucket": name, "ObjectOwnership": "BucketOwnerEnforced"}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    try:
        s3.create_bucket(**kwargs)
    except Exception as exc:
        if error_code(exc) != "BucketAlreadyOwnedByYou":
            raise
    s3.get_waiter("bucket_exists").wait(Bucket=name, WaiterConfig={"Delay": 2, "MaxAttempts": 30})


def _apply_bucket(p: AwsPlanContext, *, create: bool):
    n = p.n

    def run(ctx: Context) -> StepResult:
        s3 = p.c("s3")
        if create:
            create_bucket(s3, n.bucket, n.region)
        s3.put_public_access_block(
            Bucket=n.bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        s3.put_bucket_encryption(
            Bucket=n.bucket, ServerSideEncryptionConfiguration={"Rules": [_encryption_rule(p)]}
        )
        s3.put_bucket_versioning(Bucket=n.bucket, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_tagging(Bucket=n.bucket, Tagging={"TagSet": n.tag_list()})
        rules = _lifecycle_rules(p)
        if rules:
            s3.put_bucket_lifecycle_configuration(Bucket=n.bucket, LifecycleConfiguration={"Rules": rules})
        return StepResult(ResourceRecord("s3:bucket", n.bucket, {"region": n.region}), {"bucket": n.bucket})

    return run


def plan_artifact(p: AwsPlanContext) -> Step:
    s3 = p.c("s3")
    key, art = p.d.artifact_key, p.d.artifact
    summary = f"{p.d.artifact_label}, {mb(art.size)}, sha256 {art.sha256[:12]}..., to s3://{p.n.bucket}/"
    present = False
    if not p.creating("bucket"):
        listing = s3.list_objects_v2(Bucket=p.n.bucket, Prefix=key, MaxKeys=1)
        present = any(o.get("Key") == key for o in listing.get("Contents", []))
    attrs = {"bucket": p.n.bucket, "sha256": art.sha256, "size": art.size}
    if present:
        # the key holds the full sha256: the same key is the same bytes
        rec = ResourceRecord("s3:object", key, attrs)
        return p.step(
            "artifact", "s3:object", "noop", summary, lambda ctx: StepResult(rec, {"artifact_key": key})
        )
    previous = p.record("artifact")
    action = "update" if previous is not None else "create"

    def run(ctx: Context) -> StepResult:
        done = 0

        def progress(chunk: int) -> None:
            nonlocal done
            done += chunk
            ctx.events.progress(f"upload {p.d.artifact_label}", done, art.size)

        ctx.events.progress(f"upload {p.d.artifact_label}", 0, art.size)
        extra: dict[str, Any] = {
            "Metadata": {"sha256": art.sha256},
            "Tagging": f"ocrkit%3Adeployment={p.n.deployment}",
            "ContentType": "application/gzip",
        }
        p.c("s3").upload_file(str(art.path), p.n.bucket, key, ExtraArgs=extra, Callback=progress)
        return StepResult(ResourceRecord("s3:object", key, attrs), {"artifact_key": key})

    calls = upload_calls(art.size)
    upload = f"upload {summary}"
    return p.step("artifact", "s3:object", action, upload, run, calls=calls, size=art.size, sha256=art.sha256)


def plan_bucket_policy(p: AwsPlanContext) -> Step:
    s3 = p.c("s3")
    n, doc = p.n, p.d.bucket_policy
    summary = "deny every request made without TLS (aws:SecureTransport false)"
    rec = ResourceRecord("s3:bucket-policy", n.bucket)
    current = None
    if not p.creating("bucket"):
        got = p.describe(s3.get_bucket_policy, Bucket=n.bucket)
        current = json.loads(got["Policy"]) if got else None
    if current is not None and policies.canonical(current) == policies.canonical(doc):
        return p.step("bucket_policy", "s3:bucket-policy", "noop", summary, lambda ctx: StepResult(rec))

    def run(ctx: Context) -> StepResult:
        p.c("s3").put_bucket_policy(Bucket=n.bucket, Policy=json.dumps(doc))
        return StepResult(rec)

    return p.step(
        "bucket_policy",
        "s3:bucket-policy",
        "create" if current is None else "update",
        summary,
        run,
        calls=["s3.PutBucketPolicy"],
        policy=doc,
    )


def delete_bucket_policy(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    a.c("s3").delete_bucket_policy(Bucket=rec.id)


def delete_object(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    bucket = rec.attrs.get("bucket", a.names.bucket)
    _delete_versions(a, bucket, prefix=rec.id, exact=True)


def delete_bucket(a: AwsAccess, rec: ResourceRecord, events: Events) -> None:
    s3 = a.c("s3")
    try:
        s3.delete_bucket_policy(Bucket=rec.id)  # first: a TLS-only Deny must not stand in the way
    except Exception as exc:
        if not gone(exc):
            raise
    count = _delete_versions(a, rec.id)
    if count:
        events.info(f"deleted {count} object version(s) and delete marker(s) from {rec.id}")
    s3.delete_bucket(Bucket=rec.id)


def _delete_versions(a: AwsAccess, bucket: str, prefix: str = "", exact: bool = False) -> int:
    s3 = a.c("s3")
    count = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        items = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            if not exact or v["Key"] == prefix
        ]
        for start in range(0, len(items), 1000):
            batch = items[start : start + 1000]
            result = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
            errors = result.get("Errors") or []
            if errors:
                first = errors[0]
                where = f"s3://{bucket}/{first.get('Key')}"
                raise RuntimeError(f"could not delete {where}: {first.get('Code')} {first.get('Message')}")
            count += len(batch)
    return count


def describe_bucket(a: AwsAccess, rec: ResourceRecord) -> Described:
    found = describe_or_none(a.c("s3").head_bucket, Bucket=rec.id) is not None
    return Described("exists" if found else "missing")


def describe_object(a: AwsAccess, rec: ResourceRecord) -> Described:
    bucket = rec.attrs.get("bucket")
    listing = a.c("s3").list_objects_v2(Bucket=bucket, Prefix=rec.id, MaxKeys=1)
    present = any(o["Key"] == rec.id for o in listing.get("Contents", []))
    return Described(f"uploaded, {rec.attrs.get('size', 0):,} bytes" if present else "missing")


def describe_bucket_policy(a: AwsAccess, rec: ResourceRecord) -> Described:
    got = describe_or_none(a.c("s3").get_bucket_policy, Bucket=rec.id)
    return Described("TLS only" if got else "missing")


def owner_bucket(a: AwsAccess, rec: ResourceRecord) -> bool | None:
    s3 = a.c("s3")
    return owned_by_tags(a, lambda: tag_dict(s3.get_bucket_tagging(Bucket=rec.id).get("TagSet")))


def discover(a: AwsAccess) -> Found:
    """The bucket's name is fixed by deployment, account and region."""
    try:
        a.c("s3").head_bucket(Bucket=a.names.bucket)
        return [("bucket", ResourceRecord("s3:bucket", a.names.bucket))]
    except Exception as exc:
        if error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise
    return []


FAMILY = Family[AwsPlanContext, AwsAccess](
    name="s3",
    models=(
        ResourceModel("bucket", "s3:bucket"),
        ResourceModel("artifact", "s3:object", ("bucket",)),
        ResourceModel("bucket_policy", "s3:bucket-policy", ("bucket", "artifact")),
    ),
    plan={"bucket": plan_bucket, "artifact": plan_artifact, "bucket_policy": plan_bucket_policy},
    delete={
        "s3:bucket-policy": delete_bucket_policy,
        "s3:object": delete_object,
        "s3:bucket": delete_bucket,
    },
    describe={
        "s3:bucket": describe_bucket,
        "s3:object": describe_object,
        "s3:bucket-policy": describe_bucket_policy,
    },
    discover=discover,
    rank={"s3:bucket-policy": 13, "s3:object": 14, "s3:bucket": 15},
    owner={"s3:bucket": owner_bucket},
    delete_calls={
        "s3:bucket-policy": ("s3.DeleteBucketPolicy",),
        "s3:object": ("s3.DeleteObjects",),
        "s3:bucket": ("s3.DeleteBucketPolicy", "s3.DeleteObjects", "s3.DeleteBucket"),
    },
)
