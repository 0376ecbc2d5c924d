"""Deploy -> resources exist with the right settings -> deploy again is a no-op -> new weights -> new model
deployed, old one undeployed -> teardown -> nothing left. Against drongo (Vertex AI models, endpoints,
deployModel/undeployModel; Cloud Functions v2; IAM Admin service accounts, over gRPC) and
gcp-storage-emulator, through the real client libraries over REST with anonymous credentials.

What drongo cannot show, tested at the client-library boundary instead: the PUT of the function source to
the generateUploadUrl answer (a storage.googleapis.com URL; recorded and checked byte for byte); IAM
policies (the predict binding on the Vertex AI endpoint, the public invoker binding on the Cloud Run service):
drongo routes no getIamPolicy/setIamPolicy, so conftest.FakePolicies answers them.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1, functions_v2, iam_admin_v1, storage

from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
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


SA = f"demo-fn@{PROJECT}.iam.gserviceaccount.com"
SERVICE = f"{PARENT}/services/demo-gateway"


def iam_client(address: str):
    import grpc
    from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

    return iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=grpc.insecure_channel(address)))


def accounts(address: str) -> list[str]:
    return [a.email for a in iam_client(address).list_service_accounts(name=f"projects/{PROJECT}")]


def test_deploy_redeploy_new_weights_teardown(deployer, gcp, iam_emulator, policies):
    drongo, _ = gcp
    models, endpoints, functions, gcs = clients(drongo.url)

    plan, state, events = deployer.deploy(0)
    actions = {c.resource: c.action for c in plan.calls}
    assert list(actions) == [
        "bucket",
        "artifact",
        "model",
        "endpoint",
        "deployed-model",
        "service-account",
        "predict-binding",
        "function",
        "invoker",
    ]
    assert [a for r, a in actions.items() if r != "invoker"] == ["create"] * 8
    assert actions["invoker"] == "noop"  # private: no binding is made
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
    assert "main.py" in names and "ocrkit/runtime/vertex_backend.py" in names
    assert not any("core_model" in n for n in names)

    # IAM: the function's own service account (made in drongo's IAM Admin), marked in its description
    account = iam_client(iam_emulator).get_service_account(name=f"projects/{PROJECT}/serviceAccounts/{SA}")
    assert account.description.startswith(f"{LABEL_KEY}=demo:")
    assert state.resources["service-account"].id == SA
    # ...which may call predict on this endpoint only: a binding in the endpoint's policy, none on the project
    assert policies.bindings(endpoint.name) == [("roles/aiplatform.user", [f"serviceAccount:{SA}"], "")]
    assert policies.writes == [endpoint.name]
    # private: nobody is granted the invoker role
    assert policies.bindings(SERVICE) == []
    assert not any("gcloud" in w for w in plan.warnings)

    # the state file on disk says the same
    saved = load_state("demo", "gcp")
    assert saved is not None and set(saved.resources) == set(state.resources)

    # deploy again: nothing to do, no upload
    writes = len(policies.writes)
    _, plan2, _ = deployer.plan(0)
    assert [c.action for c in plan2.calls] == ["noop"] * 9
    assert plan2.changes == []
    assert len(policies.writes) == writes

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
    report = destroy(provider, "demo", load_state("demo", "gcp"), events)
    assert report.remaining == []
    assert any(d.startswith("vertex:endpoint") for d in report.deleted)
    assert f"iam:service-account {SA}" in report.deleted
    assert f"iam:binding {endpoint.name}#roles/aiplatform.user" in report.deleted
    assert accounts(iam_emulator) == []
    assert policies.bindings(endpoint.name) == []
    assert list(endpoints.list_endpoints(parent=PARENT)) == []
    assert list(models.list_models(parent=PARENT)) == []
    assert list(functions.list_functions(parent=PARENT)) == []
    assert list(gcs.list_buckets()) == []
    assert load_state("demo", "gcp") is None


def test_teardown_from_labels_when_the_state_is_lost(deployer, gcp, iam_emulator, policies):
    drongo, _ = gcp
    models, endpoints, functions, gcs = clients(drongo.url)
    _, state, _ = deployer.deploy(0)
    state.remove_file()
    report = destroy(deployer.provider(0), "demo", None, RecordingEvents())
    assert report.remaining == []
    kinds = sorted(d.split(" ")[0] for d in report.deleted)
    assert kinds == [
        "functions:function",
        "gcs:bucket",
        "iam:binding",
        "iam:service-account",
        "vertex:deployed-model",
        "vertex:endpoint",
        "vertex:model",
    ]
    assert list(endpoints.list_endpoints(parent=PARENT)) == []
    assert list(gcs.list_buckets()) == []
    assert accounts(iam_emulator) == []
    assert policies.bindings(state.outputs["endpoint"]) == []


def test_public_then_private_then_teardown(deployer, gcp, iam_emulator, policies):
    """--public grants allUsers roles/run.invoker on the function's Cloud Run service, and says so; going
    back to private removes it; teardown removes the bindings it made and the service account."""
    plan, state, _ = deployer.deploy(0, function={"public": True})
    assert {c.resource: c.action for c in plan.calls}["invoker"] == "create"
    assert any("PUBLIC" in w and "allUsers" in w for w in plan.warnings)
    assert policies.bindings(SERVICE) == [("roles/run.invoker", ["allUsers"], "")]
    assert state.resources["invoker"].attrs["public"] is True

    _, plan2, _ = deployer.plan(0, function={"public": True})
    assert plan2.changes == []

    plan3, state, _ = deployer.deploy(0)
    assert {c.resource: c.action for c in plan3.calls}["invoker"] == "delete"
    assert policies.bindings(SERVICE) == []

    _, state, _ = deployer.deploy(0, function={"public": True})
    assert policies.bindings(SERVICE) == [("roles/run.invoker", ["allUsers"], "")]
    report = destroy(deployer.provider(0), "demo", load_state("demo", "gcp"), RecordingEvents())
    assert report.remaining == []
    assert f"iam:binding {SERVICE}#roles/run.invoker" in report.deleted
    assert policies.bindings(SERVICE) == []
    assert accounts(iam_emulator) == []


def test_an_existing_account_is_reused_and_a_foreign_one_is_left(deployer, gcp, iam_emulator, policies):
    """The account is looked up first (idempotent); one that ocrkit did not make is used, warned about,
    and left in place by teardown."""
    client = iam_client(iam_emulator)
    client.create_service_account(
        request={
            "name": f"projects/{PROJECT}",
            "account_id": "demo-fn",
            "service_account": {"description": "mine"},
        }
    )
    plan, _, _ = deployer.deploy(0)
    assert {c.resource: c.action for c in plan.calls}["service-account"] == "noop"
    assert any("not made by ocrkit" in w for w in plan.warnings)
    events = RecordingEvents()
    report = destroy(deployer.provider(0), "demo", load_state("demo", "gcp"), events)
    assert report.remaining == []
    assert accounts(iam_emulator) == [SA]
    assert any("not made by ocrkit" in i for i in events.infos)


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
