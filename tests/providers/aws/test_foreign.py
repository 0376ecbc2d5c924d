"""Same-named resources ocrkit did not create (no `ocrkit:deployment` tag), against moto: teardown leaves
them alone and says so; deploy stops before any write unless `--adopt` is given."""

from __future__ import annotations

import json

import boto3
import pytest

from ocrkit.providers.aws.names import TAG_KEY
from tests.providers.aws.conftest import REGION
from tests.providers.helpers import run

pytestmark = pytest.mark.slow

ACCOUNT = "123456789012"
NAME = "f2"
BUCKET = f"{NAME}-{ACCOUNT}-{REGION}"
ROLE = f"{NAME}-lambda-role"
FUNCTION = f"{NAME}-gateway"
LOG_GROUP = f"/aws/lambda/{FUNCTION}"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}
OWN_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
}


def c(service: str):
    return boto3.client(service, region_name=REGION)


def make_foreign() -> None:
    """A customer's own resources that merely match ocrkit's naming pattern for deployment `f2`."""
    s3 = c("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=BUCKET, Key="precious/customer-data.csv", Body=b"id,name\n1,Anna\n")
    iam = c("iam")
    iam.create_role(
        RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(TRUST), Tags=[{"Key": "team", "Value": "x"}]
    )
    iam.put_role_policy(RoleName=ROLE, PolicyName="their-own", PolicyDocument=json.dumps(OWN_POLICY))
    c("lambda").create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=f"arn:aws:iam::{ACCOUNT}:role/{ROLE}",
        Handler="index.handler",
        Code={"ZipFile": _zip()},
    )
    c("logs").create_log_group(logGroupName=LOG_GROUP)


def _zip() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("index.py", "def handler(event, context):\n    return 'theirs'\n")
    return buf.getvalue()


def assert_foreign_intact() -> None:
    body = c("s3").get_object(Bucket=BUCKET, Key="precious/customer-data.csv")["Body"].read()
    assert body == b"id,name\n1,Anna\n"
    assert TAG_KEY not in bucket_tags()
    role = c("iam").get_role(RoleName=ROLE)["Role"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert c("iam").list_role_policies(RoleName=ROLE)["PolicyNames"] == ["their-own"]
    assert {t["Key"] for t in c("iam").list_role_tags(RoleName=ROLE)["Tags"]} == {"team"}
    fn = c("lambda").get_function(FunctionName=FUNCTION)
    assert TAG_KEY not in (fn.get("Tags") or {})
    assert fn["Configuration"]["Handler"] == "index.handler"
    groups = c("logs").describe_log_groups(logGroupNamePrefix=LOG_GROUP)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [LOG_GROUP]


def bucket_tags() -> dict[str, str]:
    try:
        return {t["Key"]: t["Value"] for t in c("s3").get_bucket_tagging(Bucket=BUCKET)["TagSet"]}
    except Exception as exc:
        if "NoSuchTagSet" not in str(exc):
            raise
        return {}


def test_teardown_of_a_name_never_deployed_leaves_foreign_resources(aws, capsys) -> None:
    make_foreign()
    code, out, err = run(capsys, "teardown", "--cloud", "aws", "--name", NAME, "--yes")
    assert code == 0, err
    assert_foreign_intact()
    assert "Deleted 0 resource(s)" in out
    assert "Not ocrkit's, left alone" in out
    for item in (
        f"s3:bucket {BUCKET}",
        f"iam:role {ROLE}",
        f"lambda:function {FUNCTION}",
        f"logs:log-group {LOG_GROUP}",
    ):
        assert item in out
    assert "Nothing billable remains" not in out

    code, out, _ = run(capsys, "teardown", "--cloud", "aws", "--name", NAME, "--yes", "--format", "json")
    doc = json.loads(out)
    assert doc["deleted"] == [] and doc["remaining"] == []
    assert sorted(doc["left_alone"]) == sorted(
        [
            f"s3:bucket {BUCKET}",
            f"iam:role {ROLE}",
            f"lambda:function {FUNCTION}",
            f"logs:log-group {LOG_GROUP}",
        ]
    )
    assert_foreign_intact()


def test_deploy_stops_before_any_write_when_foreign_resources_are_in_the_way(
    aws, capsys, fake_weights
) -> None:
    make_foreign()
    base = ["deploy", "--cloud", "aws", "--name", NAME, "--weights", str(fake_weights)]
    code, out, err = run(capsys, *base, "--yes")
    assert code == 2
    assert "not made by ocrkit for 'f2'" in err and "--adopt" in err and "Traceback" not in err
    assert "NOT ocrkit's" in out  # the plan says so, row by row
    assert_foreign_intact()
    assert [b["Name"] for b in c("s3").list_buckets()["Buckets"]] == [BUCKET]
    assert [r["RoleName"] for r in c("iam").list_roles()["Roles"]] == [ROLE]  # the other role not made
    assert not (aws_state_dir() / f"{NAME}-aws.json").exists()
    # the failed run removed what it created here: the 2 MB build folder, the empty state folder
    assert not (aws_state_dir().parent).exists()

    code, out, _ = run(capsys, *base, "--dry-run", "--format", "json")
    assert code == 2
    code, out, _ = run(capsys, *base, "--dry-run", "--adopt", "--format", "json")
    assert code == 0
    plan = json.loads(out)["plan"]
    assert sorted(plan["foreign"]) == sorted(
        [
            f"s3:bucket {BUCKET}",
            f"iam:role {ROLE}",
            f"lambda:function {FUNCTION}",
            f"logs:log-group {LOG_GROUP}",
        ]
    )
    adopted = {call["resource"]: call for call in plan["calls"] if call["summary"].startswith("ADOPT")}
    assert set(adopted) == {"bucket", "lambda_role", "function", "lambda_log_group"}
    assert adopted["lambda_role"]["action"] == "update" and "trust" in adopted["lambda_role"]["summary"]
    assert "code" in adopted["function"]["summary"]
    assert_foreign_intact()


def aws_state_dir():
    import os
    from pathlib import Path

    return Path(os.environ["OCRKIT_STATE_DIR"])


def test_adopt_takes_the_foreign_resources_over(aws, capsys, fake_weights) -> None:
    make_foreign()
    base = ["deploy", "--cloud", "aws", "--name", NAME, "--weights", str(fake_weights), "--adopt", "--yes"]
    code, out, err = run(capsys, *base)
    assert code == 0, err
    assert "ADOPT" in out
    assert bucket_tags().get(TAG_KEY) == NAME
    assert {t["Key"]: t["Value"] for t in c("iam").list_role_tags(RoleName=ROLE)["Tags"]}[TAG_KEY] == NAME
    assert c("lambda").get_function(FunctionName=FUNCTION)["Tags"][TAG_KEY] == NAME
    assert c("logs").list_tags_log_group(logGroupName=LOG_GROUP)["tags"][TAG_KEY] == NAME
    # the role holds ocrkit's policy only; the data already in the bucket is kept
    assert c("iam").list_role_policies(RoleName=ROLE)["PolicyNames"] == [f"{NAME}-least-privilege"]
    assert c("s3").get_object(Bucket=BUCKET, Key="precious/customer-data.csv")["Body"].read()
    code, out, _ = run(
        capsys, "deploy", "--cloud", "aws", "--name", NAME, "--weights", str(fake_weights), "--dry-run"
    )
    assert code == 0 and "0 to create, 0 to update" in out  # now ocrkit's: nothing in the way
