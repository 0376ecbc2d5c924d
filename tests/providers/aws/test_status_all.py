"""`ocrkit status --all` against moto: deployments found by their tag alone (no state file), their serving
option, $/hour and last invocation from CloudWatch `Invocations` data points the test puts at known times,
the idle flag with the exact teardown command, `--fail-on-idle` exit codes, and the JSON document."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import boto3
import pytest

from ocrkit.deploy.inventory import metric_window
from tests.providers.aws.conftest import REGION, Deployer
from tests.providers.helpers import run

TAG = "ocrkit:deployment"
ROLE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"Service": "sagemaker.amazonaws.com"}, "Action": "sts:AssumeRole"}
    ],
}


def _role(name: str) -> str:
    iam = boto3.client("iam", region_name=REGION)
    return iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(ROLE_POLICY))["Role"]["Arn"]


def endpoint(
    name: str,
    *,
    instance_type: str | None = "ml.g4dn.xlarge",
    count: int = 1,
    serverless: bool = False,
    tags: dict[str, str] | None = None,
    region: str = REGION,
) -> str:
    """A SageMaker model, config and endpoint named as ocrkit names them, carrying `tags`."""
    sm = boto3.client("sagemaker", region_name=region)
    tag_list = [{"Key": k, "Value": v} for k, v in (tags if tags is not None else {TAG: name}).items()]
    sm.create_model(
        ModelName=f"{name}-model-000000000000",
        PrimaryContainer={"Image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/x:1"},
        ExecutionRoleArn=_role(f"{name}-sagemaker-role"),
        Tags=tag_list,
    )
    variant = {"VariantName": "AllTraffic", "ModelName": f"{name}-model-000000000000"}
    if serverless:
        variant["ServerlessConfig"] = {"MemorySizeInMB": 3072, "MaxConcurrency": 5}
    else:
        variant.update(InstanceType=instance_type, InitialInstanceCount=count)
    sm.create_endpoint_config(
        EndpointConfigName=f"{name}-config-000000000000", ProductionVariants=[variant], Tags=tag_list
    )
    sm.create_endpoint(
        EndpointName=f"{name}-endpoint", EndpointConfigName=f"{name}-config-000000000000", Tags=tag_list
    )
    return f"{name}-endpoint"


def function(name: str, tags: dict[str, str]) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("handler.py", "def handler(event, context):\n    return {}\n")
    boto3.client("lambda", region_name=REGION).create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=_role(f"{name}-role"),
        Handler="handler.handler",
        Code={"ZipFile": buf.getvalue()},
        MemorySize=2048,
        Tags=tags,
    )
    return name


def invoked(namespace: str, dims: dict[str, str], at: datetime, count: float = 3) -> None:
    boto3.client("cloudwatch", region_name=REGION).put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": "Invocations",
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": at,
                "Value": count,
                "Unit": "Count",
            }
        ],
    )


def status_all(capsys, *extra: str) -> tuple[int, dict, str]:
    code, out, err = run(capsys, "status", "--all", "--cloud", "aws", "--format", "json", *extra)
    return code, (json.loads(out) if out.strip() else {}), err


def test_nothing_deployed_is_an_empty_list_and_exit_0(aws, capsys) -> None:
    code, doc, err = status_all(capsys, "--fail-on-idle")
    assert code == 0, err
    assert doc["deployments"] == [] and doc["idle"] == [] and doc["hourly_cost"] == "0"
    code, out, _ = run(capsys, "status", "--all", "--cloud", "aws")
    assert code == 0 and "No ocrkit deployment found." in out


def test_idle_and_busy_endpoints_are_told_apart_by_their_invocations(aws, capsys) -> None:
    now = datetime.now(UTC)
    endpoint("busy")
    endpoint("forgotten")
    endpoint("cheap", instance_type="ml.c5.xlarge", tags={TAG: "cheap", "ocrkit:serving": "cpu-endpoint"})
    invoked(
        "AWS/SageMaker",
        {"EndpointName": "busy-endpoint", "VariantName": "AllTraffic"},
        now - timedelta(hours=30),
    )
    invoked(
        "AWS/SageMaker",
        {"EndpointName": "busy-endpoint", "VariantName": "AllTraffic"},
        now - timedelta(hours=2),
    )
    invoked(
        "AWS/SageMaker",
        {"EndpointName": "forgotten-endpoint", "VariantName": "AllTraffic"},
        now - timedelta(hours=30),
    )
    # someone else's metric with the same endpoint name in another dimension set does not count
    invoked("AWS/SageMaker", {"EndpointName": "forgotten-endpoint"}, now - timedelta(hours=1))

    code, doc, err = status_all(capsys)
    assert code == 0, err
    rows = {r["name"]: r for r in doc["deployments"]}
    assert set(rows) == {"busy", "forgotten", "cheap"}
    period = timedelta(seconds=metric_window(now, 24).period_s)

    busy = rows["busy"]
    last = datetime.fromisoformat(busy["last_invocation"])
    assert now - timedelta(hours=2) <= last <= now - timedelta(hours=2) + period + timedelta(minutes=1)
    assert busy["verdict"] == "active" and busy["teardown"] is None
    assert busy["serving"] == "gpu-endpoint" and busy["serving_from"] == "inferred"
    assert busy["region"] == REGION and "ml.g4dn.xlarge x 1" in busy["running"]
    # priced through the shipped catalog: ml.g4dn.xlarge real-time inference in us-east-1
    hourly = Decimal(busy["hourly_cost"])
    assert hourly > 0 and Decimal(busy["monthly_run_rate"]) == hourly * 720

    forgotten = rows["forgotten"]
    last = datetime.fromisoformat(forgotten["last_invocation"])
    assert now - timedelta(hours=30) <= last <= now - timedelta(hours=30) + period + timedelta(minutes=1)
    assert forgotten["verdict"] == "idle" and 28 < forgotten["idle_hours"] < 31
    assert forgotten["teardown"] == f"ocrkit teardown --cloud aws --name forgotten --region {REGION} --yes"

    cheap = rows["cheap"]  # never invoked, created just now: not idle yet
    assert cheap["serving"] == "cpu-endpoint" and cheap["serving_from"] == "tag"
    assert cheap["last_invocation"] is None and cheap["verdict"] == "active"
    assert "never invoked" in cheap["reason"]
    assert doc["idle"] == ["forgotten"]

    # a shorter threshold makes the 2-hour-old one idle too; --fail-on-idle exits 1 with one line
    code, doc, err = status_all(capsys, "--idle-hours", "1", "--fail-on-idle")
    assert code == 1
    assert sorted(doc["idle"]) == ["busy", "forgotten"]  # cheap was created seconds ago
    assert len(err.strip().splitlines()) == 1 and "idle ocrkit deployment(s)" in err
    assert "busy" in err and "forgotten" in err


def test_the_table_flags_the_idle_one_with_its_teardown_command(aws, capsys) -> None:
    now = datetime.now(UTC)
    endpoint("forgotten")
    invoked(
        "AWS/SageMaker",
        {"EndpointName": "forgotten-endpoint", "VariantName": "AllTraffic"},
        now - timedelta(days=3),
    )
    code, out, err = run(capsys, "status", "--all", "--cloud", "aws", "--fail-on-idle")
    assert code == 1
    assert "forgotten" in out and "gpu-endpoint" in out and "idle" in out
    assert f"ocrkit teardown --cloud aws --name forgotten --region {REGION} --yes" in out
    assert "1 idle" in out


def test_functions_and_serverless_endpoints_cost_nothing_per_hour(aws, capsys) -> None:
    now = datetime.now(UTC)
    function("fn-gateway", {TAG: "fn"})
    endpoint("sls", serverless=True)
    function("other", {"team": "x"})  # someone else's: listed by ListFunctions, left out by the tag check
    invoked("AWS/Lambda", {"FunctionName": "fn-gateway"}, now - timedelta(minutes=20))
    code, doc, err = status_all(capsys, "--fail-on-idle")
    assert code == 0, err
    rows = {r["name"]: r for r in doc["deployments"]}
    assert set(rows) == {"fn", "sls"}
    assert rows["fn"]["serving"] == "function" and rows["fn"]["hourly_cost"] == "0"
    assert rows["fn"]["verdict"] == "active" and rows["fn"]["last_invocation"] is not None
    assert "Lambda fn-gateway 2048 MB" in rows["fn"]["running"]
    assert rows["sls"]["serving"] == "serverless-endpoint" and rows["sls"]["hourly_cost"] == "0"


def test_left_overs_without_anything_that_serves_are_idle(aws, capsys) -> None:
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="half-123456789012-us-east-1")
    s3.put_bucket_tagging(
        Bucket="half-123456789012-us-east-1", Tagging={"TagSet": [{"Key": TAG, "Value": "half"}]}
    )
    code, doc, _ = status_all(capsys, "--fail-on-idle")
    assert code == 1
    (row,) = doc["deployments"]
    assert row["name"] == "half" and row["serving"] is None and row["verdict"] == "idle"
    assert "left-over" in row["reason"] and row["teardown"].startswith(
        "ocrkit teardown --cloud aws --name half"
    )


def test_bad_input_is_one_line_and_exit_2(aws, capsys) -> None:
    for argv, words in (
        (("--idle-hours", "0"), "--idle-hours must be more than 0"),
        (("--name", "x"), "takes no --name"),
    ):
        code, out, err = run(capsys, "status", "--all", "--cloud", "aws", *argv)
        assert code == 2 and words in err and "Traceback" not in err
    code, _, err = run(capsys, "status", "--cloud", "aws", "--fail-on-idle")
    assert code == 2 and "apply to status --all" in err
    code, _, err = run(capsys, "status", "--all", "--region", "us-east-1")
    assert code == 2 and "--region needs --cloud" in err


@pytest.mark.slow
def test_a_real_deployment_is_found_without_its_state_file(
    deployer: Deployer, capsys, monkeypatch, tmp_path
) -> None:
    deployer.deploy(0)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("OCRKIT_STATE_DIR", str(elsewhere / ".ocrkit" / "state"))
    invoked("AWS/Lambda", {"FunctionName": "demo-gateway"}, datetime.now(UTC) - timedelta(hours=50))
    code, doc, err = status_all(capsys, "--fail-on-idle")
    assert code == 1, err
    (row,) = doc["deployments"]
    assert row["name"] == "demo" and row["serving"] == "gpu-endpoint" and row["verdict"] == "idle"
    assert "sagemaker endpoint demo-endpoint" in row["resources"]
    assert "lambda function demo-gateway" in row["resources"]
    assert row["teardown"] == f"ocrkit teardown --cloud aws --name demo --region {REGION} --yes"
    # the command it prints works: teardown from here, by tags, then nothing is left to list
    code, _, err = run(capsys, *row["teardown"].split()[1:])
    assert code == 0, err
    code, doc, _ = status_all(capsys, "--fail-on-idle")
    assert code == 0 and doc["deployments"] == []


def test_tags_it_may_not_read_are_counted_in_a_note_not_fatal() -> None:
    """A scoped identity may list endpoints but not read every endpoint's tags (botocore's Stubber: moto
    does not enforce IAM)."""
    from botocore.stub import Stubber

    from ocrkit.providers.aws.inventory import _by_endpoint_listing
    from ocrkit.providers.aws.session import AwsSession

    session = AwsSession(
        session=boto3.Session(region_name=REGION, aws_access_key_id="x", aws_secret_access_key="y"),
        region=REGION,
    )
    sm = session.client("sagemaker")
    arn = f"arn:aws:sagemaker:{REGION}:123456789012:endpoint/theirs"
    created = datetime.now(UTC)
    with Stubber(sm) as stub:
        stub.add_response(
            "list_endpoints",
            {
                "Endpoints": [
                    {
                        "EndpointName": "theirs",
                        "EndpointArn": arn,
                        "CreationTime": created,
                        "LastModifiedTime": created,
                        "EndpointStatus": "InService",
                    }
                ]
            },
        )
        stub.add_client_error("list_tags", service_error_code="AccessDeniedException", http_status_code=400)
        groups: dict = {}
        notes = _by_endpoint_listing(session, groups)
    assert groups == {} and notes == [f"aws {REGION}: not allowed to read the tags of 1 endpoint(s)"]


def test_regions_named_by_state_files_here_are_searched_too(aws, capsys, tmp_path) -> None:
    from ocrkit.deploy.state import new_state

    endpoint("home")
    endpoint("away", region="eu-west-1")
    code, doc, _ = status_all(capsys)
    assert [r["name"] for r in doc["deployments"]] == ["home"]  # the configured region only

    state = new_state("away", "aws")
    state.outputs["region"] = "eu-west-1"
    state.save()
    code, doc, _ = status_all(capsys)
    found = {(r["name"], r["region"]) for r in doc["deployments"]}
    assert found == {("home", REGION), ("away", "eu-west-1")}
    away = next(r for r in doc["deployments"] if r["name"] == "away")
    assert away["verdict"] == "active" and away["teardown"] is None  # created seconds ago
    # the catalog prices us-east-1 only: elsewhere the cost is unknown, and said so
    assert away["hourly_cost"] is None and any("no price" in n for n in away["notes"])

    code, doc, _ = status_all(capsys, "--region", "eu-west-1", "--idle-hours", "0.0001")
    assert [(r["name"], r["region"]) for r in doc["deployments"]] == [("away", "eu-west-1")]
    assert (
        doc["deployments"][0]["teardown"]
        == "ocrkit teardown --cloud aws --name away --region eu-west-1 --yes"
    )


def test_gpu_or_cpu_is_read_from_the_instance_family() -> None:
    from ocrkit.providers.aws.inventory import accelerated

    assert all(accelerated(t) for t in ("ml.g4dn.xlarge", "ml.g5.2xlarge", "ml.p3.2xlarge", "ml.inf2.xlarge"))
    assert not any(accelerated(t) for t in ("ml.c5.xlarge", "ml.m5.large", "ml.t2.medium", "ml.r5.large"))
