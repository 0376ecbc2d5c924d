"""The bucket trigger's data path on what would run: the trigger function's source exactly as
`ocrkit deploy --trigger gcs --serving function` builds it, served by functions-framework
(`--signature-type cloudevent`) on 127.0.0.1, fed real Cloud Storage CloudEvents
(`google.cloud.storage.object.v1.finalized`, in binary and structured HTTP mode) for objects in
gcp-storage-emulator; the model is the ONNX export read from the emulator as from the artifact bucket, and
the dead-letter topic is drongo's Pub/Sub emulator (publish and pull are real).

The function runs in the shared test environment (functions-framework, google-cloud-storage,
google-cloud-pubsub, onnxruntime installed) with only the source folder on PYTHONPATH, so the ocrkit
modules it imports are the bundled ones: a module missing from the source fails here.

Checked: two samples' .txt/.json equal the in-process ONNX engine's text; a bad image -> errors/ record +
one dead-letter message, acknowledged (200); an event for a results/ key -> skipped, nothing written (no
retrigger); a failed publish -> the function fails (500: the platform retries).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from ocrkit.deploy.serving import ServingOption
from ocrkit.providers.gcp import function_serving, trigger_package
from tests.providers.gcp.conftest import PROJECT, start_server
from tests.providers.helpers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.model]

SAMPLES = Path(__file__).resolve().parents[3] / "ocrkit" / "assets" / "samples"
MODELS = "trig-models"
INPUT = "trig-in"
TOPIC = f"projects/{PROJECT}/topics/trig-dead-letter"
SUBSCRIPTION = f"projects/{PROJECT}/subscriptions/trig-dead-letter-read"
EVENT_TYPE = "google.cloud.storage.object.v1.finalized"


def storage_client(gcs_url: str):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    os.environ["STORAGE_EMULATOR_HOST"] = gcs_url  # this process talks to the emulator only
    return storage.Client(project=PROJECT, credentials=AnonymousCredentials())


@pytest.fixture(scope="module")
def trigger(tmp_path_factory, gcs, pubsub_server):
    """functions-framework serving the built trigger source; (server, export, storage client)."""
    from google.cloud import pubsub_v1

    from ocrkit.providers.gcp.spec import GcpDeploySpec
    from ocrkit.weights import shipped_weights_path

    folder = tmp_path_factory.mktemp("trigger")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OCRKIT_CACHE_DIR", str(folder / "cache"))
        export = function_serving.export_for(shipped_weights_path())
    model = function_serving.build_model_zip(export, folder / "model-onnx.zip")
    source_zip = trigger_package.build_trigger_source(folder / "function-trigger.zip", ServingOption.function)
    source = folder / "source"
    with zipfile.ZipFile(source_zip.path) as zf:
        zf.extractall(source)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("STORAGE_EMULATOR_HOST", gcs.url)
        mp.setenv("PUBSUB_EMULATOR_HOST", pubsub_server)
        client = storage_client(gcs.url)
        models = client.lookup_bucket(MODELS) or client.create_bucket(MODELS)
        model_name = f"models/{model.sha256[:12]}/{function_serving.MODEL_ZIP}"
        models.blob(model_name).upload_from_filename(str(model.path))
        client.lookup_bucket(INPUT) or client.create_bucket(INPUT)
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        publisher.create_topic(request={"name": TOPIC})
        subscriber.create_subscription(request={"name": SUBSCRIPTION, "topic": TOPIC})

    spec = GcpDeploySpec(name="demo", serving="function", trigger={"enabled": True})
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(folder),
        "TMPDIR": str(folder),
        "PYTHONPATH": str(source),  # the bundled ocrkit modules, not a checkout
        "PYTHONNOUSERSITE": "1",
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "STORAGE_EMULATOR_HOST": gcs.url,
        "PUBSUB_EMULATOR_HOST": pubsub_server,
        "OCRKIT_ONNX_THREADS": "1",
        **trigger_package.trigger_environment(
            spec,
            bucket=INPUT,
            topic=TOPIC,
            model_uri=f"gs://{MODELS}/{model_name}",
            model_sha256=model.sha256,
            endpoint=None,
        ),
    }
    port = free_port()
    server = start_server(
        [
            str(Path(sys.executable).parent / "functions-framework"),
            f"--target={trigger_package.ENTRY_POINT}",
            "--signature-type=cloudevent",
            "--source=main.py",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        port,
        "/robots.txt",
        folder,
        cwd=source,
        env=env,
    )
    yield server, export, client
    server.stop()


def object_data(bucket: str, blob) -> dict:
    """The event's data: Cloud Storage's object resource, as Eventarc delivers it."""
    return {
        "kind": "storage#object",
        "id": f"{bucket}/{blob.name}/{blob.generation}",
        "bucket": bucket,
        "name": blob.name,
        "generation": str(blob.generation),
        "metageneration": "1",
        "contentType": blob.content_type or "application/octet-stream",
        "size": str(blob.size),
        "timeCreated": "2026-12-03T00:00:00.000Z",
        "updated": "2026-12-03T00:00:00.000Z",
        "storageClass": "STANDARD",
    }


def send(url: str, bucket: str, blob, *, structured: bool, event_id: str) -> int:
    attributes = {
        "specversion": "1.0",
        "type": EVENT_TYPE,
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "subject": f"objects/{blob.name}",
        "id": event_id,
        "time": "2026-12-03T00:00:00.000Z",
    }
    data = object_data(bucket, blob)
    if structured:
        body = {**attributes, "datacontenttype": "application/json", "data": data}
        headers = {"Content-Type": "application/cloudevents+json"}
    else:
        body = data
        headers = {"Content-Type": "application/json", **{f"ce-{k}": v for k, v in attributes.items()}}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=300) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def names(client, bucket: str) -> list[str]:
    return sorted(b.name for b in client.bucket(bucket).list_blobs())


def pull(max_messages: int = 10) -> list:
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    got = subscriber.pull(request={"subscription": SUBSCRIPTION, "max_messages": max_messages}, timeout=30)
    if got.received_messages:
        ack = [m.ack_id for m in got.received_messages]
        subscriber.acknowledge(request={"subscription": SUBSCRIPTION, "ack_ids": ack})
    return [m.message for m in got.received_messages]


def test_uploads_become_results_failures_dead_letter_and_results_do_not_retrigger(trigger, pubsub_server):
    from ocrkit.engine.onnx_runtime import OnnxPredictor

    server, export, client = trigger
    os.environ["PUBSUB_EMULATOR_HOST"] = pubsub_server
    bucket = client.bucket(INPUT)
    files = sorted(SAMPLES.glob("*.jpg"))[:2]
    expected = OnnxPredictor(export, threads=1).predict_images([f.read_bytes() for f in files])
    keys = [f"incoming/scans/{files[0].name}", f"incoming/{files[1].name}"]
    for key, path in zip(keys, files, strict=True):
        bucket.blob(key).upload_from_filename(str(path), content_type="image/jpeg")

    started = time.perf_counter()
    for i, key in enumerate(keys):  # one binary-mode event, one structured-mode event
        assert send(server.url, INPUT, bucket.get_blob(key), structured=bool(i), event_id=f"ev-{i}") == 200
    elapsed = time.perf_counter() - started
    for key, want in zip(keys, expected, strict=True):
        rel = key[len("incoming/") :]
        text = bucket.get_blob(f"results/{rel}.txt").download_as_bytes().decode("utf-8")
        record = json.loads(bucket.get_blob(f"results/{rel}.json").download_as_bytes())
        assert text == want.text + "\n"
        assert record["text"] == want.text and record["source"] == f"gs://{INPUT}/{key}"
        assert record["confidence"] == pytest.approx(want.confidence, abs=1e-4)
        print(f"gs://{INPUT}/results/{rel}.json: {json.dumps(record, ensure_ascii=False)}")
    print(
        json.dumps(
            {
                "two_events_s (cold model load included)": round(elapsed, 2),
                "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            }
        )
    )
    assert pull() == []  # nothing dead-lettered

    # an event for one of its own results: skipped, nothing written (the pipeline cannot retrigger itself)
    before = names(client, INPUT)
    result = bucket.get_blob(f"results/{keys[1][len('incoming/') :]}.txt")
    assert send(server.url, INPUT, result, structured=False, event_id="ev-result") == 200
    assert names(client, INPUT) == before

    # a bad image: an errors/ record, one dead-letter message, then acknowledged (200: not retried)
    bucket.blob("incoming/bad.png").upload_from_string(b"not an image at all", content_type="image/png")
    assert (
        send(server.url, INPUT, bucket.get_blob("incoming/bad.png"), structured=True, event_id="ev-bad")
        == 200
    )
    error = json.loads(bucket.get_blob("errors/bad.png.json").download_as_bytes())
    assert error["source"] == f"gs://{INPUT}/incoming/bad.png"
    assert error["error"]["code"] == "not_an_image"
    assert bucket.get_blob("results/bad.png.txt") is None
    (message,) = pull()
    body = json.loads(message.data)
    assert body["bucket"] == INPUT and body["key"] == "incoming/bad.png"
    assert body["error"]["code"] == "not_an_image" and body["error"]["message"]
    assert body["error_record"] == f"gs://{INPUT}/errors/bad.png.json"
    assert body["attempt"]["event_id"] == "ev-bad" and body["attempt"]["at"]
    print(f"gs://{INPUT}/errors/bad.png.json: {json.dumps(error, ensure_ascii=False)}")
    print(f"dead-letter message: {json.dumps(body, ensure_ascii=False)}")
    assert dict(message.attributes) == {"bucket": INPUT, "key": "incoming/bad.png", "code": "not_an_image"}


def test_a_failed_dead_letter_publish_fails_the_event(trigger, pubsub_server):
    """No topic to publish to: the function raises (500), so the platform retries; nothing is lost."""
    from google.cloud import pubsub_v1

    server, _, client = trigger
    os.environ["PUBSUB_EMULATOR_HOST"] = pubsub_server
    bucket = client.bucket(INPUT)
    bucket.blob("incoming/worse.png").upload_from_string(b"\x89PNG broken", content_type="image/png")
    pubsub_v1.PublisherClient().delete_topic(request={"topic": TOPIC})
    try:
        code = send(
            server.url, INPUT, bucket.get_blob("incoming/worse.png"), structured=False, event_id="ev-x"
        )
        assert code == 500
        assert bucket.get_blob("errors/worse.png.json") is not None  # the record is written before
    finally:
        pubsub_v1.PublisherClient().create_topic(request={"name": TOPIC})


def test_a_trigger_memory_too_small_for_the_model_is_refused(trigger):
    from ocrkit.errors import OcrkitError

    _, export, _ = trigger
    trigger_package.check_memory("2Gi", export)  # the default holds the demo model
    with pytest.raises(OcrkitError, match="trigger function's memory 256Mi is too small"):
        trigger_package.check_memory("256Mi", export)
