"""`--serving function` on AWS against the moto server: the model function deployed with no SageMaker
resource at all, deployed again without a write, torn down to nothing; its role's policy parsed for least
privilege; bad input refused in one line (exit 2) before any cloud call."""

from __future__ import annotations

import json

import boto3
import pytest

from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import load_state
from ocrkit.providers.aws import function_package, policies
from ocrkit.providers.aws.function_package import FUNCTION_HANDLER
from ocrkit.providers.aws.names import Names
from tests.providers.aws.conftest import REGION, policy_doc
from tests.providers.helpers import run

ACCOUNT = "123456789012"
NAME = "demo"
BUCKET = f"{NAME}-{ACCOUNT}-{REGION}"
FUNCTION = f"{NAME}-gateway"
ROLE = f"{NAME}-lambda-role"
# The python3.11 wheels are the ones this machine (cp311, x86_64) can also import (test_function_zip.py):
# one download per session for both files.
FN = {"serving": "function", "lambda.runtime": "python3.11"}


def c(service: str):
    return boto3.client(service, region_name=REGION)


@pytest.mark.slow
def test_deploy_redeploy_teardown(deployer, cache_env) -> None:
    plan, state, _ = deployer.deploy(0, **FN)
    assert {call.action for call in plan.calls} == {"create"}
    assert plan.hourly_cost == 0  # no endpoint: nothing billed by the hour
    kinds = {call.kind for call in plan.calls}
    assert not any(k.startswith(("sagemaker:", "application-autoscaling:")) for k in kinds), kinds
    assert set(state.resources) == {
        "bucket",
        "artifact",
        "bucket_policy",
        "lambda_log_group",
        "api_log_group",
        "lambda_role",
        "function",
        "function_alias",
        "api",
        "integration",
        "route",
        "stage",
        "invoke_permission",
    }
    assert not any(c.startswith("sagemaker") for c in deployer.calls), "no SageMaker call at all"

    # no SageMaker resource exists, no SageMaker role, no endpoint log group
    sm = c("sagemaker")
    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert [r["RoleName"] for r in c("iam").list_roles()["Roles"]] == [ROLE]
    groups = [g["logGroupName"] for g in c("logs").describe_log_groups()["logGroups"]]
    assert not any("sagemaker" in g for g in groups), groups

    # the function holds the engine and reads the model object named in its environment
    conf = c("lambda").get_function(FunctionName=FUNCTION)["Configuration"]
    assert conf["Handler"] == FUNCTION_HANDLER and conf["MemorySize"] == 2048
    assert conf["Runtime"] == "python3.11"
    env = conf["Environment"]["Variables"]
    key = state.resources["artifact"].id
    assert key == f"{NAME}/onnx-{state.resources['artifact'].attrs['sha256']}.tar.gz"
    assert env["OCRKIT_MODEL_URI"] == f"s3://{BUCKET}/{key}"
    assert "OCRKIT_ENDPOINT_NAME" not in env
    head = c("s3").head_object(Bucket=BUCKET, Key=key)
    assert head["Metadata"]["sha256"] == env["OCRKIT_MODEL_SHA256"]
    assert head["ContentLength"] == state.resources["artifact"].attrs["size"]

    # the role: one inline policy, read that one object, write its own logs; nothing more
    iam = c("iam")
    assert iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"] == []
    [policy] = iam.list_role_policies(RoleName=ROLE)["PolicyNames"]
    doc = policy_doc(iam.get_role_policy(RoleName=ROLE, PolicyName=policy)["PolicyDocument"])
    check_function_policy(doc, key)

    # deploy again: every step a no-op, no write call
    deployer.calls.clear()
    plan, _, _ = deployer.deploy(0, **FN)
    assert plan.changes == [], [(c.resource, c.action) for c in plan.changes]
    assert deployer.writes() == []

    report = destroy(deployer.provider(0), NAME, load_state(NAME, "aws"), RecordingEvents())
    assert report.remaining == [] and load_state(NAME, "aws") is None
    assert c("s3").list_buckets()["Buckets"] == []
    assert c("lambda").list_functions()["Functions"] == []
    assert c("iam").list_roles()["Roles"] == []
    assert c("apigatewayv2").get_apis()["Items"] == []
    assert c("logs").describe_log_groups()["logGroups"] == []


