"""The data path of `serving: function` on what would really run: the Cloud Function source folder that
`ocrkit deploy --serving function` builds, served by functions-framework from a FRESH virtual environment
that has only the source's requirements.txt installed (no torch, no ocrkit checkout on the path), reading
the exported model from gcp-storage-emulator (STORAGE_EMULATOR_HOST) as it reads it from the private
bucket on Google, and answering the report's curl call for the sample images with the text the ONNX
engine gives in this process.

The wheels are downloaded once from the package index into a cache (`OCRKIT_TEST_WHEEL_CACHE`, default
~/.cache/ocrkit/test-wheels/<sha12 of requirements.txt>) and installed from there with --no-index, so
reruns do not reach the index. The test prints what it measured (cold start, warm latency, peak memory).
"""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pytest

from ocrkit.providers.gcp import function_serving
from tests.providers.gcp.conftest import PROJECT, start_server
from tests.providers.helpers import free_port

pytestmark = [pytest.mark.slow, pytest.mark.model]

SAMPLES = Path(__file__).resolve().parents[3] / "ocrkit" / "assets" / "samples"
WHEEL_CACHE_ENV = "OCRKIT_TEST_WHEEL_CACHE"
BUCKET = "fn-data-path"


def wheel_cache(requirements: Path) -> Path:
    """The requirements' wheels, downloaded from the index once (for this interpreter's platform)."""
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()[:12]
    root = os.environ.get(WHEEL_CACHE_ENV) or str(Path.home() / ".cache" / "ocrkit" / "test-wheels")
    folder = Path(root).expanduser() / f"{digest}-py{sys.version_info.major}{sys.version_info.minor}"
    done = folder / ".complete"
    if not done.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "-r", str(requirements), "-d", str(folder)],
            check=True,
            timeout=600,
        )
        done.write_text("ok\n")
    return folder


