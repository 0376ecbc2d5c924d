"""A deploy that fails half-way resumes from its state file; teardown works from tags alone; and the
deploy order holds against moto's strict reading of the TLS-only bucket policy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ocrkit.deploy.executor import StepFailed
from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import load_state, open_state
from ocrkit.errors import OcrkitError
from tests.providers.aws.conftest import Deployer, point_at
from tests.providers.aws.test_deploy_e2e import NAME, assert_nothing_left, client
from tests.providers.helpers import failing_once

pytestmark = pytest.mark.slow


def test_failed_run_resumes_and_teardown_cleans_up(deployer: Deployer) -> None:
    provider, plan, state = deployer.plan(0)
    faulty = replace(
        plan, steps=tuple(failing_once(s) if s.call.resource == "function" else s for s in plan.steps)
    )
    with pytest.raises(StepFailed) as failure:
        provider.apply(deployer.spec(0), faulty, state, RecordingEvents())
    assert "create function (lambda:function) failed" in failure.value.message
    assert "run the same command again to resume" in str(failure.value)

    saved = load_state(NAME, "aws")
    assert saved is not None
    assert {"bucket", "artifact", "model", "endpoint", "lambda_role"} <= set(saved.resources)
    assert "function" not in saved.resources and "api" not in saved.resources

    # the re-run plans from the state: what exists is unchanged, the rest is created
    provider, plan, state = deployer.plan(0)
    actions = {c.resource: c.action for c in plan.calls}
    assert actions["bucket"] == actions["endpoint"] == actions["lambda_role"] == "noop"
    assert actions["function"] == actions["api"] == actions["invoke_permission"] == "create"
    provider.apply(deployer.spec(0), plan, state, RecordingEvents())
    _, plan, _ = deployer.plan(0)
    assert plan.changes == []

    report = destroy(provider, NAME, load_state(NAME, "aws"), RecordingEvents())
    assert report.remaining == []
    assert_nothing_left()


def test_drift_and_changes_are_updated_then_teardown_from_tags_alone(deployer: Deployer) -> None:
    _, state, _ = deployer.deploy(0)
    bucket = state.outputs["bucket"]

    # drift made by hand is found and put back; a setting change updates the function and the alias
    client("s3").put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    _, plan, _ = deployer.plan(0, **{"lambda.memory_mb": 1024})
    changes = {c.resource: c for c in plan.changes}
    assert set(changes) == {"bucket", "function", "function_alias"}
    assert "versioning" in changes["bucket"].summary and "MemorySize" in changes["function"].summary
    _, state, _ = deployer.deploy(0, **{"lambda.memory_mb": 1024})
    assert client("s3").get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert client("lambda").get_function(FunctionName="demo-gateway")["Configuration"]["MemorySize"] == 1024
    alias = client("lambda").get_alias(FunctionName="demo-gateway", Name="live")
    assert alias["FunctionVersion"] == state.outputs["function_version"] != "1"

    state.remove_file()
    assert load_state(NAME, "aws") is None
    provider = deployer.provider(0)
    report = destroy(provider, NAME, None, RecordingEvents())
    deleted = " ".join(report.deleted)
    for kind in (
        "s3:bucket",
        "sagemaker:endpoint",
        "sagemaker:model",
        "lambda:function",
        "iam:role",
        "apigateway:api",
        "autoscaling:scalable-target",
        "logs:log-group",
    ):
        assert kind in deleted
    assert report.remaining == []
    assert_nothing_left()


def test_teardown_leaves_other_deployments_alone(deployer: Deployer) -> None:
    other = Deployer(deployer.weights, deployer.build_dirs, name="demo-model")  # a name that shares a prefix
    other.deploy(0)
    deployer.deploy(0)
    report = destroy(deployer.provider(0), NAME, None, RecordingEvents())
    assert report.remaining == []
    assert not any("demo-model-" in item and "demo-model-model" in item for item in report.deleted)
    assert (
        client("sagemaker").describe_endpoint(EndpointName="demo-model-endpoint")["EndpointStatus"]
        == "InService"
    )
    assert (
        destroy(other.provider(0), "demo-model", load_state("demo-model", "aws"), RecordingEvents()).remaining
        == []
    )


def test_deploy_order_works_with_moto_strict_tls_deny(
    plain_moto_server, monkeypatch, tmp_path, weights, build_dirs
):
    """Plain moto denies every object request once the TLS-only policy is on: the artifact goes up before
    the policy, a re-run does not touch the object, and teardown removes the policy first."""
    plain_moto_server.reset()
    point_at(monkeypatch, plain_moto_server.url, tmp_path)
    monkeypatch.chdir(tmp_path)
    deployer = Deployer(weights, build_dirs)
    _, state, _ = deployer.deploy(0)
    with pytest.raises(Exception) as denied:  # moto applies the Deny whatever its condition
        client("s3").head_object(Bucket=state.outputs["bucket"], Key=state.outputs["artifact_key"])
    assert "403" in str(denied.value)
    deployer.calls = []
    _, plan, _ = deployer.plan(0)
    assert plan.changes == [] and deployer.writes() == []
    report = destroy(deployer.provider(0), NAME, load_state(NAME, "aws"), RecordingEvents())
    assert report.remaining == []
    assert_nothing_left()


def test_a_refused_call_is_one_sentence(plain_moto_server, monkeypatch, tmp_path, weights, build_dirs):
    """On plain moto the new artifact's upload is refused (its Deny applies whatever the condition): the
    error names the step and what to do, in one sentence, and the state says how far the run got."""
    plain_moto_server.reset()
    point_at(monkeypatch, plain_moto_server.url, tmp_path)
    monkeypatch.chdir(tmp_path)
    deployer = Deployer(weights, build_dirs)
    deployer.deploy(0)
    provider, plan, state = deployer.plan(1)
    with pytest.raises(OcrkitError) as failure:
        provider.apply(deployer.spec(1), plan, open_state(NAME, "aws"), RecordingEvents())
    message = str(failure.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("update artifact (s3:object) failed: AWS refused")
    assert "permissions listed in the README" in message and "run the same command again" in message
    destroy(deployer.provider(1), NAME, load_state(NAME, "aws"), RecordingEvents())
    assert_nothing_left()
