"""`ocrkit batch --cloud aws`: a SageMaker Batch Transform job on the deployed model, against a moto server.

moto records the transform job and marks it Completed at once, but runs nothing and writes nothing. So
the tests check the request as moto stored it, then play SageMaker's part: for each record of the
job's manifest they feed the model server's handler functions (sagemaker_entry.input_fn / predict_fn /
output_fn) exactly what the container receives -- the object's bytes with the job's ContentType -- and
write the answer where SageMaker writes it (<output path>/<key>.out). The runner then gathers those
objects into the results, which are checked image by image.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ocrkit.batch.managed import Waiter
from ocrkit.deploy.records import ResourceRecord
from ocrkit.deploy.state import DeployState, state_path
from tests.batch.conftest import SAMPLES
from tests.batch.test_local_cli import run

pytestmark = [pytest.mark.slow]

MODEL = "ocrkit-ocr-model-0123456789ab"
EXPECTED = {"sample01.jpg": "заявление", "sample05.jpg": "с детьми", "sample09.jpg": "Иванов И.И."}


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    from tests.providers.aws.conftest import start_moto

    server = start_moto(tmp_path_factory.mktemp("moto"))
    yield server
    server.stop()


@pytest.fixture
def deployed(moto, monkeypatch, tmp_path):
    """A deployment's state file naming its SageMaker model, the model in moto, and two buckets."""
    import boto3

    from tests.providers.aws.conftest import point_at

    moto.reset()
    point_at(monkeypatch, moto.url, tmp_path)
    monkeypatch.chdir(tmp_path)
    sm, s3 = boto3.client("sagemaker"), boto3.client("s3")
    sm.create_model(
        ModelName=MODEL,
        PrimaryContainer={"Image": "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.3.0"},
        ExecutionRoleArn="arn:aws:iam::123456789012:role/ocrkit-ocr-sagemaker-role",
    )
    state = DeployState("ocrkit-ocr", "aws", state_path("ocrkit-ocr", "aws"))
    state.record("model", ResourceRecord("sagemaker:model", MODEL, {"artifact_sha256": "ab" * 32}))
    state.outputs.update(region="us-east-1", account="123456789012")
    state.save()
    for bucket in ("scans", "results"):
        s3.create_bucket(Bucket=bucket)
    for name in EXPECTED:
        s3.put_object(Bucket="scans", Key=f"crops/{name}", Body=(SAMPLES / name).read_bytes())
    s3.put_object(Bucket="scans", Key="crops/trunc.jpg", Body=(SAMPLES / "sample01.jpg").read_bytes()[:120])
    s3.put_object(Bucket="scans", Key="crops/notes.jpg", Body=b"not an image")
    config = tmp_path / "batch-aws.yaml"
    text = (Path(__file__).parents[2] / "configs" / "batch" / "aws.yaml").read_text()
    config.write_text(text.replace("poll_s: 30", "poll_s: 0.01"))
    return sm, s3, config


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """The model server's model_fn on a model directory laid out like model.tar.gz."""
    from ocrkit.runtime.sagemaker_entry import model_fn
    from ocrkit.weights import resolve_weights

    root = tmp_path_factory.mktemp("model")
    shutil.copy(resolve_weights(None), root / "model.pt")
    return model_fn(str(root))


