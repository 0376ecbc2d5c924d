"""Deploy -> resources exist with the right settings -> deploy again is a no-op -> new weights -> new model
deployed, old one undeployed -> teardown -> nothing left. Against drongo (Vertex AI models, endpoints,
deployModel/undeployModel; Cloud Functions v2) and gcp-storage-emulator, through the real client libraries
over REST with anonymous credentials.

What drongo cannot show, tested at the client-library boundary instead: the PUT of the function source to
the generateUploadUrl answer (a storage.googleapis.com URL; recorded and checked byte for byte); IAM (the
service account and the bindings are recorded in the plan and the state; ocrkit does not make them).
"""

from __future__ import annotations

import io
import zipfile

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1, functions_v2, storage

from ocrkit.deploy.events import RecordingEvents
from ocrkit.deploy.state import load_state
from ocrkit.providers.gcp.spec import LABEL_KEY
from tests.providers.gcp.conftest import PROJECT, REGION

pytestmark = [pytest.mark.slow, pytest.mark.model]
PARENT = f"projects/{PROJECT}/locations/{REGION}"


def clients(drongo_url: str):
    opts = {"api_endpoint": drongo_url}
    creds = AnonymousCredentials()
    return (
        aiplatform_v1.ModelServiceClient(transport="rest", client_options=opts, credentials=creds),
        aiplatform_v1.EndpointServiceClient(transport="rest", client_options=opts, credentials=creds),
        functions_v2.FunctionServiceClient(transport="rest", client_options=opts, credentials=creds),
        storage.Client(project=PROJECT, credentials=creds),
    )


def test_deploy_redeploy_new_weights_teardown(deployer, gcp):
    drongo, _ = gcp
    models, endpoints, functions, gcs = clients(drongo.url)

    plan, state, events = deployer.deploy(0)
    assert [c.action for c in plan.calls] == ["create"] * 8
    assert plan.hourly_cost is not None and plan.hourly_cost > 0
    assert any("private" in w for w in plan.warnings)

    # the bucket: uniform access, public access prevention, versioning, labels
    bucket = gcs.get_bucket(state.outputs["bucket"])
    assert bucket.iam_configuration.uniform_bucket_level_access_enabled
    assert bucket.iam_configuration.public_access_prevention == "enforced"
    assert bucket.versioning_enabled
    assert bucket.labels[LABEL_KEY] == "demo"
    sha = state.artifact_sha256
    blob = bucket.get_blob(f"models/{sha[:12]}/model.mar")
    assert blob is not None and blob.metadata["sha256"] == sha
    assert events.progress_of("uploading model.mar")[-1] == (blob.size, blob.size)

    # the model: the prebuilt PyTorch container, the archive's folder, labels
    model = models.get_model(name=state.outputs["model"])
    assert model.container_spec.image_uri.startswith("us-docker.pkg.dev/vertex-ai/prediction/pytorch-gpu")
    assert model.artifact_uri == f"gs://{bucket.name}/models/{sha[:12]}/"
    assert model.labels[LABEL_KEY] == "demo"

    # the deployed model, read back from the stored endpoint: T4 on n1-standard-4, replicas, traffic
    endpoint = endpoints.get_endpoint(name=state.outputs["endpoint"])
    (deployed,) = endpoint.deployed_models
    spec = deployed.dedicated_resources.machine_spec
    assert spec.machine_type == "n1-standard-4"
    assert spec.accelerator_type == aiplatform_v1.AcceleratorType.NVIDIA_TESLA_T4
    assert spec.accelerator_count == 1
    assert (
        deployed.dedicated_resources.min_replica_count,
        deployed.dedicated_resources.max_replica_count,
    ) == (1, 2)
    assert deployed.model == model.name
    assert sum(endpoint.traffic_split.values()) == 100

    # the function: 2nd gen, python312, the gateway's settings, its own service account
    function = functions.get_function(name=state.resources["function"].id)
    assert function.environment == functions_v2.Environment.GEN_2
    assert function.build_config.runtime == "python312"
    assert function.build_config.entry_point == "predict"
    sc = function.service_config
    assert (sc.available_memory, sc.timeout_seconds, sc.max_instance_count) == ("512Mi", 30, 10)
    assert sc.service_account_email == f"demo-fn@{PROJECT}.iam.gserviceaccount.com"
    env = dict(sc.environment_variables)
    assert env["OCRKIT_VERTEX_ENDPOINT_NAME"] == endpoint.name
    assert env["OCRKIT_MAX_IMAGE_BYTES"] == "1048576"
    assert int(env["OCRKIT_BACKEND_TIMEOUT_S"]) < sc.timeout_seconds
    assert state.outputs["url"] == function.url

    # the source zip PUT to the upload URL is the built one, and holds main.py + the gateway, no torch
    ((url, data),) = deployer.uploads
    assert url.startswith("https://storage.googleapis.com/")
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert "main.py" in names and "ocrkit/providers/gcp/vertex_backend.py" in names
    assert not any("core_model" in n for n in names)

    # IAM is recorded with its intended bindings, not made
    sa = state.resources["service-account"]
    assert sa.attrs["created_by_ocrkit"] is False
    assert {b["role"] for b in sa.attrs["bindings"]} == {"roles/aiplatform.user", "roles/run.invoker"}
    assert f'resource.name == "{endpoint.name}"' in sa.attrs["bindings"][0]["condition"]
    assert any(endpoint.name in c for c in sa.attrs["commands"])
    assert any("gcloud iam service-accounts create demo-fn" in i for i in events.infos)

    # the state file on disk says the same
    saved = load_state("demo", "gcp")
    assert saved is not None and set(saved.resources) == set(state.resources)

    # deploy again: nothing to do, no upload
    _, plan2, _ = deployer.plan(0)
    assert [c.action for c in plan2.calls] == ["noop"] * 8
    assert plan2.changes == []

    # new weights: a new model is deployed with all the traffic, the old one undeployed and deleted
    old_model, old_deployed = state.outputs["model"], state.resources["deployed-model"].id
    plan3, state, _ = deployer.deploy(1)
    actions = {c.resource: c.action for c in plan3.calls}
    assert actions["model"] == "create" and actions["deployed-model"] == "update"
    assert actions["endpoint"] == "noop" and actions["function"] == "noop"
    assert any(c.resource.startswith("deployed-model@") and c.action == "delete" for c in plan3.calls)
    endpoint = endpoints.get_endpoint(name=state.outputs["endpoint"])
    assert [d.model for d in endpoint.deployed_models] == [state.outputs["model"]]
    assert state.outputs["model"] != old_model
    assert old_deployed not in [d.id for d in endpoint.deployed_models]
    assert [m.name for m in models.list_models(parent=PARENT)] == [state.outputs["model"]]
    assert not any("@" in key for key in state.resources)
    assert len(deployer.uploads) == 1  # the function was not touched

    # teardown: everything deleted, then a label listing finds nothing
    provider = deployer.provider(1)
    events = RecordingEvents()
    report = provider.teardown("demo", load_state("demo", "gcp"), events)
    assert report.remaining == []
    assert any(d.startswith("vertex:endpoint") for d in report.deleted)
    assert any("recorded, not made" in i for i in events.infos)
    assert list(endpoints.list_endpoints(parent=PARENT)) == []
    assert list(models.list_models(parent=PARENT)) == []
    assert list(functions.list_functions(parent=PARENT)) == []
    assert list(gcs.list_buckets()) == []
    assert load_state("demo", "gcp") is None


