"""Teardown against moto when the state file holds a resource kind this ocrkit does not know: it is
listed and skipped, the rest is deleted, and the file keeps the unknown record."""

from __future__ import annotations

import json

import boto3
import pytest

from ocrkit.deploy.records import ResourceRecord
from ocrkit.deploy.state import load_state, new_state
from ocrkit.providers.aws.names import TAG_KEY
from tests.providers.aws.conftest import REGION
from tests.providers.helpers import run

pytestmark = pytest.mark.slow

BUCKET = f"u1-123456789012-{REGION}"


def test_unknown_kind_in_state_is_listed_skipped_and_the_rest_deleted(aws, capsys) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_tagging(Bucket=BUCKET, Tagging={"TagSet": [{"Key": TAG_KEY, "Value": "u1"}]})
    state = new_state("u1", "aws")
    state.record("bucket", ResourceRecord("s3:bucket", BUCKET))
    state.record("gizmo", ResourceRecord("aws:quantum-gizmo", "qg-1"))
    state.save()

    code, out, err = run(capsys, "teardown", "--cloud", "aws", "--name", "u1", "--yes")
    assert code == 0, err
    assert "Traceback" not in out + err
    assert "aws:quantum-gizmo qg-1" in out and "Skipped" in out
    assert "Nothing billable remains" not in out
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == []  # went on and deleted the bucket
    kept = load_state("u1", "aws")
    assert kept is not None and set(kept.resources) == {"gizmo"}

    code, out, _ = run(capsys, "teardown", "--cloud", "aws", "--name", "u1", "--yes", "--format", "json")
    assert code == 0 and json.loads(out)["skipped"] == ["aws:quantum-gizmo qg-1"]