def fresh_venv(where: Path, requirements: Path) -> Path:
    """python -m venv + pip install -r requirements.txt (from the wheel cache only)."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True, timeout=300)
    python = where / "bin" / "python"
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--no-index",
            "--find-links",
            str(wheel_cache(requirements)),
            "-r",
            str(requirements),
        ],
        check=True,
        timeout=600,
    )
    return where


def rss_peak_mb(pid: int, field: str = "VmHWM") -> float:
    """VmHWM (or another /proc status field) of a process and its children (gunicorn's workers), MiB."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.is_file():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                total += int(line.split()[1])
    return total / 1024


def samples() -> list[Path]:
    return sorted(SAMPLES.glob("*.jpg"))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The function source and the model zip exactly as `ocrkit deploy --serving function` builds them."""
    from ocrkit.weights import shipped_weights_path

    folder = tmp_path_factory.mktemp("fn-onnx")
    with pytest.MonkeyPatch.context() as mp:  # the export cache: a temporary one, restored after
        mp.setenv("OCRKIT_CACHE_DIR", str(folder / "cache"))
        export = function_serving.export_for(shipped_weights_path())
    source = function_serving.build_source_zip(folder / "function-onnx.zip")
    model = function_serving.build_model_zip(export, folder / "model-onnx.zip")
    unpacked = folder / "source"
    with zipfile.ZipFile(source.path) as zf:
        zf.extractall(unpacked)
    return export, model, unpacked, folder


@pytest.fixture(scope="module")
def function_url(built, gcs):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    from ocrkit.providers.gcp.spec import GcpDeploySpec

    export, model, source, folder = built
    venv = fresh_venv(folder / "venv", source / "requirements.txt")
    # the venv holds only what requirements.txt names: no torch, no ocrkit
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import torch"], capture_output=True, cwd=folder, timeout=60
    )
    assert probe.returncode != 0

    with pytest.MonkeyPatch.context() as mp:  # this process talks to the emulator only here
        mp.setenv("STORAGE_EMULATOR_HOST", gcs.url)
        client = storage.Client(project=PROJECT, credentials=AnonymousCredentials())
        bucket = client.lookup_bucket(BUCKET) or client.create_bucket(BUCKET)
        name = f"models/{model.sha256[:12]}/{function_serving.MODEL_ZIP}"
        bucket.blob(name).upload_from_filename(str(model.path))
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(folder),
        "PYTHONNOUSERSITE": "1",
        "STORAGE_EMULATOR_HOST": gcs.url,
        "TMPDIR": str(folder),
        **function_serving.function_environment(
            GcpDeploySpec(name="demo"), f"gs://{BUCKET}/{name}", model.sha256
        ),
    }
    port = free_port()
    started = time.perf_counter()
    fn = start_server(
        [
            str(venv / "bin" / "functions-framework"),
            "--target=predict",
            "--source=main.py",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        port,
        "/robots.txt",  # answered by functions-framework itself: the model is not loaded yet
        folder,
        cwd=source,
        env=env,
    )
    yield fn, started, export
    fn.stop()


def curl(url: str, image: Path, *extra: str) -> tuple[int, bytes]:
    """The report's call: curl --location URL --header 'Content-Type: image/jpeg' --data-binary @FILE."""
    run = subprocess.run(
        [
            "curl",
            "--silent",
            "--location",
            url,
            "--header",
            "Content-Type: image/jpeg",
            "--data-binary",
            f"@{image}",
            "--write-out",
            "\n%{http_code}",
            *extra,
        ],
        capture_output=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    body, _, code = run.stdout.rpartition(b"\n")
    return int(code), body


def test_the_reports_curl_call_answers_the_engines_text(function_url):
    from ocrkit.engine.onnx_runtime import OnnxPredictor

    fn, started, export = function_url
    files = samples()
    expected = OnnxPredictor(export, threads=1).predict_images([f.read_bytes() for f in files])
    before_model = rss_peak_mb(fn.process.pid, "VmRSS")  # the function loaded, the model not yet
    first = time.perf_counter()
    code, body = curl(f"{fn.url}/predict", files[0])
    cold_first_ms = (time.perf_counter() - first) * 1000
    cold_total_s = time.perf_counter() - started
    assert code == 200, body
    answers = [json.loads(body)]
    warm_ms = []
    for image in files[1:]:
        t0 = time.perf_counter()
        code, body = curl(f"{fn.url}/predict", image)
        warm_ms.append((time.perf_counter() - t0) * 1000)
        assert code == 200, body
        answers.append(json.loads(body))
    assert [a["text"] for a in answers] == [p.text for p in expected]
    for got, want in zip(answers, expected, strict=True):
        assert got["confidence"] == pytest.approx(want.confidence, abs=1e-4)

    peak = rss_peak_mb(fn.process.pid)
    unpacked = function_serving.unpacked_size(export)
    needed = function_serving.memory_needed_mb(unpacked)
    print(
        json.dumps(
            {
                "cold_start_s (spawn -> first answer)": round(cold_total_s, 2),
                "first_request_ms (model read + load + answer)": round(cold_first_ms),
                "warm_ms_median": round(statistics.median(warm_ms)),
                "warm_ms_max": round(max(warm_ms)),
                "rss_before_model_mib": round(before_model),
                "peak_rss_mib (master + worker)": round(peak),
                "model_unpacked_mib": round(unpacked / 2**20, 1),
                "estimate_mib": needed,
                "loadavg": Path("/proc/loadavg").read_text().split()[:3],
            }
        )
    )
    # the memory estimate the planner refuses with covers what ran (+ the unpacked files, which live in
    # memory on Cloud Functions' /tmp)
    assert peak + unpacked / 2**20 <= needed


def test_text_answer_and_errors(function_url):
    fn, _, export = function_url
    code, body = curl(f"{fn.url}/predict", samples()[1], "--header", "Accept: text/plain")
    assert code == 200 and body.decode().strip()
    request = urllib.request.Request(
        f"{fn.url}/predict", data=b"not an image", method="POST", headers={"Content-Type": "image/png"}
    )
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=60)
    assert err.value.code == 400
    assert json.loads(err.value.read())["error"]["code"] == "not_an_image"
