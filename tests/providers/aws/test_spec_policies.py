"""The AWS deploy config (limits and timeouts checked before anything is created) and the policy
documents (least privilege), built locally."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ocrkit.errors import ConfigError
from ocrkit.providers.aws import policies
from ocrkit.providers.aws.names import Names, ecr_repository_arn
from ocrkit.providers.aws.spec import (
    AwsDeploySpec,
    backend_timeout_s,
    gateway_environment,
    load_aws_spec,
    max_request_bytes,
)

SHIPPED = Path(__file__).resolve().parents[3] / "configs" / "deploy" / "aws.yaml"


def write_config(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load(SHIPPED.read_text())
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    path = tmp_path / "aws.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def error_for(tmp_path: Path, **changes) -> ConfigError:
    with pytest.raises(ConfigError) as failure:
        load_aws_spec(write_config(tmp_path, **changes))
    return failure.value


def test_shipped_config_is_the_report_architecture() -> None:
    loaded = load_aws_spec()
    spec = loaded.spec
    assert spec.sagemaker.instance_type == "ml.g4dn.xlarge" and spec.sagemaker.instance_count == 1
    assert spec.sagemaker.image("us-east-1") == (
        "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3.0-gpu-py311"
    )
    assert spec.lambda_.runtime == "python3.12"
    assert loaded.config_hash == load_aws_spec().config_hash
    assert load_aws_spec(None, {"lambda.memory_mb": 512}).config_hash != loaded.config_hash


def test_image_larger_than_the_tightest_hop_is_refused(tmp_path) -> None:
    error = error_for(tmp_path, limits__max_image_bytes=5 * 1024 * 1024)
    assert error.field == "limits.max_image_bytes"
    assert str(error.path).endswith("aws.yaml")
    assert "Lambda" in error.problem and "base64" in error.problem
    assert "API Gateway" in (error.hint or "") and "SageMaker" in (error.hint or "")


def test_tightest_hop_is_lambda_after_base64() -> None:
    limit = max_request_bytes()
    assert 4.4 * 1024 * 1024 < limit < 4.5 * 1024 * 1024  # (6 MiB - event) x 3/4


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"lambda__timeout_s": 30}, "lambda.timeout_s"),  # not under API Gateway's 30 s
        ({"sagemaker__invocation_timeout_s": 29}, "sagemaker.invocation_timeout_s"),  # not under the Lambda's
        ({"sagemaker__invocation_timeout_s": 61, "lambda__timeout_s": 29}, "sagemaker.invocation_timeout_s"),
        ({"api__integration_timeout_s": 31}, "api.integration_timeout_s"),
    ],
)
def test_timeouts_must_shrink_along_the_chain(tmp_path, changes, field) -> None:
    assert error_for(tmp_path, **changes).field == field


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (
            {"sagemaker__autoscaling": {"min_instances": 3, "max_instances": 2}},
            "sagemaker.autoscaling.min_instances",
        ),
        ({"sagemaker__instance_count": 5}, "sagemaker.instance_count"),
        ({"bucket__encryption": "aws:kms"}, "bucket.kms_key_arn"),
        (
            {"lambda__reserved_concurrency": 2, "lambda__provisioned_concurrency": 3},
            "lambda.provisioned_concurrency",
        ),
        ({"lambda__memory_mb": 64}, "lambda.memory_mb"),
        ({"api__auth": "cognito"}, "api.auth"),
        ({"sagemaker__instance_type": "g4dn.xlarge"}, "sagemaker.instance_type"),
        ({"region": "mars-1"}, "region"),
    ],
)
def test_bad_settings_name_the_field(tmp_path, changes, field) -> None:
    assert error_for(tmp_path, **changes).field == field


def test_unknown_key_and_bad_name(tmp_path) -> None:
    error = error_for(tmp_path, lamda={"memory_mb": 256})
    assert error.field == "lamda" and "unknown key" in error.problem
    error = error_for(tmp_path, name="Bad_Name")
    assert error.field == "name" and "lower-case" in error.problem


def test_relative_weights_are_relative_to_the_config(tmp_path) -> None:
    loaded = load_aws_spec(write_config(tmp_path, weights="models/model.pt"))
    assert loaded.spec.weights == str(tmp_path / "models" / "model.pt")
    overridden = load_aws_spec(write_config(tmp_path), {"weights": "/abs/model.pt", "name": "other"})
    assert (overridden.spec.weights, overridden.spec.name) == ("/abs/model.pt", "other")


def test_gateway_environment_comes_from_the_tightest_hop() -> None:
    spec = AwsDeploySpec(name="demo")
    env = gateway_environment(spec, "demo-endpoint")
    assert env["OCRKIT_ENDPOINT_NAME"] == "demo-endpoint"
    assert env["OCRKIT_MAX_REQUEST_BYTES"] == str(max_request_bytes())
    assert env["OCRKIT_BACKEND_TIMEOUT_S"] == str(backend_timeout_s(spec)) == "25"
    from ocrkit.gateway.limits import Limits

    limits = Limits.from_env(env)  # the Lambda reads exactly these
    assert limits.max_request_bytes == max_request_bytes() and limits.backend_timeout_s == 25


NAMES = Names("demo", "123456789012", "us-east-1")


def test_role_policies_are_least_privilege() -> None:
    image = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3.0-gpu-py311"
    docs = [
        policies.sagemaker_role_policy(NAMES, artifact_key="demo/model-x.tar.gz", image_uri=image),
        policies.sagemaker_role_policy(
            NAMES,
            artifact_key="k",
            image_uri=image,
            kms_key_arn="arn:aws:kms:us-east-1:123456789012:key/abc",
            vpc=(["subnet-1"], ["sg-1"]),
        ),
        policies.lambda_role_policy(NAMES),
        policies.lambda_role_policy(NAMES, vpc=(["subnet-1", "subnet-2"], ["sg-1"])),
    ]
    for doc in docs:
        assert policies.findings(doc) == [], doc
        for statement in doc["Statement"]:
            if statement["Resource"] == "*":
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert set(actions) <= policies.UNSCOPED_ACTIONS


def test_findings_catch_what_least_privilege_rules_out() -> None:
    bad = {
        "Statement": [
            {"Sid": "A", "Effect": "Allow", "Action": "sagemaker:*", "Resource": "arn:aws:sagemaker:::x"},
            {"Sid": "B", "Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"},
            {"Sid": "C", "Effect": "Allow", "NotAction": "iam:*", "Resource": "arn:x"},
            {"Sid": "D", "Effect": "Deny", "Action": "*", "Resource": "*"},
        ]
    }
    found = policies.findings(bad)
    assert any(f.startswith("A: wildcard action") for f in found)
    assert any(f.startswith("B: Resource '*'") for f in found)
    assert any(f.startswith("C: NotAction") for f in found)
    assert not any(f.startswith("D") for f in found)


def test_tls_only_bucket_policy() -> None:
    doc = policies.tls_only_bucket_policy(NAMES)
    [statement] = doc["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [NAMES.bucket_arn, f"{NAMES.bucket_arn}/*"]


@pytest.mark.parametrize(
    ("uri", "arn"),
    [
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3.0-gpu-py311",
            "arn:aws:ecr:us-east-1:763104351884:repository/pytorch-inference",
        ),
        (
            "111122223333.dkr.ecr.eu-west-1.amazonaws.com/team/ocr@sha256:abcd",
            "arn:aws:ecr:eu-west-1:111122223333:repository/team/ocr",
        ),
    ],
)
def test_ecr_repository_arn(uri, arn) -> None:
    assert ecr_repository_arn(uri) == arn


def test_names_fit_aws_limits() -> None:
    names = Names("a" * 32, "123456789012", "ap-southeast-2")
    assert len(names.bucket) <= 63
    assert len(names.function) <= 64 and len(names.sagemaker_role) <= 64
    assert len(names.model("f" * 64)) <= 63 and len(names.endpoint_config("f" * 64)) <= 63
