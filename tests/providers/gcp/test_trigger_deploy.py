"""`ocrkit deploy --cloud gcp --trigger gcs` against drongo (Cloud Functions v2 over REST, IAM Admin and
Pub/Sub over gRPC) and gcp-storage-emulator: plan -> apply -> the stored resources and their settings ->
redeploy is a no-op -> teardown (the input bucket kept while it holds the user's objects, deleted once
empty); a same-named input bucket that is not ocrkit's is refused without --adopt.

Read back from the emulators: the input bucket (labels, uniform access, public access prevention, its IAM
policy with the prefix conditions), the dead-letter topic (labels), the trigger function as drongo stores
it (event_trigger, retry policy, service account, environment) and the service accounts. At the client
boundary (conftest.FakePolicies; no emulator serves these policies): the topic's publisher binding, the
endpoint's predict bindings and the trigger service's invoker binding.
"""

from __future__ import annotations

import io
import zipfile

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import functions_v2, pubsub_v1, storage

from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import load_state
from ocrkit.providers.gcp.spec import LABEL_KEY
from tests.providers.gcp.conftest import PROJECT, REGION
from tests.providers.gcp.test_deploy_e2e import accounts

pytestmark = [pytest.mark.slow, pytest.mark.model]
PARENT = f"projects/{PROJECT}/locations/{REGION}"
INPUT = f"demo-in-{PROJECT}"
TOPIC = f"projects/{PROJECT}/topics/demo-dead-letter"
TRIGGER = f"{PARENT}/functions/demo-trigger"
TRIGGER_SERVICE = f"{PARENT}/services/demo-trigger"
TRG = f"demo-trg@{PROJECT}.iam.gserviceaccount.com"
MEMBER = f"serviceAccount:{TRG}"
GATEWAY_MEMBER = f"serviceAccount:demo-fn@{PROJECT}.iam.gserviceaccount.com"
TRIGGER_KEYS = ["input-bucket", "dead-letter", "trigger-account", "trigger-function", "trigger-access"]
ON = {"trigger.enabled": True}


def functions_client(url: str):
    return functions_v2.FunctionServiceClient(
        transport="rest", client_options={"api_endpoint": url}, credentials=AnonymousCredentials()
    )


def gcs_client():
    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())


def bucket_grants(bucket: str, member: str) -> list[dict]:
    policy = gcs_client().bucket(bucket).get_iam_policy(requested_policy_version=3)
    return [b for b in policy.to_api_repr().get("bindings", []) if member in b.get("members", [])]


def objects(prefix: str) -> str:
    return f"projects/_/buckets/{INPUT}/objects/{prefix}"


