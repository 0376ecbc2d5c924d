"""`ocrkit batch --cloud gcp`: a Vertex AI batch prediction job on the deployed model, against drongo (the
Vertex admin API) and gcp-storage-emulator.

drongo stores the job and runs nothing. The tests check the job as drongo stored it, then play Vertex's
part for a file-list job: read each listed gs:// file, send it to the TorchServe handler exactly as the
prebuilt PyTorch container receives it (Vertex's {"b64": ...} instance, one request row per instance
under TorchServe's JSON envelope), and write predictions_00001.jsonl under the output prefix. The runner
gathers that into the results, checked image by image.
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

from ocrkit.batch.managed import Waiter
from ocrkit.deploy.records import ResourceRecord
from ocrkit.deploy.state import DeployState, state_path
from tests.batch.conftest import SAMPLES
from tests.batch.test_local_cli import run
from tests.providers.gcp.conftest import drongo, gcs  # noqa: F401 - the emulators, started once

pytestmark = [pytest.mark.slow]

EXPECTED = {"sample01.jpg": "заявление", "sample05.jpg": "с детьми", "sample09.jpg": "Иванов И.И."}


@pytest.fixture
def deployed(drongo, gcs, monkeypatch, tmp_path):  # noqa: F811 - the imported fixtures
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import aiplatform_v1, storage

    from tests.providers.gcp.conftest import PROJECT, REGION, point_at, wipe_buckets

    request = urllib.request.Request(f"{drongo.url}/drongo/reset", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10):
        pass
    point_at(monkeypatch, drongo.url, gcs.url, tmp_path)
    wipe_buckets()
    monkeypatch.chdir(tmp_path)
    models = aiplatform_v1.ModelServiceClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=drongo.url),
        credentials=AnonymousCredentials(),
    )
    op = models.upload_model(
        parent=f"projects/{PROJECT}/locations/{REGION}",
        model={
            "display_name": "ocrkit-ocr",
            "artifact_uri": "gs://ocrkit-ocr-artifacts/model/",
            "container_spec": {"image_uri": "us-docker.pkg.dev/vertex-ai/prediction/pytorch-gpu.2-1:latest"},
        },
    )
    model = op.result().model
    state = DeployState("ocrkit-ocr", "gcp", state_path("ocrkit-ocr", "gcp"))
    state.record("model", ResourceRecord("vertex:model", model, {}))
    state.outputs.update(project=PROJECT, region=REGION)
    state.save()
    client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
    for bucket in ("scans", "results"):
        client.create_bucket(bucket)
    for name in EXPECTED:
        client.bucket("scans").blob(f"crops/{name}").upload_from_string((SAMPLES / name).read_bytes())
    client.bucket("scans").blob("crops/notes.jpg").upload_from_string(b"not an image")
    config = tmp_path / "batch-gcp.yaml"
    text = (Path(__file__).parents[2] / "configs" / "batch" / "gcp.yaml").read_text()
    config.write_text(text.replace("poll_s: 30", "poll_s: 0.01"))
    jobs = aiplatform_v1.JobServiceClient(
        transport="rest",
        client_options=ClientOptions(api_endpoint=drongo.url),
        credentials=AnonymousCredentials(),
    )
    return client, jobs, model, config


@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    """The TorchServe handler, initialised as the container initialises it from model.mar."""
    from ocrkit.runtime import torchserve_handler
    from ocrkit.weights import resolve_weights

    root = tmp_path_factory.mktemp("mar")
    shutil.copy(resolve_weights(None), root / "model.pt")
    context = SimpleNamespace(
        system_properties={"model_dir": str(root), "gpu_id": None},
        manifest={"model": {"serializedFile": "model.pt"}},
    )
    torchserve_handler._state.clear()
    assert torchserve_handler.handle(None, context) is None
    return lambda rows: torchserve_handler.handle(rows, context)


def play_vertex(client, jobs, handler, *, echo_image: bool) -> dict:
    """What Vertex does for a file-list job; returns the job as drongo stored it."""
    from tests.providers.gcp.conftest import PROJECT, REGION

    [job] = list(jobs.list_batch_prediction_jobs(parent=f"projects/{PROJECT}/locations/{REGION}"))
    [uri] = list(job.input_config.gcs_source.uris)
    bucket, key = uri.removeprefix("gs://").split("/", 1)
    listed = client.bucket(bucket).blob(key).download_as_bytes().decode().split()
    instances = []
    for item in listed:
        b, k = item.removeprefix("gs://").split("/", 1)
        instances.append({"b64": base64.b64encode(client.bucket(b).blob(k).download_as_bytes()).decode()})
    # TorchServe's JSON envelope: one request row per instance, the instance as its body
    answers = handler([{"body": json.dumps(i).encode()} for i in instances])
    assert len(answers) == len(instances)
    lines = [
        json.dumps({"instance": instance if echo_image else item, "prediction": answer}, ensure_ascii=False)
        for item, instance, answer in zip(listed, instances, answers, strict=True)
    ]
    out_bucket, out_prefix = job.output_config.gcs_destination.output_uri_prefix.removeprefix("gs://").split(
        "/", 1
    )
    folder = f"{out_prefix}/prediction-ocrkit-ocr-2026_12_02T00_00_00_000Z"
    client.bucket(out_bucket).blob(f"{folder}/predictions_00001.jsonl").upload_from_string("\n".join(lines))
    return job


def finished(read):
    """drongo leaves a job's state unset (it runs nothing): the real get is made, then the job is done."""

    def done():
        words, _ = read()
        assert "JOB_STATE_UNSPECIFIED" in words  # drongo's stored job, read through the runner
        return words, True

    return done


