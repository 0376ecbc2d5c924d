"""The Ray runner on a local Ray (2 CPUs, a small object store, no dashboard) started by the tests:
the same rows as the local runner, image for image, the same resume rule, and a bucket in and out."""

from __future__ import annotations

import json
import os

import pytest

from tests.batch.conftest import FOLDER_KEYS, make_folder, read_jsonl
from tests.batch.test_local_cli import run

pytestmark = [pytest.mark.model, pytest.mark.slow]
ray = pytest.importorskip("ray", reason="needs the ocrkit[ray] extra")


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory):
    """A moto server, the AWS environment pointing at it, then a local Ray whose workers inherit it."""
    from tests.providers.aws.conftest import REGION, start_moto

    moto = start_moto(tmp_path_factory.mktemp("moto"))
    env = {
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    os.environ.pop("OCRKIT_WEIGHTS", None)
    ray.init(
        num_cpus=2,
        object_store_memory=100 * 1024 * 1024,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        logging_level="WARNING",
    )
    try:
        yield moto
    finally:
        ray.shutdown()
        moto.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def local_result(tmp_path_factory) -> tuple[object, dict[str, dict]]:
    root = tmp_path_factory.mktemp("ray-local")
    folder = make_folder(root / "in")
    out = root / "local.jsonl"
    assert run(["batch", str(folder), "--out", str(out), "--batch-size", "4"]) == 0
    return folder, {r["source"]: r for r in read_jsonl(out)}


def test_ray_gives_the_local_runners_rows_image_for_image(local_ray, local_result, tmp_path, capsys):
    folder, local = local_result
    out = tmp_path / "ray.jsonl"
    argv = ["batch", str(folder), "--out", str(out), "--runner", "ray", "--workers", "1", "--batch-size", "4"]
    assert run([*argv, "--summary", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["runner"] == "ray"
    rows = read_jsonl(out)
    assert sorted(r["source"] for r in rows) == FOLDER_KEYS
    assert {r["source"]: r for r in rows} == local  # text, confidence and error, image for image


def test_ray_resumes_what_the_local_runner_started(local_ray, local_result, tmp_path, capsys):
    folder, local = local_result
    out = tmp_path / "r.jsonl"
    assert run(["batch", str(folder), "--out", str(out), "--batch-size", "4"]) == 0
    data = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(data[:5]) + data[5][:17])  # 5 rows kept, then a row cut mid-write
    capsys.readouterr()
    argv = ["batch", str(folder), "--out", str(out), "--runner", "ray", "--workers", "1", "--summary", "json"]
    assert run(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["already_done"] == 5 and summary["processed"] == len(FOLDER_KEYS) - 5
    rows = read_jsonl(out)
    assert len(rows) == len(FOLDER_KEYS)
    assert {r["source"]: r for r in rows} == local


def test_ray_reads_from_and_writes_to_a_bucket(local_ray, local_result):
    import boto3

    folder, local = local_result
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="ray-scans")
    for key in FOLDER_KEYS:
        s3.put_object(Bucket="ray-scans", Key=f"crops/{key}", Body=(folder / key).read_bytes())
    out = "s3://ray-scans/ocr/results.jsonl"
    assert run(["batch", "s3://ray-scans/crops/", "--out", out, "--runner", "ray", "--workers", "1"]) == 0
    body = s3.get_object(Bucket="ray-scans", Key="ocr/results.jsonl")["Body"].read().decode()
    rows = {
        json.loads(line)["source"].removeprefix("s3://ray-scans/crops/"): json.loads(line)
        for line in body.splitlines()
    }
    assert sorted(rows) == FOLDER_KEYS
    for key in FOLDER_KEYS:
        assert (rows[key]["text"], rows[key]["error"]) == (local[key]["text"], local[key]["error"])
