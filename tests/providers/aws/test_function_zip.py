"""The model function's data path on what would really run: the built zip, unpacked into a fresh folder,
imported by a bare interpreter (`-I -S`: the standard library and that folder only; no torch, no ocrkit
checkout, no site-packages) that answers real API Gateway v2 events for the 12 sample images with the
text the ONNX engine gives in this process. And the cold-start model read from S3 (moto)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest

from ocrkit.errors import OcrkitError
from ocrkit.providers.aws.function_package import build_function
from ocrkit.providers.aws.function_wheels import WheelTarget
from ocrkit.runtime import model_source
from tests.providers.aws.test_lambda_data_path import apigw_event

SAMPLES = sorted((Path(__file__).resolve().parents[3] / "ocrkit" / "assets" / "samples").glob("*.jpg"))
DRIVER = Path(__file__).with_name("function_driver.py")
# This machine runs CPython 3.11 on x86_64: the zip is built for Lambda's python3.11 runtime so that it
# imports here (real deploys default to python3.12; see the README).
HERE = WheelTarget("python3.11", "x86_64")


@pytest.fixture(scope="module")
def built(fn_cache, tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from ocrkit.weights import shipped_weights_path

    old = os.environ.get("OCRKIT_CACHE_DIR")
    os.environ["OCRKIT_CACHE_DIR"] = str(fn_cache)
    try:
        yield build_function(shipped_weights_path(), HERE, 2048, tmp_path_factory.mktemp("fn-build"))
    finally:
        if old is None:
            os.environ.pop("OCRKIT_CACHE_DIR", None)
        else:
            os.environ["OCRKIT_CACHE_DIR"] = old


def run_bare(folder: Path, events: list[dict], env: dict[str, str], python: str = sys.executable) -> dict:
    """The driver in `python -I -S`, with an environment holding only what the function is given."""
    proc = subprocess.run(
        [python, "-I", "-S", str(DRIVER), str(folder)],
        input=json.dumps(events),
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", **env},
        cwd=folder,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.slow
def test_bare_interpreter_answers_the_samples(built, tmp_path) -> None:
    from ocrkit.engine.onnx_runtime import OnnxPredictor

    folder = tmp_path / "task"
    with zipfile.ZipFile(built.zip.path) as zf:
        zf.extractall(folder)
    events = [apigw_event(p.read_bytes(), "image/jpeg", binary=True) for p in SAMPLES]
    plain = apigw_event(SAMPLES[0].read_bytes(), "image/jpeg", binary=True, accept="text/plain")
    as_json = apigw_event(
        json.dumps({"image": base64.b64encode(SAMPLES[1].read_bytes()).decode()}),
        "application/json",
        binary=False,
    )
    bad = [
        apigw_event(b"hello", "text/plain", binary=False),
        apigw_event(b"not an image at all", "image/png", binary=True),
        apigw_event("{not json", "application/json", binary=False),
    ]
    env = {
        "OCRKIT_MODEL_URI": str(built.model.path),
        "OCRKIT_MODEL_SHA256": built.model.sha256,
        "OCRKIT_MODEL_DIR": str(tmp_path / "tmp-model"),
    }
    got = run_bare(folder, [*events, plain, as_json, *bad], env)

    # what ran: the zip's own code and wheels, nothing from this checkout or this venv
    assert got["ocrkit"] == str(folder / "ocrkit" / "__init__.py")
    assert got["onnxruntime"] == str(folder / "onnxruntime" / "__init__.py")
    assert got["onnxruntime_version"] == "1.16.3" and got["numpy_version"] == "1.26.4"
    assert got["torch_importable"] is False
    assert not any("site-packages" in p or p.startswith(str(Path.cwd())) for p in got["sys_path"])

    # the same text as the ONNX engine in this process (onnxruntime from this venv) on the same export
    export = next((tmp_path / "tmp-model").iterdir())
    local = OnnxPredictor(export).predict_images([p.read_bytes() for p in SAMPLES])
    answers = got["answers"]
    for sample, answer, expected in zip(SAMPLES, answers, local, strict=False):
        assert answer["statusCode"] == 200, (sample.name, answer)
        doc = json.loads(answer["body"])
        assert doc["text"] == expected.text, sample.name
        assert doc["confidence"] == pytest.approx(expected.confidence, abs=2e-3)
    labels = dict(
        line.split("\t", 1) for line in (SAMPLES[0].parent / "labels.tsv").read_text("utf-8").splitlines()
    )
    right = sum(
        json.loads(a["body"])["text"] == labels.get(s.name, "").strip()
        for s, a in zip(SAMPLES, answers, strict=False)
    )
    assert right >= 9  # the demo model reads most of the samples exactly (the README's figures)
    text_plain = answers[12]
    assert text_plain["statusCode"] == 200 and text_plain["body"] == local[0].text
    assert json.loads(answers[13]["body"])["text"] == local[1].text
    codes = [(a["statusCode"], json.loads(a["body"])["error"]["code"]) for a in answers[14:]]
    assert codes == [(415, "unsupported_media_type"), (400, "not_an_image"), (400, "bad_json")]


def test_model_read_from_s3_once_checked(aws, tmp_path) -> None:
    """The cold-start read through the runtime's boto3 (moto here), the sha256 checked, /tmp reused."""
    data = b"not a tar"
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="model-bucket")
    s3.put_object(Bucket="model-bucket", Key="demo/onnx-x.tar.gz", Body=data)
    assert model_source.read_archive("s3://model-bucket/demo/onnx-x.tar.gz") == data
    with pytest.raises(OcrkitError, match="could not read the model from s3://model-bucket/missing"):
        model_source.read_archive("s3://model-bucket/missing")
    with pytest.raises(OcrkitError, match="sha256"):
        model_source.unpack(data, hashlib.sha256(b"other").hexdigest(), tmp_path)