def test_trigger_deploy_redeploy_teardown(deployer, gcp, iam_emulator, policies, pubsub):
    drongo, _ = gcp
    functions = functions_client(drongo.url)
    plan, state, _ = deployer.deploy(0, **ON)
    actions = {c.resource: c.action for c in plan.calls}
    assert {k: actions[k] for k in TRIGGER_KEYS} == dict.fromkeys(TRIGGER_KEYS, "create")
    assert list(actions).index("trigger-function") > list(actions).index("deployed-model")
    assert any("NOT priced" in w for w in plan.warnings)
    assert any("roles/eventarc.eventReceiver" in w for w in plan.warnings)

    # the input bucket: its own, labelled, uniform access, public access prevention
    bucket = gcs_client().get_bucket(INPUT)
    assert bucket.labels == {LABEL_KEY: "demo", "ocrkit-role": "trigger-input"}
    assert bucket.iam_configuration.uniform_bucket_level_access_enabled is True
    assert bucket.iam_configuration.public_access_prevention == "enforced"
    assert state.resources["bucket"].id != INPUT

    # the dead-letter topic (drongo's Pub/Sub)
    topic = pubsub_v1.PublisherClient().get_topic(request={"topic": TOPIC})
    assert dict(topic.labels) == {LABEL_KEY: "demo"}

    # the trigger function as drongo stores it: the event trigger is kept
    fn = functions.get_function(name=TRIGGER)
    trigger = fn.event_trigger
    assert trigger.event_type == "google.cloud.storage.object.v1.finalized"
    assert [(f.attribute, f.value) for f in trigger.event_filters] == [("bucket", INPUT)]
    assert trigger.retry_policy == functions_v2.EventTrigger.RetryPolicy.RETRY_POLICY_RETRY
    assert trigger.service_account_email == TRG
    assert trigger.trigger_region == REGION
    assert fn.build_config.entry_point == "on_object"
    assert fn.service_config.service_account_email == TRG
    assert (
        fn.service_config.ingress_settings == functions_v2.ServiceConfig.IngressSettings.ALLOW_INTERNAL_ONLY
    )
    env = dict(fn.service_config.environment_variables)
    assert env["OCRKIT_TRIGGER_BACKEND"] == "vertex"
    assert env["OCRKIT_VERTEX_ENDPOINT_NAME"] == state.outputs["endpoint"]
    assert env["OCRKIT_TRIGGER_BUCKET"] == INPUT and env["OCRKIT_DEAD_LETTER_TOPIC"] == TOPIC
    assert env["OCRKIT_TRIGGER_INPUT_PREFIX"] == "incoming/"
    assert dict(fn.labels)[LABEL_KEY] == "demo"
    # its source: the CloudEvent entry and its requirements (the second PUT; the first is the gateway's)
    assert len(deployer.uploads) == 2
    with zipfile.ZipFile(io.BytesIO(deployer.uploads[1][1])) as zf:
        names = zf.namelist()
        assert "from ocrkit.runtime.gcs_trigger_entry import on_object" in zf.read("main.py").decode()
        requirements = zf.read("requirements.txt").decode()
    assert "ocrkit/runtime/gcs_trigger_entry.py" in names and "ocrkit/batch/trigger.py" in names
    assert "google-cloud-pubsub==" in requirements and "onnxruntime" not in requirements
    assert TRG in accounts(iam_emulator)

    # least privilege, parsed: the input bucket's policy (from the emulator) holds exactly two grants
    grants = {g["role"]: g for g in bucket_grants(INPUT, MEMBER)}
    assert sorted(grants) == ["roles/storage.objectCreator", "roles/storage.objectViewer"]
    for g in grants.values():
        assert g["members"] == [MEMBER]
    assert grants["roles/storage.objectViewer"]["condition"]["expression"] == (
        f'resource.name.startsWith("{objects("incoming/")}")'
    )
    assert grants["roles/storage.objectCreator"]["condition"]["expression"] == (
        f'resource.name.startsWith("{objects("results/")}") || '
        f'resource.name.startsWith("{objects("errors/")}")'
    )
    assert bucket_grants(state.resources["bucket"].id, MEMBER) == []  # nothing on the artifact bucket
    # the other policies it is on: the topic, the endpoint, its own Cloud Run service; nothing else
    assert policies.bindings(TOPIC) == [("roles/pubsub.publisher", [MEMBER], "")]
    assert policies.bindings(TRIGGER_SERVICE) == [("roles/run.invoker", [MEMBER], "")]
    endpoint_bindings = policies.bindings(state.outputs["endpoint"])
    assert sorted(m for _, members, _ in endpoint_bindings for m in members) == sorted(
        [GATEWAY_MEMBER, MEMBER]
    )
    assert {role for role, _, _ in endpoint_bindings} == {"roles/aiplatform.user"}
    touched = {r for r, p in policies.policies.items() if any(MEMBER in b.members for b in p.bindings)}
    assert touched == {TOPIC, TRIGGER_SERVICE, state.outputs["endpoint"]}
    assert not any(r.startswith("projects/") and r.count("/") == 1 for r in policies.policies)

    # redeploy: nothing changes (the gateway's drift check leaves the trigger's endpoint binding alone)
    writes = len(policies.writes)
    _, plan2, _ = deployer.plan(0, **ON)
    assert plan2.changes == [], [(c.resource, c.action, c.summary) for c in plan2.changes]
    assert len(policies.writes) == writes

    # teardown with the user's objects in the input bucket: kept, said so; everything else removed
    gcs_client().bucket(INPUT).blob("incoming/a.png").upload_from_string(b"x")
    events = RecordingEvents()
    report = destroy(deployer.provider(0), "demo", load_state("demo", "gcp"), events)
    assert report.remaining == [f"gcs:input-bucket {INPUT}"]
    assert any(f"kept gs://{INPUT}" in line and "gcloud storage rm" in line for line in events.infos)
    assert f"functions:function {TRIGGER}" in report.deleted
    assert f"pubsub:topic {TOPIC}" in report.deleted
    assert [f.name for f in functions.list_functions(parent=PARENT)] == []
    assert TRG not in accounts(iam_emulator)
    assert list(pubsub_v1.PublisherClient().list_topics(request={"project": f"projects/{PROJECT}"})) == []
    assert bucket_grants(INPUT, MEMBER) == []  # the grants on the kept bucket were revoked
    assert [b.name for b in gcs_client().list_buckets()] == [INPUT]
    assert gcs_client().bucket(INPUT).get_blob("incoming/a.png").download_as_bytes() == b"x"

    # once emptied, teardown again deletes it
    gcs_client().bucket(INPUT).blob("incoming/a.png").delete()
    report = destroy(deployer.provider(0), "demo", load_state("demo", "gcp"), RecordingEvents())
    assert report.remaining == []
    assert list(gcs_client().list_buckets()) == []


def test_a_foreign_input_bucket_is_refused_without_adopt(deployer, gcp, iam_emulator, policies, pubsub):
    gcs_client().create_bucket(INPUT, location=REGION)
    _, plan, _ = deployer.plan(0, **ON)
    assert f"gcs:input-bucket {INPUT}" in plan.foreign
    call = next(c for c in plan.calls if c.resource == "input-bucket")
    assert "NOT ocrkit's" in call.summary


def test_without_trigger_nothing_of_it_is_planned(deployer, gcp, iam_emulator, policies):
    _, plan, _ = deployer.plan(0)
    assert not set(TRIGGER_KEYS) & {c.resource for c in plan.calls}
