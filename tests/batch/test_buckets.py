"""s3:// (a moto server) and gs:// (gcp-storage-emulator) as sources and destinations, on 127.0.0.1."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ocrkit.batch.formats import OutputFormat, decode
from ocrkit.batch.manifest import Manifest, RunParams
from ocrkit.batch.records import ResultRow
from ocrkit.batch.sinks import BucketSink
from ocrkit.batch.urls import parse_bucket_url
from tests.batch.conftest import FOLDER_KEYS, make_folder, read_jsonl
from tests.batch.test_local_cli import run

pytestmark = [pytest.mark.model, pytest.mark.slow]


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    from tests.providers.aws.conftest import start_moto

    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gcs_server(tmp_path_factory):
    from tests.providers.gcp.conftest import BIN, free_port, start_server

    port = free_port()
    args = [str(BIN / "gcp-storage-emulator"), "start", "--host", "127.0.0.1", "--port", str(port)]
    server = start_server(
        [*args, "--in-memory"], port, "/storage/v1/b?project=x", tmp_path_factory.mktemp("gcs")
    )
    yield server
    server.stop()


@pytest.fixture
def s3(moto, monkeypatch, tmp_path):
    from tests.providers.aws.conftest import point_at

    moto.reset()
    point_at(monkeypatch, moto.url, tmp_path)
    import boto3

    client = boto3.client("s3")
    for bucket in ("scans", "results"):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture
def gcs(gcs_server, monkeypatch, tmp_path):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_server.url)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-project")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-credentials.json"))
    client = storage.Client(project="demo-project", credentials=AnonymousCredentials())
    for bucket in list(client.list_buckets()):
        for blob in list(bucket.list_blobs()):
            blob.delete()
        bucket.delete()
    client.create_bucket("scans")
    client.create_bucket("results")
    return client


def upload_folder(folder: Path, put) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            put(f"crops/{path.relative_to(folder).as_posix()}", path.read_bytes())


@pytest.fixture
def local_rows(tmp_path) -> dict[str, dict]:
    """The local runner's rows for the same folder, keyed by the path under the folder."""
    folder = make_folder(tmp_path / "local-in")
    out = tmp_path / "local.jsonl"
    assert run(["batch", str(folder), "--out", str(out), "--batch-size", "4"]) == 0
    return {r["source"]: r for r in read_jsonl(out)}


def check_bucket_rows(rows: list[dict], scheme: str, local_rows: dict[str, dict]) -> None:
    prefix = f"{scheme}://scans/crops/"
    by = {r["source"].removeprefix(prefix): r for r in rows}
    assert len(by) == len(rows)
    # objects are not sniffed at listing: the two non-image files are error rows here
    assert sorted(by) == sorted([*FOLDER_KEYS, "labels.tsv", "notes.jpg"])
    for key in FOLDER_KEYS:
        assert (by[key]["text"], by[key]["error"]) == (local_rows[key]["text"], local_rows[key]["error"])
    assert by["notes.jpg"]["error"].startswith("not an image")