def test_unpack_is_reused_and_safe(tmp_path) -> None:
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("encoder.onnx")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    data = buf.getvalue()
    first = model_source.unpack(data, hashlib.sha256(data).hexdigest(), tmp_path)
    assert (first / "encoder.onnx").read_bytes() == b"abc"
    (first / "encoder.onnx").write_bytes(b"warm")  # a warm /tmp is reused, not unpacked again
    assert model_source.unpack(data, None, tmp_path) == first
    assert (first / "encoder.onnx").read_bytes() == b"warm"

    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w:gz") as tar:
        info = tarfile.TarInfo("../escape")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(Exception):  # noqa: B017 - tarfile's data filter refuses it (its own error type)
        model_source.unpack(evil.getvalue(), None, tmp_path / "other")
    assert not (tmp_path / "escape").exists()


def python312() -> str | None:
    """A CPython 3.12 on this machine, if there is one (the real deploys' default runtime)."""
    pyenv = sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python3.12"))  # a shim may not resolve
    for found in [*map(str, pyenv), shutil.which("python3.12")]:
        if found is None:
            continue
        probe = subprocess.run([found, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True)
        if probe.returncode == 0 and probe.stdout.strip() == b"(3, 12)":
            return found
    return None


@pytest.mark.slow
def test_real_default_runtime_zip_answers_too(fn_cache, tmp_path, monkeypatch) -> None:
    """The python3.12 x86_64 zip (onnxruntime 1.32, numpy 2.4) in a bare 3.12 interpreter, if any."""
    pytest.importorskip("torch")
    from ocrkit.engine.onnx_runtime import OnnxPredictor
    from ocrkit.weights import shipped_weights_path

    python = python312()
    if python is None:
        pytest.skip("no python3.12 on this machine")
    monkeypatch.setenv("OCRKIT_CACHE_DIR", str(fn_cache))
    build = build_function(shipped_weights_path(), WheelTarget("python3.12", "x86_64"), 2048, tmp_path / "b")
    folder = tmp_path / "task"
    with zipfile.ZipFile(build.zip.path) as zf:
        zf.extractall(folder)
    env = {"OCRKIT_MODEL_URI": str(build.model.path), "OCRKIT_MODEL_DIR": str(tmp_path / "m")}
    events = [apigw_event(p.read_bytes(), "image/jpeg", binary=True) for p in SAMPLES]
    got = run_bare(folder, events, env, python)
    assert got["onnxruntime_version"] == "1.32.0" and got["torch_importable"] is False
    local = OnnxPredictor(next((tmp_path / "m").iterdir())).predict_images([p.read_bytes() for p in SAMPLES])
    assert [json.loads(a["body"])["text"] for a in got["answers"]] == [p.text for p in local]
