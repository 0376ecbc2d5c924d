"""Bucket URLs (``s3://bucket/prefix``, ``gs://bucket/prefix``) parsed once, checked early."""

from __future__ import annotations

from dataclasses import dataclass

from ocrkit.errors import OcrkitError

SCHEMES = ("s3", "gs")


@dataclass(frozen=True)
class BucketUrl:
    scheme: str
    bucket: str
    key: str  # an object key or a prefix; "" for the whole bucket

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}"

    def child(self, key: str) -> BucketUrl:
        return BucketUrl(self.scheme, self.bucket, key)


def is_bucket_url(text: str) -> bool:
    return any(str(text).startswith(f"{s}://") for s in SCHEMES)


def parse_bucket_url(text: str) -> BucketUrl:
    scheme, sep, rest = str(text).partition("://")
    if not sep or scheme not in SCHEMES:
        raise OcrkitError(f"{text!r} is not a bucket URL (s3://bucket/prefix or gs://bucket/prefix)")
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise OcrkitError(f"{text!r} names no bucket (s3://bucket/prefix or gs://bucket/prefix)")
    return BucketUrl(scheme, bucket, key)
