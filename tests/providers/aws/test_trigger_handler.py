"""The S3-triggered Lambda's entry (`ocrkit.runtime.s3_trigger_entry.handler`), called in-process with S3
event payloads in the documented ObjectCreated:Put shape, against buckets on the moto server, with the
real ONNX engine on the demo model read from S3 exactly as `--serving function` deploys it (the archive,
its sha256, the environment the deploy sets). Results must equal the in-process engine's text; a bad
image writes its errors/ record and raises (Lambda retries, then the dead-letter queue); an event for a
results/ key is skipped and writes nothing."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote_plus

import boto3
import pytest

from ocrkit.batch.trigger import TriggerFailure
from ocrkit.gateway.backend import InProcessBackend
from ocrkit.providers.aws.function_package import build_model_archive, export_dir_for
from ocrkit.providers.aws.spec import function_environment, load_aws_spec, trigger_environment
from ocrkit.runtime import function_model_entry, s3_trigger_entry
from ocrkit.weights import shipped_weights_path
from tests.providers.aws.conftest import REGION
from tests.providers.aws.test_trigger_deploy import ACCOUNT

pytestmark = [pytest.mark.slow, pytest.mark.model]

MODELS = f"demo-{ACCOUNT}-{REGION}"
UPLOADS = f"demo-in-{ACCOUNT}-{REGION}"
MODEL_KEY = "demo/onnx-model.tar.gz"
SAMPLES = sorted((Path(__file__).resolve().parents[3] / "ocrkit" / "assets" / "samples").glob("*.jpg"))


def s3_event(bucket: str, *keys: str, sizes: dict[str, int] | None = None) -> dict:
    """An S3 event notification (version 2.1) as S3 delivers it to Lambda, one record per key; keys are
    URL-encoded in the payload as S3 writes them (spaces as '+', UTF-8 as %XX)."""
    records = []
    for i, key in enumerate(keys):
        records.append(
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-12-03T03:30:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:AIDAJDPLRKLG7UEXAMPLE"},
                "requestParameters": {"sourceIPAddress": "203.0.113.7"},
                "responseElements": {
                    "x-amz-request-id": "C3D13FE58DE4C810",
                    "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD",
                },
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "ocrkit-demo-.jpg",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "A3NL1KOZZKExample"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(key),
                        "size": (sizes or {}).get(key, 1024),
                        "eTag": "d41d8cd98f00b204e9800998ecf8427e",
                        "versionId": "096fKKXTRTtl3on89fVO.nfljtsv6qko",
                        "sequencer": f"0055AED6DCD90281E{i}",
                    },
                },
            }
        )
    return {"Records": records}


@pytest.fixture
def trigger_env(aws, cache_env, tmp_path, monkeypatch):
    """Buckets on moto, the demo model's ONNX archive uploaded as the deploy uploads it, and the trigger
    function's environment as `ocrkit deploy --serving function --trigger s3` sets it."""
    export = export_dir_for(shipped_weights_path())
    archive, _ = build_model_archive(export, tmp_path / "model-onnx.tar.gz")
    s3 = boto3.client("s3", region_name=REGION)
    for bucket in (MODELS, UPLOADS):
        s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(archive.path), MODELS, MODEL_KEY)
    spec = load_aws_spec(None, {"serving": "function", "trigger.enabled": True}).spec
    base = function_environment(spec, f"s3://{MODELS}/{MODEL_KEY}", archive.sha256)
    env = trigger_environment(spec, base, spec.trigger.rule())
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("OCRKIT_MODEL_DIR", str(tmp_path / "unpacked"))
    s3_trigger_entry.reset()
    function_model_entry.reset()
    yield s3, export
    s3_trigger_entry.reset()
    function_model_entry.reset()


def keys(s3, prefix: str = "") -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=UPLOADS, Prefix=prefix).get("Contents", [])}


def test_uploads_become_results_with_the_engines_text(trigger_env) -> None:
    s3, export = trigger_env
    from ocrkit.engine.onnx_runtime import OnnxPredictor

    engine = InProcessBackend(OnnxPredictor(export), name="ocrkit")
    uploads = {"incoming/scan 1.jpg": SAMPLES[0], "incoming/архив/лист №2.jpg": SAMPLES[1]}
    for key, path in uploads.items():
        s3.put_object(Bucket=UPLOADS, Key=key, Body=path.read_bytes())

    # one event per image, as S3 usually sends them
    for key in uploads:
        assert s3_trigger_entry.handler(s3_event(UPLOADS, key), None) == {"written": [key], "skipped": []}

    for key, path in uploads.items():
        rel = key.removeprefix("incoming/")
        want = engine.predict([path.read_bytes()], timeout_s=None)[0]
        text = s3.get_object(Bucket=UPLOADS, Key=f"results/{rel}.txt")
        assert text["Body"].read().decode("utf-8") == want.text + "\n"
        assert text["ContentType"].startswith("text/plain")
        body = json.loads(s3.get_object(Bucket=UPLOADS, Key=f"results/{rel}.json")["Body"].read())
        assert body["source"] == f"s3://{UPLOADS}/{key}"
        assert body["text"] == want.text and body["confidence"] == round(float(want.confidence), 4)
        assert want.text  # the demo model reads something for each sample
    assert keys(s3, "errors/") == set()