def test_s3_to_s3_then_resume(s3, folder, local_rows, capsys):
    upload_folder(folder, lambda key, data: s3.put_object(Bucket="scans", Key=key, Body=data))
    out = "s3://results/ocr/results.jsonl"
    assert run(["batch", "s3://scans/crops/", "--out", out, "--batch-size", "4"]) == 0
    body = s3.get_object(Bucket="results", Key="ocr/results.jsonl")["Body"].read()
    check_bucket_rows([json.loads(x) for x in body.decode().splitlines()], "s3", local_rows)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="results")["Contents"])
    assert keys == ["ocr/results.jsonl", "ocr/results.jsonl.manifest.json"]  # parts gone once composed

    # one more image; the second run reads only it, and the final object has each image once
    s3.put_object(Bucket="scans", Key="crops/late.jpg", Body=(folder / "sample05.jpg").read_bytes())
    capsys.readouterr()
    assert run(["batch", "s3://scans/crops/", "--out", out, "--summary", "json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["already_done"] == len(FOLDER_KEYS) + 2 and summary["processed"] == 1
    rows = [
        json.loads(x)
        for x in s3.get_object(Bucket="results", Key="ocr/results.jsonl")["Body"].read().splitlines()
    ]
    assert len(rows) == len(FOLDER_KEYS) + 3 and len({r["source"] for r in rows}) == len(rows)
    assert rows[-1]["source"] == "s3://scans/crops/late.jpg" and rows[-1]["text"] == "с детьми"


def test_s3_output_in_the_source_bucket_is_never_read_as_input(s3, folder, tmp_path):
    s3.put_object(Bucket="scans", Key="crops/a.jpg", Body=(folder / "sample01.jpg").read_bytes())
    out = "s3://scans/crops/out.csv"
    assert run(["batch", "s3://scans/crops/", "--out", out]) == 0
    assert run(["batch", "s3://scans/crops/", "--out", out]) == 0  # the manifest and CSV are not inputs
    rows = decode(s3.get_object(Bucket="scans", Key="crops/out.csv")["Body"].read(), OutputFormat.csv)
    assert [(r.source, r.text) for r in rows] == [("s3://scans/crops/a.jpg", "заявление")]


def test_bucket_parts_left_by_a_crash_are_resumed_without_duplicates(s3):
    params = RunParams("s3://scans/crops/", "torch", "00" * 32, "jsonl")
    sink = BucketSink(parse_bucket_url("s3://results/r.jsonl"), OutputFormat.jsonl)
    sink.start(Manifest(params), fresh=True)
    sink.append(
        [ResultRow("s3://scans/crops/a.jpg", "a", 0.9), ResultRow("s3://scans/crops/b.jpg", "b", 0.8)]
    )
    sink.append([ResultRow("s3://scans/crops/c.jpg", "c", 0.7)])
    # the process dies here: no final object, two parts
    again = BucketSink(parse_bucket_url("s3://results/r.jsonl"), OutputFormat.jsonl)
    assert again.read_manifest().params == params
    assert again.done_sources() == {f"s3://scans/crops/{x}.jpg" for x in "abc"}
    again.start(Manifest(params), fresh=False)
    again.append([ResultRow("s3://scans/crops/d.jpg", "d", 0.6)])
    again.finish(Manifest(params, {"status": "complete"}))
    # a crash between composing and deleting the parts: put one part back, compose again
    s3.put_object(
        Bucket="results",
        Key="r.jsonl.parts/part-000009.jsonl",
        Body=b'{"source": "s3://scans/crops/a.jpg", "text": "a", "confidence": 0.9, "error": null}\n',
    )
    third = BucketSink(parse_bucket_url("s3://results/r.jsonl"), OutputFormat.jsonl)
    third.start(Manifest(params), fresh=False)
    third.finish(Manifest(params, {"status": "complete"}))
    rows = decode(s3.get_object(Bucket="results", Key="r.jsonl")["Body"].read(), OutputFormat.jsonl)
    assert [r.source.rsplit("/", 1)[1] for r in rows] == ["a.jpg", "b.jpg", "c.jpg", "d.jpg"]


@pytest.mark.parametrize(
    ("source", "out", "message"),
    [
        ("s3://nobucket/crops/", "{tmp}/r.jsonl", "cannot reach bucket s3://nobucket"),
        ("s3://scans/crops/", "s3://nobucket/r.jsonl", "cannot reach bucket s3://nobucket"),
        ("s3://scans/empty/", "{tmp}/r.jsonl", "holds no images"),
        ("s3://scans/crops/", "s3://results/folder/", "names a folder, not an object"),
    ],
)
def test_bad_bucket_input_is_one_line_and_nothing_written(s3, tmp_path, capsys, source, out, message):
    s3.put_object(Bucket="scans", Key="crops/a.jpg", Body=b"\xff\xd8\xff" + b"0" * 100)
    before = sorted(os.listdir(tmp_path))
    assert run(["batch", source, "--out", out.format(tmp=tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert sorted(os.listdir(tmp_path)) == before
    assert "Contents" not in s3.list_objects_v2(Bucket="results")


def test_gcs_to_gcs(gcs, folder, local_rows):
    upload_folder(folder, lambda key, data: gcs.bucket("scans").blob(key).upload_from_string(data))
    out = "gs://results/ocr/results.tsv"
    assert run(["batch", "gs://scans/crops/", "--out", out, "--batch-size", "4"]) == 0
    rows = decode(gcs.bucket("results").blob("ocr/results.tsv").download_as_bytes(), OutputFormat.tsv)
    check_bucket_rows([r.to_json() for r in rows], "gs", local_rows)
    assert sorted(b.name for b in gcs.list_blobs("results")) == [
        "ocr/results.tsv",
        "ocr/results.tsv.manifest.json",
    ]


def test_gcs_source_to_local_file_and_missing_bucket(gcs, folder, tmp_path, capsys):
    gcs.bucket("scans").blob("crops/x.jpg").upload_from_string((folder / "sample09.jpg").read_bytes())
    out = tmp_path / "r.jsonl"
    assert run(["batch", "gs://scans/crops", "--out", str(out)]) == 0
    assert [(r["source"], r["text"]) for r in read_jsonl(out)] == [("gs://scans/crops/x.jpg", "Иванов И.И.")]
    assert run(["batch", "gs://absent/", "--out", str(tmp_path / "q.jsonl")]) == 2
    assert "cannot reach bucket gs://absent" in capsys.readouterr().err
    assert not (tmp_path / "q.jsonl").exists()
