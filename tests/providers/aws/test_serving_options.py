"""The AWS serving options against moto: serverless-endpoint and cpu-endpoint deployed, redeployed (no-op),
switched gpu -> serverless -> cpu -> gpu and torn down; the ServerlessConfig request at the client
boundary; a switch that fails half-way resumes from the state file."""

from __future__ import annotations

from dataclasses import replace

import boto3
import pytest

from ocrkit.deploy.executor import StepFailed
from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import load_state
from tests.providers.aws.conftest import REGION, Deployer
from tests.providers.aws.test_deploy_e2e import ENDPOINT, NAME, assert_nothing_left
from tests.providers.helpers import failing_once

pytestmark = pytest.mark.slow

SERVERLESS = {"serving": "serverless-endpoint"}
CPU = {"serving": "cpu-endpoint"}


def sm():
    return boto3.client("sagemaker", region_name=REGION)


def live_variant() -> dict:
    config = sm().describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"]
    return sm().describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]


def live_container() -> dict:
    return sm().describe_model(ModelName=live_variant()["ModelName"])["PrimaryContainer"]


def scaling_targets() -> list:
    aas = boto3.client("application-autoscaling", region_name=REGION)
    return aas.describe_scalable_targets(ServiceNamespace="sagemaker")["ScalableTargets"]


def config_requests(deployer: Deployer, provider) -> list[dict]:
    """The CreateEndpointConfig parameters as boto3 receives them (the client boundary)."""
    seen: list[dict] = []

    def keep(params, **kwargs) -> None:
        seen.append(params)

    client = provider.session(region=REGION).client("sagemaker")  # the client the steps use
    client.meta.events.register("provide-client-params.sagemaker.CreateEndpointConfig", keep)
    return seen


def apply(deployer: Deployer, plan, state, **overrides) -> None:
    provider = deployer.provider(0)
    provider.apply(deployer.spec(0, **overrides), plan, state, RecordingEvents())


def order_ok(plan) -> None:
    """Creates and updates come first; every deletion comes after them (the new path answers first)."""
    actions = [c.action for c in plan.calls if c.action != "noop"]
    first_delete = actions.index("delete")
    assert all(a == "delete" for a in actions[first_delete:]), actions