def play_sagemaker(s3, sm, model) -> list[str]:
    """What SageMaker does for a SingleRecord / SplitType None job; returns the keys it answered."""
    from ocrkit.runtime.sagemaker_entry import input_fn, output_fn, predict_fn

    job = sm.list_transform_jobs()["TransformJobSummaries"][0]["TransformJobName"]
    got = sm.describe_transform_job(TransformJobName=job)
    source = got["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
    bucket, key = source.removeprefix("s3://").split("/", 1)
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    prefix = manifest[0]["prefix"]
    out_bucket, out_key = got["TransformOutput"]["S3OutputPath"].removeprefix("s3://").split("/", 1)
    answered = []
    for record in manifest[1:]:
        in_bucket, in_key = (prefix + record).removeprefix("s3://").split("/", 1)
        body = s3.get_object(Bucket=in_bucket, Key=in_key)["Body"].read()
        try:
            parsed = input_fn(body, got["TransformInput"]["ContentType"])
            answer = output_fn(predict_fn(parsed, model), got["TransformOutput"]["Accept"])
        except Exception as exc:  # the toolkit answers 4xx: SageMaker writes no .out for it
            assert getattr(exc, "status", 400) // 100 == 4, exc
            continue
        s3.put_object(Bucket=out_bucket, Key=f"{out_key}/{record}.out", Body=answer.encode())
        answered.append(record)
    return answered


def cli_args(config, out: str, *extra: str) -> list[str]:
    """`ocrkit batch s3://scans/crops/ --out OUT --cloud aws EXTRA --batch-config CONFIG`."""
    return [
        "batch",
        "s3://scans/crops/",
        "--out",
        out,
        "--cloud",
        "aws",
        *extra,
        "--batch-config",
        str(config),
    ]


def test_dry_run_prints_the_plan_and_its_cost_and_writes_nothing(deployed, capsys):
    sm, s3, config = deployed
    code = run(cli_args(config, "s3://results/ocr/", "--dry-run"))
    out = capsys.readouterr().out
    assert code == 0, out
    assert MODEL in out and "ml.g4dn.xlarge x 1" in out and "5 to run" in out
    assert "sagemaker.transform.ml.g4dn.xlarge" in out and "ESTIMATE" in out and "Dry run" in out
    assert "Contents" not in s3.list_objects_v2(Bucket="results")
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []


def test_dry_run_json_has_the_estimate(deployed, capsys):
    _, _, config = deployed
    code = run(cli_args(config, "s3://results/ocr/", "--dry-run", "--summary", "json"))
    doc = json.loads(capsys.readouterr().out)
    assert code == 0 and doc["started"] is False
    est = doc["plan"]["estimate"]
    assert est["path"] == "sagemaker-transform" and est["images"] == 5
    # 5 images at the T4 profile's 50 images/s plus 300 s start-up, at $0.7364 an hour
    hours = (300 + 5 / 50) / 3600
    assert abs(float(est["lines"][0]["quantity"]) - hours) < 1e-9
    assert abs(float(est["lines"][0]["cost"]) - hours * 0.7364) < 1e-9


def test_job_request_then_outputs_gathered_into_results(deployed, model, monkeypatch, capsys):
    sm, s3, config = deployed
    played: list[list[str]] = []
    original = Waiter.until

    def until(self, read, status):
        played.append(play_sagemaker(s3, sm, model))  # the job "runs" before its status is read
        return original(self, read, status)

    monkeypatch.setattr(Waiter, "until", until)
    code = run(cli_args(config, "s3://results/ocr/", "--yes"))
    assert code == 0, capsys.readouterr()

    # the request as moto stored it
    [summary] = sm.list_transform_jobs()["TransformJobSummaries"]
    job = sm.describe_transform_job(TransformJobName=summary["TransformJobName"])
    assert job["ModelName"] == MODEL
    assert job["TransformInput"]["SplitType"] == "None"
    assert job["TransformInput"]["ContentType"] == "image/jpeg"
    assert job["TransformInput"]["DataSource"]["S3DataSource"]["S3DataType"] == "ManifestFile"
    assert job["BatchStrategy"] == "SingleRecord" and job["TransformOutput"]["Accept"] == "application/json"
    assert job["TransformResources"] == {"InstanceType": "ml.g4dn.xlarge", "InstanceCount": 1}
    assert job["TransformJobName"].startswith("ocrkit-ocr-batch-")

    # the model server answered the three images and refused the truncated one and the text file
    assert sorted(played[0]) == sorted(f"crops/{n}" for n in EXPECTED)
    body = s3.get_object(Bucket="results", Key="ocr/results.jsonl")["Body"].read().decode()
    rows = {r["source"].removeprefix("s3://scans/crops/"): r for r in map(json.loads, body.splitlines())}
    assert len(rows) == 5
    for name, text in EXPECTED.items():
        assert rows[name]["text"] == text and rows[name]["error"] is None and rows[name]["confidence"] > 0
    for name in ("trunc.jpg", "notes.jpg"):
        assert rows[name]["text"] is None and "wrote no output" in rows[name]["error"]

    # a second run finds everything done: no new job
    capsys.readouterr()
    assert (
        run(
            [
                "batch",
                "s3://scans/crops/",
                "--out",
                "s3://results/ocr/",
                "--cloud",
                "aws",
                "--yes",
                "--batch-config",
                str(config),
                "--summary",
                "json",
            ]
        )
        == 0
    )
    assert json.loads(capsys.readouterr().out)["already_done"] == 5
    assert len(sm.list_transform_jobs()["TransformJobSummaries"]) == 1


def test_waiting_follows_the_status_until_done():
    seen = iter(["InProgress", "InProgress", "Completed"])
    sleeps: list[float] = []
    words: list[str] = []

    def read():
        state = next(seen)
        return state, state == "Completed"

    last = Waiter(7.0, sleep=sleeps.append).until(read, lambda w, d, t: words.append(w))
    assert last == "Completed" and sleeps == [7.0, 7.0] and words == ["InProgress", "InProgress", "Completed"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--name", "nobody"], "no deployment named 'nobody' with a model on aws"),
        (["--out", "/tmp/r.jsonl"], "--out must be an s3:// URL"),
        (["--runner", "ray"], "leave out --runner"),
    ],
)
def test_bad_managed_input_is_one_line_exit_2_nothing_written(deployed, capsys, args, message):
    sm, s3, config = deployed
    base = {"--out": "s3://results/ocr/"}
    flags = list(args)
    if "--out" not in flags:
        flags += ["--out", base["--out"]]
    code = run(
        ["batch", "s3://scans/crops/", "--cloud", "aws", "--yes", "--batch-config", str(config), *flags]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert "Contents" not in s3.list_objects_v2(Bucket="results")
    assert sm.list_transform_jobs()["TransformJobSummaries"] == []


def test_cloud_flags_without_cloud_are_refused(tmp_path, capsys):
    assert run(["batch", str(tmp_path), "--out", str(tmp_path / "r.jsonl"), "--dry-run"]) == 2
    assert "only apply with --cloud" in capsys.readouterr().err
