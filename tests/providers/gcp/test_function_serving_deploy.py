"""`serving: function` on GCP against drongo + gcp-storage-emulator: deploy (no Vertex AI resource at all),
redeploy (no-op), teardown (nothing left); the function's service account may read its one model object
and nothing else (the bucket's IAM policy, read back from the emulator, parsed); a switch of weights moves
that grant to the new object. The policies of the Vertex endpoint and the Cloud Run service are served by
conftest.FakePolicies (no emulator routes them): that they are never written is checked too.
"""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1, functions_v2, storage

from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import load_state
from ocrkit.providers.gcp.function_serving import REQUIREMENTS
from ocrkit.providers.gcp.model_reader import READER_ROLE
from tests.providers.gcp.conftest import PROJECT, REGION
from tests.providers.gcp.test_deploy_e2e import accounts

pytestmark = [pytest.mark.slow, pytest.mark.model]
PARENT = f"projects/{PROJECT}/locations/{REGION}"
SA = f"demo-fn@{PROJECT}.iam.gserviceaccount.com"
MEMBER = f"serviceAccount:{SA}"
FUNCTION_KEYS = ["bucket", "artifact", "service-account", "model-reader", "function", "invoker"]


@pytest.fixture(autouse=True)
def _private_export_cache(tmp_path_factory, monkeypatch):
    """Exports of the test checkpoints land in a temporary cache (shared by this module's tests)."""
    monkeypatch.setenv("OCRKIT_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "onnx-cache"))


def vertex_clients(url: str):
    opts, creds = {"api_endpoint": url}, AnonymousCredentials()
    return (
        aiplatform_v1.ModelServiceClient(transport="rest", client_options=opts, credentials=creds),
        aiplatform_v1.EndpointServiceClient(transport="rest", client_options=opts, credentials=creds),
        functions_v2.FunctionServiceClient(transport="rest", client_options=opts, credentials=creds),
    )


def bucket_bindings(bucket: str) -> list[dict]:
    """The bucket's IAM policy as the emulator stores it (what `gcloud storage buckets get-iam-policy`
    would print)."""
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    policy = client.bucket(bucket).get_iam_policy(requested_policy_version=3)
    return list(policy.to_api_repr().get("bindings", []))


def grants_of(member: str, bindings: list[dict]) -> list[dict]:
    return [b for b in bindings if member in b.get("members", [])]


def assert_least_privilege(bucket: str, object_name: str) -> None:
    """The account holds exactly one grant: objectViewer, conditioned on that one object's name."""
    grants = grants_of(MEMBER, bucket_bindings(bucket))
    assert len(grants) == 1, grants
    (grant,) = grants
    assert grant["role"] == READER_ROLE
    assert grant["members"] == [MEMBER]  # a binding of its own: no one else rides on the condition
    expression = grant["condition"]["expression"]
    assert expression == f'resource.name == "projects/_/buckets/{bucket}/objects/{object_name}"'
    assert "*" not in expression and "startsWith" not in expression


def test_function_deploy_redeploy_new_weights_teardown(deployer, gcp, iam_emulator, policies):
    drongo, _ = gcp
    models, endpoints, functions = vertex_clients(drongo.url)

    plan, state, _ = deployer.deploy(0, serving="function")
    actions = {c.resource: c.action for c in plan.calls}
    assert list(actions) == FUNCTION_KEYS
    assert actions == {**dict.fromkeys(FUNCTION_KEYS, "create"), "invoker": "noop"}
    assert not any("aiplatform" in call for c in plan.calls for call in c.calls)
    assert plan.hourly_cost == 0  # nothing runs every hour
    assert plan.monthly_cost is not None and plan.monthly_cost > 0

    # no Vertex AI resource exists
    assert list(models.list_models(parent=PARENT)) == []
    assert list(endpoints.list_endpoints(parent=PARENT)) == []
    assert policies.writes == []  # neither an endpoint policy nor a Cloud Run policy was written

    # the model object: the ONNX export, one zip in the private bucket
    bucket = storage.Client(project=PROJECT, credentials=AnonymousCredentials()).get_bucket(
        state.outputs["bucket"]
    )
    object_name = state.resources["artifact"].id
    assert object_name == f"models/{state.artifact_sha256[:12]}/model-onnx.zip"
    blob = bucket.get_blob(object_name)
    members = zipfile.ZipFile(io.BytesIO(blob.download_as_bytes())).namelist()
    assert sorted(members) == ["decoder_step.onnx", "encoder.onnx", "ocrkit-onnx.json"]
    assert bucket.iam_configuration.uniform_bucket_level_access_enabled  # conditions need it
    assert bucket.iam_configuration.public_access_prevention == "enforced"

    # the function holds the model: 2Gi, its env names the object, no endpoint
    function = functions.get_function(name=state.resources["function"].id)
    sc = function.service_config
    assert sc.available_memory == "2Gi"
    assert sc.service_account_email == SA
    env = dict(sc.environment_variables)
    assert env["OCRKIT_MODEL_URI"] == f"gs://{bucket.name}/{object_name}"
    assert env["OCRKIT_MODEL_SHA256"] == blob.metadata["sha256"]
    assert not any("VERTEX" in k for k in env)

    # the source: main.py -> the ONNX entry, pinned requirements, no Vertex backend
    ((_, data),) = deployer.uploads
    zf = zipfile.ZipFile(io.BytesIO(data))
    assert "onnx_function_entry" in zf.read("main.py").decode()
    requirements = zf.read("requirements.txt").decode().split()
    assert [r for r in requirements if "==" in r] == [f"{k}=={v}" for k, v in REQUIREMENTS.items()]
    assert "ocrkit/runtime/vertex_backend.py" not in zf.namelist()

    # least privilege: one conditional read grant on one object, nothing on the project or elsewhere
    assert_least_privilege(bucket.name, object_name)
    assert state.resources["model-reader"].attrs["expression"].endswith(f'/objects/{object_name}"')

    # deploy again: nothing to do
    _, plan2, _ = deployer.plan(0, serving="function")
    assert [c.action for c in plan2.calls] == ["noop"] * len(FUNCTION_KEYS)
    assert plan2.changes == []

    # new weights: a new object, the grant moves to it (replaced, not added), the old object is removed
    plan3, state, _ = deployer.deploy(1, serving="function")
    actions = {c.resource: c.action for c in plan3.calls}
    assert actions["artifact"] == "create" and actions["function"] == "update"
    assert actions["model-reader"] == "create"
    new_object = state.resources["artifact"].id
    assert new_object != object_name
    assert_least_privilege(bucket.name, new_object)
    assert any(c.resource.startswith("artifact@") and c.action == "delete" for c in plan3.calls)
    assert bucket.get_blob(object_name) is None
    env = dict(
        functions.get_function(name=state.resources["function"].id).service_config.environment_variables
    )
    assert env["OCRKIT_MODEL_URI"].endswith(new_object)

    # teardown: nothing left
    report = destroy(deployer.provider(1), "demo", load_state("demo", "gcp"), RecordingEvents())
    assert report.remaining == []
    assert f"iam:service-account {SA}" in report.deleted
    assert accounts(iam_emulator) == []
    assert list(functions.list_functions(parent=PARENT)) == []
    assert list(storage.Client(project=PROJECT, credentials=AnonymousCredentials()).list_buckets()) == []
    assert load_state("demo", "gcp") is None


def test_function_public_and_teardown_from_labels(deployer, gcp, iam_emulator, policies):
    """--public as today (allUsers get run.invoker on the Cloud Run service); with the state file lost,
    teardown finds the function, bucket and account by label / description."""
    plan, state, _ = deployer.deploy(0, serving="function", function={"public": True})
    assert {c.resource: c.action for c in plan.calls}["invoker"] == "create"
    service = f"{PARENT}/services/demo-gateway"
    assert policies.bindings(service) == [("roles/run.invoker", ["allUsers"], "")]
    state.remove_file()
    report = destroy(deployer.provider(0), "demo", None, RecordingEvents())
    assert report.remaining == []
    kinds = sorted(d.split(" ")[0] for d in report.deleted)
    assert kinds == ["functions:function", "gcs:bucket", "iam:service-account"]
    assert accounts(iam_emulator) == []


def test_the_dry_run_plan_json(gcp, capsys, weights, monkeypatch, tmp_path):
    """`ocrkit deploy --cloud gcp --serving function --dry-run --format json`: no Vertex resource."""
    from tests.providers.helpers import run

    monkeypatch.setenv("OCRKIT_CACHE_DIR", str(tmp_path / "cache"))
    code, out, err = run(
        capsys,
        "deploy",
        "--cloud",
        "gcp",
        "--name",
        "demo",
        "--serving",
        "function",
        "--weights",
        str(weights[0]),
        "--dry-run",
        "--format",
        "json",
    )
    assert code == 0, err
    plan = json.loads(out)
    text = json.dumps(plan)
    assert "vertex" not in text.lower() and "aiplatform" not in text
    assert "model-onnx.zip" in text and READER_ROLE in text
    assert load_state("demo", "gcp") is None