def check_function_policy(doc: dict, key: str, kms: str | None = None) -> None:
    names = Names(NAME, ACCOUNT, REGION, "aws")
    assert policies.findings(doc) == [], doc
    by_sid = {s["Sid"]: s for s in doc["Statement"]}
    assert set(by_sid) == {"ReadTheOneModelObject", "WriteTheFunctionLogs"} | (
        {"DecryptTheModelObject"} if kms else set()
    )
    read = by_sid["ReadTheOneModelObject"]
    assert read["Action"] in ("s3:GetObject", ["s3:GetObject"])
    assert read["Resource"] in (f"arn:aws:s3:::{BUCKET}/{key}", [f"arn:aws:s3:::{BUCKET}/{key}"])
    logs = by_sid["WriteTheFunctionLogs"]
    group = names.log_group_arn(names.lambda_log_group)
    assert sorted(logs["Resource"]) == [group, f"{group}:*"]
    assert all(a.startswith("logs:") for a in logs["Action"])
    if kms:
        assert by_sid["DecryptTheModelObject"]["Action"] == "kms:Decrypt"
        assert by_sid["DecryptTheModelObject"]["Resource"] == kms
    every = json.dumps(doc)
    assert '"*"' not in every and "sagemaker" not in every


@pytest.mark.parametrize("kms", [None, "arn:aws:kms:us-east-1:123456789012:key/1111-2222"])
def test_function_policy_least_privilege(kms) -> None:
    names = Names(NAME, ACCOUNT, REGION, "aws")
    key = f"{NAME}/onnx-{'a' * 64}.tar.gz"
    check_function_policy(
        policies.function_model_role_policy(names, model_key=key, kms_key_arn=kms), key, kms
    )


def test_findings_would_catch_a_wider_grant() -> None:
    """The check above can fail: a wildcard object or action is reported."""
    doc = {"Statement": [{"Sid": "Wide", "Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    assert policies.findings(doc)


# -- bad input: one line, exit 2, before any cloud call ------------------------------------------------


def _no_cloud(monkeypatch) -> list[str]:
    """Any boto3 client made counts as a cloud call."""
    made: list[str] = []

    def refuse(*args, **kwargs):
        made.append(str(args[:1]))
        raise AssertionError("a cloud client was created")

    monkeypatch.setattr(boto3.session.Session, "client", refuse)
    return made


def test_memory_out_of_range(capsys, monkeypatch, tmp_path) -> None:
    made = _no_cloud(monkeypatch)
    config = tmp_path / "aws.yaml"
    config.write_text("name: demo\nserving: function\nlambda:\n  memory_mb: 64\n", encoding="utf-8")
    code, _, err = run(capsys, "deploy", "--cloud", "aws", "--config", str(config), "--dry-run")
    assert code == 2 and "lambda.memory_mb" in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) <= 2 and made == []


def test_missing_onnx_extra(capsys, monkeypatch, tmp_path) -> None:
    made = _no_cloud(monkeypatch)
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a)
    )
    code, _, err = run(
        capsys, "deploy", "--cloud", "aws", "--serving", "function", "--name", "demo", "--dry-run"
    )
    assert code == 2 and "onnxruntime is not installed" in err and "ocrkit[onnx]" in err, err
    assert "Traceback" not in err and made == []


def test_model_too_big(capsys, monkeypatch, cache_env, weights) -> None:
    made = _no_cloud(monkeypatch)
    monkeypatch.setattr(function_package, "LAMBDA_TMP_DEFAULT", 1024)  # any real export is bigger
    code, _, err = run(
        capsys,
        "deploy",
        "--cloud",
        "aws",
        "--serving",
        "function",
        "--name",
        "demo",
        "--weights",
        str(weights[0]),
        "--dry-run",
    )
    assert code == 2 and "the ONNX model is" in err and "/tmp" in err, err
    assert "Traceback" not in err and made == []


def test_model_too_big_for_memory() -> None:
    with pytest.raises(Exception, match="128 MB function cannot load it"):
        function_package.check_model_fits(100 * function_package.MB, 128)
    function_package.check_model_fits(60 * function_package.MB, 2048)