def test_a_bad_image_is_recorded_and_raised_after_the_rest_of_the_batch(trigger_env) -> None:
    s3, _ = trigger_env
    s3.put_object(Bucket=UPLOADS, Key="incoming/bad one.png", Body=b"\x89PNG\r\n\x1a\n truncated")
    s3.put_object(Bucket=UPLOADS, Key="incoming/good.jpg", Body=SAMPLES[2].read_bytes())

    with pytest.raises(TriggerFailure) as failure:
        s3_trigger_entry.handler(s3_event(UPLOADS, "incoming/bad one.png", "incoming/good.jpg"), None)
    assert failure.value.key == "incoming/bad one.png"
    # the good image of the same event was still read
    assert {"results/good.jpg.txt", "results/good.jpg.json"} <= keys(s3, "results/")
    assert not any(k.startswith("results/bad one") for k in keys(s3, "results/"))
    record = json.loads(s3.get_object(Bucket=UPLOADS, Key="errors/bad one.png.json")["Body"].read())
    assert record["source"] == f"s3://{UPLOADS}/incoming/bad one.png"
    assert record["error"]["code"] and record["error"]["message"]

    # a missing object (deleted before the event came) is a failure too, never a silent drop
    with pytest.raises(TriggerFailure):
        s3_trigger_entry.handler(s3_event(UPLOADS, "incoming/gone.png"), None)
    assert "errors/gone.png.json" in keys(s3, "errors/")


def test_events_for_results_and_errors_are_skipped(trigger_env) -> None:
    s3, _ = trigger_env
    image = SAMPLES[3].read_bytes()
    for key in ("results/x.jpg", "errors/y.jpg", "incoming/notes.txt"):
        s3.put_object(Bucket=UPLOADS, Key=key, Body=image)
    before = keys(s3)
    got = s3_trigger_entry.handler(
        s3_event(UPLOADS, "results/x.jpg", "errors/y.jpg", "incoming/notes.txt"), None
    )
    assert got == {"written": [], "skipped": ["results/x.jpg", "errors/y.jpg", "incoming/notes.txt"]}
    assert keys(s3) == before  # nothing written: the pipeline cannot retrigger itself


def test_endpoint_options_call_the_endpoint(aws, cache_env, monkeypatch) -> None:
    """gpu/cpu/serverless-endpoint: the trigger's environment names the endpoint; the SageMaker runtime
    stand-in answers with the real model server holding the demo model's ONNX engine."""
    from ocrkit.engine.onnx_runtime import OnnxPredictor
    from ocrkit.gateway.limits import Limits
    from ocrkit.providers.aws.spec import gateway_environment
    from ocrkit.runtime import lambda_entry
    from ocrkit.server.app import create_app
    from ocrkit.server.dev import serve_dev
    from tests.providers.aws.runtime_emulator import RuntimeEmulator

    predictor = OnnxPredictor(export_dir_for(shipped_weights_path()))
    emulator = RuntimeEmulator(endpoints={"demo-endpoint": create_app(predictor, Limits())})
    server = serve_dev(emulator)
    try:
        spec = load_aws_spec(None, {"name": "demo", "trigger.enabled": True}).spec
        env = trigger_environment(spec, gateway_environment(spec, "demo-endpoint"), spec.trigger.rule())
        assert "OCRKIT_MODEL_URI" not in env and env["OCRKIT_ENDPOINT_NAME"] == "demo-endpoint"
        for k, v in env.items():
            monkeypatch.setenv(k, v)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
        s3_trigger_entry.reset()
        lambda_entry.reset()
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=UPLOADS)
        key = "incoming/лист 3.jpg"
        s3.put_object(Bucket=UPLOADS, Key=key, Body=SAMPLES[4].read_bytes())
        assert s3_trigger_entry.handler(s3_event(UPLOADS, key), None)["written"] == [key]
        want = InProcessBackend(predictor).predict([SAMPLES[4].read_bytes()], timeout_s=None)[0].text
        got = s3.get_object(Bucket=UPLOADS, Key="results/лист 3.jpg.txt")["Body"].read().decode("utf-8")
        assert got == want + "\n"
        assert [r["endpoint"] for r in emulator.seen] == ["demo-endpoint"]
    finally:
        server.close()
        s3_trigger_entry.reset()
        lambda_entry.reset()
