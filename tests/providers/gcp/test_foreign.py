"""Same-named GCP resources ocrkit did not make (no `ocrkit-deployment` label; a service account without
ocrkit's description or the recorded unique id), against the emulators: teardown leaves them alone, even
when the state file names them; deploy stops before any write unless `--adopt` is given."""

from __future__ import annotations

import pytest
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from ocrkit.deploy.pipeline import destroy
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.state import load_state
from ocrkit.providers.gcp.planning import Names
from tests.providers.gcp.conftest import PROJECT, REGION
from tests.providers.gcp.test_deploy_e2e import SA, accounts, iam_client

pytestmark = pytest.mark.slow


def store() -> storage.Client:
    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())


def replace_with_foreign(bucket_name: str, iam_address: str) -> None:
    """Someone removed the deployment's bucket and account by hand and made their own under the names."""
    bucket = store().bucket(bucket_name)
    for blob in list(bucket.list_blobs(versions=True)):
        blob.delete()
    bucket.delete()
    theirs = store().create_bucket(bucket_name)
    theirs.blob("precious/customer-data.csv").upload_from_string(b"id,name\n1,Anna\n")
    client = iam_client(iam_address)
    client.delete_service_account(name=f"projects/{PROJECT}/serviceAccounts/{SA}")
    client.create_service_account(
        request={
            "name": f"projects/{PROJECT}",
            "account_id": "demo-fn",
            "service_account": {"description": "mine"},
        }
    )


def test_teardown_leaves_foreign_resources_the_state_still_names(deployer, gcp, iam_emulator, policies):
    _, state, _ = deployer.deploy(0)
    bucket_name = state.resources["bucket"].id
    replace_with_foreign(bucket_name, iam_emulator)

    report = destroy(deployer.provider(0), "demo", load_state("demo", "gcp"), RecordingEvents())
    assert sorted(report.left_alone) == sorted([f"gcs:bucket {bucket_name}", f"iam:service-account {SA}"])
    assert report.remaining == []
    blob = store().bucket(bucket_name).get_blob("precious/customer-data.csv")
    assert blob is not None and blob.download_as_bytes() == b"id,name\n1,Anna\n"
    assert accounts(iam_emulator) == [SA]
    assert "function" not in " ".join(report.left_alone)  # the deployment's own function was deleted
    assert any(d.startswith("functions:function") for d in report.deleted)


def test_deploy_stops_on_a_foreign_bucket_unless_adopted(deployer, gcp, iam_emulator, policies):
    from ocrkit.deploy import pipeline
    from ocrkit.errors import OcrkitError

    bucket_name = Names("demo", PROJECT, REGION).bucket
    theirs = store().create_bucket(bucket_name)
    theirs.blob("precious/customer-data.csv").upload_from_string(b"id,name\n1,Anna\n")

    with pytest.raises(OcrkitError) as stopped:
        pipeline.deploy(deployer.spec(0), deployer.provider(0), RecordingEvents())
    assert f"gcs:bucket {bucket_name}" in str(stopped.value) and "not made by ocrkit" in str(stopped.value)
    assert load_state("demo", "gcp") is None
    assert [b.name for b in store().list_buckets()] == [bucket_name]
    assert dict(store().get_bucket(bucket_name).labels or {}) == {}
    assert accounts(iam_emulator) == []  # nothing was written before the refusal

    adopting = deployer.provider(0)
    adopting.adopt = True
    planned = adopting.plan(deployer.spec(0), None)
    bucket_call = next(c for c in planned.calls if c.resource == "bucket")
    assert planned.foreign == [f"gcs:bucket {bucket_name}"] and bucket_call.summary.startswith("ADOPT")
