"""The AWS serving options' config: Serverless Inference's documented ranges and 4 MB hop, the shape each
option runs (instances or ServerlessConfig, image processor, autoscaling), and bad input in one line."""

from __future__ import annotations

import pytest

from ocrkit.deploy.serving import ServingOption
from ocrkit.errors import ConfigError
from ocrkit.gateway.limits import MiB
from ocrkit.providers.aws.serving import endpoint_shape, is_accelerated
from ocrkit.providers.aws.spec import (
    gateway_environment,
    load_aws_spec,
    max_request_bytes,
    model_environment,
)
from tests.cli import run

SERVERLESS = {"serving": "serverless-endpoint"}


def test_default_shape_is_todays_gpu_endpoint() -> None:
    spec = load_aws_spec().spec
    shape = endpoint_shape(spec)
    assert (shape.instance_type, shape.instance_count, shape.processor) == ("ml.g4dn.xlarge", 1, "gpu")
    assert shape.autoscaling and shape.serverless is None and shape.notes == ()


def test_cpu_endpoint_replaces_a_gpu_instance_and_says_so() -> None:
    spec = load_aws_spec(overrides={"serving": "cpu-endpoint"}).spec
    shape = endpoint_shape(spec)
    assert shape.instance_type == spec.sagemaker.cpu_instance_type == "ml.m5.large"
    assert shape.processor == "cpu" and shape.autoscaling
    assert "ml.g4dn.xlarge" in shape.notes[0] and "gpu-endpoint only" in shape.notes[0]
    assert model_environment(spec, shape.processor)["OCRKIT_DEVICE"] == "cpu"
    assert "-cpu-py311" in spec.sagemaker.image("us-east-1", shape.processor)


def test_cpu_endpoint_keeps_a_cpu_instance_from_the_config() -> None:
    spec = load_aws_spec(
        overrides={"serving": "cpu-endpoint", "sagemaker.instance_type": "ml.c5.xlarge"}
    ).spec
    shape = endpoint_shape(spec)
    assert shape.instance_type == "ml.c5.xlarge" and shape.notes == ()


@pytest.mark.parametrize(
    ("instance", "accelerated"),
    [("ml.g4dn.xlarge", True), ("ml.p3.2xlarge", True), ("ml.inf1.xlarge", True), ("ml.m5.large", False)],
)
def test_accelerated_instances(instance: str, accelerated: bool) -> None:
    assert is_accelerated(instance) is accelerated


def test_serverless_shape_has_no_instances_and_a_cpu_image() -> None:
    spec = load_aws_spec(overrides={**SERVERLESS, "sagemaker.serverless.memory_mb": 4096}).spec
    shape = endpoint_shape(spec)
    assert shape.instance_type is None and not shape.autoscaling and shape.processor == "cpu"
    assert shape.words() == "serverless 4096 MB, max concurrency 5"


def test_serverless_hop_is_4_mb() -> None:
    assert max_request_bytes(ServingOption.serverless_endpoint) == 4 * MiB
    assert max_request_bytes() > 4 * MiB  # the real-time path: Lambda's 6 MB after base64
    spec = load_aws_spec(overrides=SERVERLESS).spec
    assert gateway_environment(spec, "e")["OCRKIT_MAX_REQUEST_BYTES"] == str(4 * MiB)
    # an image size that fits the real-time path does not fit Serverless Inference
    big = {"limits.max_image_bytes": 4 * MiB + 1}
    load_aws_spec(overrides=big)
    with pytest.raises(ConfigError, match="SageMaker Serverless Inference accepts 4.00 MiB"):
        load_aws_spec(overrides={**SERVERLESS, **big})


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("memory_mb", 1000, "not a Serverless Inference memory size"),
        ("memory_mb", 7168, "not a Serverless Inference memory size"),
        ("memory_mb", 1536, "not a Serverless Inference memory size"),
        ("max_concurrency", 0, "outside Serverless Inference's 1-200"),
        ("max_concurrency", 201, "outside Serverless Inference's 1-200"),
        ("provisioned_concurrency", 6, "at most max_concurrency"),
        ("provisioned_concurrency", 0, "at most max_concurrency"),
    ],
)
def test_out_of_range_values_name_the_field(field: str, value: int, words: str) -> None:
    with pytest.raises(ConfigError, match=words) as error:
        load_aws_spec(overrides={**SERVERLESS, f"sagemaker.serverless.{field}": value})
    assert error.value.field == f"sagemaker.serverless.{field}"


def test_ranges_apply_only_to_serverless() -> None:
    load_aws_spec(overrides={"sagemaker.serverless.memory_mb": 1000})  # unused by gpu-endpoint


@pytest.mark.parametrize("memory", [1024, 2048, 3072, 4096, 5120, 6144])
def test_every_documented_memory_size_is_accepted(memory: int) -> None:
    load_aws_spec(overrides={**SERVERLESS, "sagemaker.serverless.memory_mb": memory})


def test_cli_memory_out_of_range_is_one_line_exit_2(capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "aws.yaml"
    config.write_text("name: demo\nsagemaker:\n  serverless:\n    memory_mb: 8192\n")
    code, out, err = run(
        capsys,
        "deploy",
        "--cloud",
        "aws",
        "--config",
        str(config),
        "--serving",
        "serverless-endpoint",
        "--dry-run",
    )
    assert code == 2, out + err
    assert "sagemaker.serverless.memory_mb" in err and "8192" in err
    assert "Traceback" not in out + err and len(err.strip().splitlines()) <= 2
    assert not (tmp_path / ".ocrkit").exists()