def test_zip_over_250_mb_is_refused(monkeypatch) -> None:
    from ocrkit.deploy.artifact import Entry

    monkeypatch.setattr(function_package, "LAMBDA_MAX_UNZIPPED", 1000)
    with pytest.raises(Exception, match="over Lambda's 0 MB limit"):
        function_package.check_unzipped([Entry("a", b"x" * 600), Entry("b", b"y" * 600)])
    assert function_package.check_unzipped([Entry("a", b"x" * 600)]) == 600


def test_memory_defaults_by_role() -> None:
    from ocrkit.providers.aws.spec import load_aws_spec

    assert load_aws_spec(None, {"serving": "function"}).spec.lambda_.memory_for("function") == 2048
    assert load_aws_spec(None, {}).spec.lambda_.memory_for("gpu-endpoint") == 256
    spec = load_aws_spec(None, {"serving": "function", "lambda.memory_mb": 3008}).spec
    assert spec.lambda_.memory_for(spec.serving) == 3008


@pytest.mark.slow
def test_switch_gpu_endpoint_to_function_and_back(deployer, cache_env) -> None:
    """A switch to `function` is a plan like any other: the model function and its model object first,
    then every SageMaker resource deleted; and back again. Each switch resumes nothing and leaves nothing."""
    from ocrkit.providers.aws.package import LAMBDA_HANDLER

    same_runtime = {"lambda.runtime": "python3.11"}
    gpu_plan, state, _ = deployer.deploy(0, **same_runtime)
    sm = c("sagemaker")
    assert len(sm.list_endpoints()["Endpoints"]) == 1

    provider, plan, state = deployer.plan(0, **FN)
    assert plan.serving == "function" and plan.switching_from == "gpu-endpoint"
    assert plan.previous_hourly == gpu_plan.hourly_cost and plan.hourly_cost == 0
    actions = [call.action for call in plan.calls if call.action != "noop"]
    first_delete = actions.index("delete")
    assert all(a == "delete" for a in actions[first_delete:]), actions  # the new path answers first
    deleted = {change.resource for change in plan.changes if change.action == "delete"}
    assert {"endpoint", "sagemaker_role", "endpoint_log_group"} <= deleted, deleted
    provider.apply(deployer.spec(0, **FN), plan, state, RecordingEvents())

    assert sm.list_endpoints()["Endpoints"] == [] and sm.list_models()["Models"] == []
    assert sm.list_endpoint_configs()["EndpointConfigs"] == []
    assert [r["RoleName"] for r in c("iam").list_roles()["Roles"]] == [ROLE]
    conf = c("lambda").get_function(FunctionName=FUNCTION)["Configuration"]
    assert conf["Handler"] == FUNCTION_HANDLER and "OCRKIT_MODEL_URI" in conf["Environment"]["Variables"]
    saved = load_state(NAME, "aws")
    assert saved.outputs["serving"] == "function"
    assert not {"endpoint", "model", "endpoint_config", "sagemaker_role"} & set(saved.resources)
    _, plan, _ = deployer.plan(0, **FN)
    assert plan.changes == [] and plan.switching_from is None

    # and back to the report's architecture
    provider, plan, state = deployer.plan(0, **same_runtime)
    assert plan.serving == "gpu-endpoint" and plan.switching_from == "function"
    provider.apply(deployer.spec(0, **same_runtime), plan, state, RecordingEvents())
    assert len(sm.list_endpoints()["Endpoints"]) == 1
    conf = c("lambda").get_function(FunctionName=FUNCTION)["Configuration"]
    assert conf["Handler"] == LAMBDA_HANDLER and "OCRKIT_ENDPOINT_NAME" in conf["Environment"]["Variables"]
    assert load_state(NAME, "aws").outputs["serving"] == "gpu-endpoint"

    report = destroy(provider, NAME, load_state(NAME, "aws"), RecordingEvents())
    assert report.remaining == [] and load_state(NAME, "aws") is None
    assert c("lambda").list_functions()["Functions"] == [] and c("iam").list_roles()["Roles"] == []