def test_switch_gpu_serverless_cpu_gpu_and_teardown(deployer: Deployer) -> None:
    gpu_plan, state, _ = deployer.deploy(0)
    assert state.outputs["serving"] == "gpu-endpoint"
    assert state.outputs["hourly_cost"] == str(gpu_plan.hourly_cost)
    assert len(scaling_targets()) == 1

    # gpu -> serverless: a plan like any other, with the switch, the old $/hour and the deletions last
    provider, plan, state = deployer.plan(0, **SERVERLESS)
    assert plan.serving == "serverless-endpoint" and plan.switching_from == "gpu-endpoint"
    assert plan.previous_hourly == gpu_plan.hourly_cost and plan.hourly_cost == 0
    changes = {c.resource: c for c in plan.changes}
    assert changes["model"].action == changes["endpoint_config"].action == "create"
    assert changes["endpoint"].action == "update"
    # the scaling target goes before UpdateEndpoint (SageMaker refuses the update otherwise)
    assert changes["endpoint"].calls[-1] == "sagemaker.UpdateEndpoint"
    assert "application-autoscaling.DeregisterScalableTarget" in changes["endpoint"].calls
    deleted = {c.kind for c in plan.changes if c.action == "delete"}
    assert deleted == {"autoscaling:scalable-target", "sagemaker:model", "sagemaker:endpoint-config"}
    assert "serverless 3072 MB, max concurrency 5" in changes["endpoint_config"].summary
    order_ok(plan)

    requests = config_requests(deployer, provider)
    provider.apply(deployer.spec(0, **SERVERLESS), plan, state, RecordingEvents())
    [request] = requests
    [variant] = request["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 3072, "MaxConcurrency": 5}
    assert not {"InstanceType", "InitialInstanceCount", "ModelDataDownloadTimeoutInSeconds"} & set(variant)
    assert live_variant()["ServerlessConfig"]["MemorySizeInMB"] == 3072
    assert "-cpu-" in live_container()["Image"]
    assert live_container()["Environment"]["OCRKIT_DEVICE"] == "cpu"
    assert scaling_targets() == []
    saved = load_state(NAME, "aws")
    assert saved.outputs["serving"] == "serverless-endpoint" and "autoscaling" not in saved.resources
    assert not any("@" in key for key in saved.resources)  # the old model and config are gone

    # redeploy: nothing to change, no switch
    _, plan, _ = deployer.plan(0, **SERVERLESS)
    assert plan.changes == [] and plan.switching_from is None

    # serverless -> cpu: the GPU instance left in the config gives way to the option's default (said so)
    provider, plan, state = deployer.plan(0, **CPU)
    assert plan.switching_from == "serverless-endpoint" and plan.previous_hourly == 0
    assert any("cpu-endpoint runs on ml.m5.large" in w for w in plan.warnings)
    assert plan.hourly_cost is not None and plan.hourly_cost > 0
    order_ok(plan)
    provider.apply(deployer.spec(0, **CPU), plan, state, RecordingEvents())
    assert live_variant()["InstanceType"] == "ml.m5.large"
    assert live_container()["Environment"]["OCRKIT_DEVICE"] == "cpu"
    assert len(scaling_targets()) == 1
    _, plan, _ = deployer.plan(0, **CPU)
    assert plan.changes == []

    # and back to the report's option, exactly as configured
    provider, plan, state = deployer.plan(0)
    assert plan.switching_from == "cpu-endpoint" and plan.serving == "gpu-endpoint"
    order_ok(plan)
    provider.apply(deployer.spec(0), plan, state, RecordingEvents())
    assert live_variant()["InstanceType"] == "ml.g4dn.xlarge"
    assert "-gpu-" in live_container()["Image"] and live_container()["Environment"]["OCRKIT_DEVICE"] == "cuda"
    assert provider.status(load_state(NAME, "aws")).serving == "gpu-endpoint"

    report = destroy(provider, NAME, load_state(NAME, "aws"), RecordingEvents())
    assert report.remaining == []
    assert_nothing_left()


def test_serverless_first_deploy_status_and_teardown(deployer: Deployer) -> None:
    plan, state, _ = deployer.deploy(0, **SERVERLESS, **{"sagemaker.serverless.provisioned_concurrency": 2})
    assert plan.switching_from is None and "autoscaling" not in {c.resource for c in plan.calls}
    assert live_variant()["ServerlessConfig"] == {
        "MemorySizeInMB": 3072,
        "MaxConcurrency": 5,
        "ProvisionedConcurrency": 2,
    }
    assert any("provisioned concurrency (2)" in w for w in plan.warnings)
    report = deployer.provider(0).status(load_state(NAME, "aws"))
    assert report.serving == "serverless-endpoint" and report.hourly_cost == 0
    env = boto3.client("lambda", region_name=REGION).get_function_configuration(FunctionName="demo-gateway")
    assert env["Environment"]["Variables"]["OCRKIT_MAX_REQUEST_BYTES"] == str(4 * 1024 * 1024)
    destroy(deployer.provider(0), NAME, load_state(NAME, "aws"), RecordingEvents())
    assert_nothing_left()


def test_half_failed_switch_resumes_from_the_state(deployer: Deployer) -> None:
    deployer.deploy(0)
    provider, plan, state = deployer.plan(0, **SERVERLESS)
    faulty = replace(
        plan, steps=tuple(failing_once(s) if s.call.resource == "endpoint" else s for s in plan.steps)
    )
    with pytest.raises(StepFailed):
        provider.apply(deployer.spec(0, **SERVERLESS), faulty, state, RecordingEvents())
    saved = load_state(NAME, "aws")
    assert saved.outputs["serving"] == "gpu-endpoint"  # not switched yet: the old path still answers
    assert live_variant()["InstanceType"] == "ml.g4dn.xlarge"

    provider, plan, state = deployer.plan(0, **SERVERLESS)
    assert plan.switching_from == "gpu-endpoint"
    actions = {c.resource: c.action for c in plan.calls if not c.resource.count("@")}
    assert actions["model"] == actions["endpoint_config"] == "noop"  # made by the first run
    assert actions["endpoint"] == "update"
    provider.apply(deployer.spec(0, **SERVERLESS), plan, state, RecordingEvents())
    assert "ServerlessConfig" in live_variant()
    assert load_state(NAME, "aws").outputs["serving"] == "serverless-endpoint"
    _, plan, _ = deployer.plan(0, **SERVERLESS)
    assert plan.changes == []
    destroy(provider, NAME, load_state(NAME, "aws"), RecordingEvents())
    assert_nothing_left()