def cli_args(config, out: str, *extra: str) -> list[str]:
    """`ocrkit batch gs://scans/crops/ --out OUT --cloud gcp EXTRA --batch-config CONFIG`."""
    return [
        "batch",
        "gs://scans/crops/",
        "--out",
        out,
        "--cloud",
        "gcp",
        *extra,
        "--batch-config",
        str(config),
    ]


@pytest.mark.parametrize("echo_image", [False, True], ids=["instance-is-the-uri", "instance-is-the-image"])
def test_job_request_then_predictions_gathered(deployed, handler, monkeypatch, capsys, echo_image):
    client, jobs, model, config = deployed
    stored = []
    original = Waiter.until

    def until(self, read, status):
        stored.append(play_vertex(client, jobs, handler, echo_image=echo_image))
        return original(self, finished(read), status)

    monkeypatch.setattr(Waiter, "until", until)
    code = run(cli_args(config, "gs://results/ocr/", "--yes"))
    assert code == 0, capsys.readouterr()
    job = stored[0]
    assert job.model == model and job.input_config.instances_format == "file-list"
    assert job.output_config.predictions_format == "jsonl"
    spec = job.dedicated_resources
    assert spec.machine_spec.machine_type == "n1-standard-4"
    assert spec.machine_spec.accelerator_count == 1 and spec.starting_replica_count == 1
    assert dict(job.labels) == {"ocrkit-deployment": "ocrkit-ocr"}

    body = client.bucket("results").blob("ocr/results.jsonl").download_as_bytes().decode()
    rows = {r["source"].removeprefix("gs://scans/crops/"): r for r in map(json.loads, body.splitlines())}
    assert sorted(rows) == sorted([*EXPECTED, "notes.jpg"])
    for name, text in EXPECTED.items():
        assert (rows[name]["text"], rows[name]["error"]) == (text, None)
    assert "refused it" in rows["notes.jpg"]["error"] and rows["notes.jpg"]["text"] is None


def test_an_image_with_no_prediction_line_is_an_error_row(deployed, monkeypatch, capsys):
    client, _, _, config = deployed
    original = Waiter.until
    monkeypatch.setattr(Waiter, "until", lambda self, read, status: original(self, finished(read), status))
    code = run(cli_args(config, "gs://results/ocr/r.jsonl", "--yes"))
    assert code == 0, capsys.readouterr()
    body = client.bucket("results").blob("ocr/r.jsonl").download_as_bytes().decode()
    rows = [json.loads(x) for x in body.splitlines()]
    assert len(rows) == 4 and all("wrote no output" in r["error"] for r in rows)


def test_dry_run_shows_node_hours_and_writes_nothing(deployed, capsys):
    client, jobs, _, config = deployed
    code = run(cli_args(config, "gs://results/ocr/", "--dry-run"))
    out = capsys.readouterr().out
    assert code == 0 and "vertex.batch.n1-standard-4" in out and "vertex.batch.gpu.nvidia-tesla-t4" in out
    assert list(client.list_blobs("results")) == []
    from tests.providers.gcp.conftest import PROJECT, REGION

    assert list(jobs.list_batch_prediction_jobs(parent=f"projects/{PROJECT}/locations/{REGION}")) == []