def test_teardown_from_labels_when_the_state_is_lost(deployer, gcp):
    drongo, _ = gcp
    models, endpoints, functions, gcs = clients(drongo.url)
    _, state, _ = deployer.deploy(0)
    state.remove_file()
    report = deployer.provider(0).teardown("demo", None, RecordingEvents())
    assert report.remaining == []
    kinds = sorted(d.split(" ")[0] for d in report.deleted)
    assert kinds == [
        "functions:function",
        "gcs:bucket",
        "vertex:deployed-model",
        "vertex:endpoint",
        "vertex:model",
    ]
    assert list(endpoints.list_endpoints(parent=PARENT)) == []
    assert list(gcs.list_buckets()) == []


def test_a_half_failed_run_resumes(deployer, gcp, monkeypatch):
    """The function step fails once: the state keeps everything made before it; the next run resumes."""
    from ocrkit.deploy.executor import StepFailed

    calls = {"n": 0}

    def flaky_put(url: str, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError("connection reset")
        deployer.uploads.append((url, data))

    deployer.put = flaky_put
    provider, plan, state = deployer.plan(0)
    with pytest.raises(StepFailed) as failed:
        provider.apply(deployer.spec(0), plan, state, RecordingEvents())
    assert "create function" in failed.value.message
    saved = load_state("demo", "gcp")
    assert {"bucket", "artifact", "model", "endpoint", "deployed-model"} <= set(saved.resources)
    assert "function" not in saved.resources

    provider2 = deployer.provider(0)
    plan2 = provider2.plan(deployer.spec(0), saved)
    actions = {c.resource: c.action for c in plan2.calls}
    assert actions["deployed-model"] == "noop" and actions["model"] == "noop"
    assert actions["function"] == "create"
    provider2.apply(deployer.spec(0), plan2, saved, RecordingEvents())
    assert "function" in saved.resources and saved.outputs["url"]


def test_a_failed_deploy_operation_says_why(deployer, gcp, monkeypatch):
    """A deployModel operation that ends in an error: its message, in one sentence, and the state kept."""
    from ocrkit.deploy.executor import StepFailed

    class FailedOperation:
        class operation:  # noqa: N801 - the shape of google.api_core.operation.Operation
            name = f"{PARENT}/operations/42"

        def __init__(self) -> None:
            self.polls = 0

        def done(self) -> bool:
            self.polls += 1
            return self.polls > 2

        def exception(self):
            from google.api_core import exceptions

            return exceptions.ResourceExhausted("Quota custom_model_serving_nvidia_t4_gpus exceeded")

        def result(self):  # pragma: no cover - not reached
            raise AssertionError

    monkeypatch.setattr(
        aiplatform_v1.EndpointServiceClient, "deploy_model", lambda self, **kw: FailedOperation()
    )
    provider, plan, state = deployer.plan(0)
    events = RecordingEvents()
    with pytest.raises(StepFailed) as failed:
        provider.apply(deployer.spec(0), plan, state, events)
    assert "deploying the model failed: Quota custom_model_serving_nvidia_t4_gpus exceeded" in (
        failed.value.message
    )
    assert f"{PARENT}/operations/42" in failed.value.hint
    assert "endpoint" in load_state("demo", "gcp").resources
    waits = [e for e in events.log if e[0] == "progress" and e[1].startswith("deploying the model")]
    assert [e[3] for e in waits[:2]] == [None, None]  # elapsed time while it runs
