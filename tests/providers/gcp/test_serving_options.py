"""GCP cpu-endpoint against drongo + gcp-storage-emulator: deployed, redeployed (no-op), switched gpu -> cpu
-> gpu (a new model with the other image, deployed with all the traffic before the old one is undeployed),
status shows the option, teardown leaves nothing."""

from __future__ import annotations

import pytest

from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.spec import default_config_path
from ocrkit.deploy.state import load_state, open_state
from ocrkit.providers.gcp.provider import GcpProvider
from tests.providers.gcp.conftest import PROJECT, REGION
from tests.providers.gcp.test_deploy_e2e import clients

pytestmark = [pytest.mark.slow, pytest.mark.model]
PARENT = f"projects/{PROJECT}/locations/{REGION}"
CPU = {"serving": "cpu-endpoint"}


def deployed(endpoints) -> list:
    [endpoint] = list(endpoints.list_endpoints(parent=PARENT))
    return list(endpoints.get_endpoint(name=endpoint.name).deployed_models)


def order_ok(plan) -> None:
    actions = [c.action for c in plan.calls if c.action != "noop"]
    first_delete = actions.index("delete")
    assert all(a == "delete" for a in actions[first_delete:]), actions


def test_switch_gpu_cpu_gpu_and_teardown(deployer, gcp, iam_emulator, policies):
    drongo, _ = gcp
    models, endpoints, _, _ = clients(drongo.url)
    gpu_plan, state, _ = deployer.deploy(0)
    assert state.outputs["serving"] == "gpu-endpoint"

    provider, plan, state = deployer.plan(0, **CPU)
    assert plan.switching_from == "gpu-endpoint" and plan.serving == "cpu-endpoint"
    assert plan.previous_hourly == gpu_plan.hourly_cost
    assert plan.hourly_cost is not None and 0 < plan.hourly_cost < gpu_plan.hourly_cost
    assert any("cpu-endpoint runs on n1-standard-2 without an accelerator" in w for w in plan.warnings)
    changes = {c.resource: c for c in plan.changes}
    assert changes["model"].action == "create" and "pytorch-cpu" in changes["model"].summary
    assert changes["deployed-model"].details["machine_type"] == "n1-standard-2"
    assert changes["deployed-model"].details["accelerator_type"] is None
    deleted = sorted(c.kind for c in plan.changes if c.action == "delete")
    assert deleted == ["vertex:deployed-model", "vertex:model"]
    order_ok(plan)
    provider.apply(deployer.spec(0, **CPU), plan, state, RecordingEvents())

    [now] = deployed(endpoints)
    spec = now.dedicated_resources.machine_spec
    assert spec.machine_type == "n1-standard-2" and not spec.accelerator_count
    model = models.get_model(name=now.model)
    assert "pytorch-cpu" in model.container_spec.image_uri
    assert {e.name: e.value for e in model.container_spec.env}["OCRKIT_DEVICE"] == "cpu"
    assert len(list(models.list_models(parent=PARENT))) == 1  # the GPU model is gone
    saved = load_state("demo", "gcp")
    assert saved.outputs["serving"] == "cpu-endpoint"
    report = provider.status(saved)
    assert report.serving == "cpu-endpoint" and report.hourly_cost == plan.hourly_cost

    _, plan, _ = deployer.plan(0, **CPU)
    assert plan.changes == [] and plan.switching_from is None

    provider, plan, state = deployer.plan(0)
    assert plan.switching_from == "cpu-endpoint"
    order_ok(plan)
    provider.apply(deployer.spec(0), plan, state, RecordingEvents())
    [now] = deployed(endpoints)
    assert now.dedicated_resources.machine_spec.machine_type == "n1-standard-4"
    assert "pytorch-gpu" in models.get_model(name=now.model).container_spec.image_uri

    report = destroy(provider, "demo", load_state("demo", "gcp"), RecordingEvents())
    assert report.remaining == []
    assert list(endpoints.list_endpoints(parent=PARENT)) == []
    assert list(models.list_models(parent=PARENT)) == []


def test_cpu_endpoint_first_deploy(deployer, gcp, iam_emulator, policies, tmp_path):
    drongo, _ = gcp
    _, endpoints, _, _ = clients(drongo.url)
    text = default_config_path("gcp").read_text()
    assert "accelerator_type: NVIDIA_TESLA_T4" in text and "machine_type: n1-standard-4" in text
    config = tmp_path / "cpu.yaml"
    config.write_text(
        text.replace("accelerator_type: NVIDIA_TESLA_T4", "accelerator_type: null").replace(
            "machine_type: n1-standard-4", "machine_type: n2-standard-2"
        )
    )
    overrides = {"name": "demo", "weights": str(deployer.weights[0]), **CPU}
    loaded = GcpProvider.load_spec(config, overrides)
    provider = deployer.provider(0)
    state = open_state("demo", "gcp")
    plan = provider.plan(loaded, None)
    provider.apply(loaded, plan, state, RecordingEvents())
    assert plan.switching_from is None
    # a CPU machine named in the config is kept; only the GPU image gives way to the CPU one
    assert not any("without an accelerator" in w for w in plan.warnings)
    assert any("CPU prediction image" in w for w in plan.warnings)
    [now] = deployed(endpoints)
    assert now.dedicated_resources.machine_spec.machine_type == "n2-standard-2"
    destroy(deployer.provider(0), "demo", load_state("demo", "gcp"), RecordingEvents())
    assert list(endpoints.list_endpoints(parent=PARENT)) == []


def test_switch_gpu_endpoint_to_function_and_back(
    deployer, gcp, iam_emulator, policies, tmp_path, monkeypatch
):
    """gpu-endpoint -> function: the function and its model reader first, then every Vertex resource
    deleted; and back again. The switch prices the old and the new option."""
    monkeypatch.setenv("OCRKIT_CACHE_DIR", str(tmp_path / "onnx-cache"))
    drongo, _ = gcp
    models, endpoints, _, _ = clients(drongo.url)
    gpu_plan, state, _ = deployer.deploy(0)
    assert len(list(endpoints.list_endpoints(parent=PARENT))) == 1

    provider, plan, state = deployer.plan(0, serving="function")
    assert plan.switching_from == "gpu-endpoint" and plan.serving == "function"
    assert plan.previous_hourly == gpu_plan.hourly_cost and plan.hourly_cost == 0
    order_ok(plan)
    deleted = {c.kind for c in plan.changes if c.action == "delete"}
    assert {"vertex:endpoint", "vertex:model"} <= deleted, deleted
    provider.apply(deployer.spec(0, serving="function"), plan, state, RecordingEvents())
    assert list(endpoints.list_endpoints(parent=PARENT)) == []
    assert list(models.list_models(parent=PARENT)) == []
    saved = load_state("demo", "gcp")
    assert saved.outputs["serving"] == "function" and "model-reader" in saved.resources
    _, plan, _ = deployer.plan(0, serving="function")
    assert plan.changes == [] and plan.switching_from is None

    provider, plan, state = deployer.plan(0)
    assert plan.switching_from == "function" and plan.serving == "gpu-endpoint"
    order_ok(plan)
    provider.apply(deployer.spec(0), plan, state, RecordingEvents())
    assert len(deployed(endpoints)) == 1
    saved = load_state("demo", "gcp")
    assert saved.outputs["serving"] == "gpu-endpoint" and "model-reader" not in saved.resources

    report = destroy(provider, "demo", load_state("demo", "gcp"), RecordingEvents())
    assert report.remaining == []
    assert list(endpoints.list_endpoints(parent=PARENT)) == []
