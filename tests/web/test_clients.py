"""The report's clients, unchanged, against the local endpoint (`ocrkit serve`, gunicorn, 127.0.0.1).

- seed 000's curl call: `curl --location URL --header 'Content-Type: image/png' --data-binary '@file.png'`;
- seed 001's: `curl -i -X POST -d '{"url": "..."}' URL` (curl's default form Content-Type, an image URL);
- a Python client in the `requests` style: `requests.post(url, data=open(path, 'rb'), headers=...)`;
- and the SageMaker and Vertex AI contracts that the cloud targets call, on the same server.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from ocrkit.server.production import ServeOptions, build_app
from tests.gateway.fakes import EchoPredictor
from tests.gateway.imagegen import make_png
from tests.loadtest.servers import running_server, small_checkpoint

pytestmark = pytest.mark.slow
PNG = make_png(40, 10)


def curl(*args: str, cwd=None) -> subprocess.CompletedProcess:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    return subprocess.run(
        ["curl", "--silent", "--show-error", *args], capture_output=True, timeout=60, cwd=cwd
    )


@pytest.fixture
def sample_png(tmp_path):
    path = tmp_path / "test1005.png"
    path.write_bytes(PNG)
    return path


def test_the_reports_curl_call(echo_endpoint, sample_png, tmp_path) -> None:
    # run where the image is, exactly as the report typed it
    done = curl(
        "--location",
        f"{echo_endpoint.url}/predict",
        "--header",
        "Content-Type: image/png",
        "--data-binary",
        f"@{sample_png.name}",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["text"] == "png 40x10" and answer["confidence"] == 0.875
    assert answer["model"] == "ocrkit" and answer["latency_ms"] >= 0


def test_the_reports_curl_call_for_bare_text(echo_endpoint, sample_png) -> None:
    # The report's API answered with the bare string; `Accept: text/plain` gives that answer.
    done = curl(
        "--location",
        f"{echo_endpoint.url}/predict",
        "--header",
        "Content-Type: image/png",
        "--header",
        "Accept: text/plain",
        "--data-binary",
        f"@{sample_png}",
    )
    assert done.returncode == 0 and done.stdout.decode() == "png 40x10"


def test_curl_without_a_content_type_still_works(echo_endpoint, sample_png) -> None:
    # --data-binary without --header sends application/x-www-form-urlencoded: the bytes are sniffed
    done = curl(f"{echo_endpoint.url}/predict", "--data-binary", f"@{sample_png}")
    assert json.loads(done.stdout)["text"] == "png 40x10"


def test_seed_001_url_input_through_the_allow_list(echo_endpoint, image_host) -> None:
    body = json.dumps({"url": image_host.url("/line.png")})
    done = curl("-i", "-X", "POST", "-d", body, f"{echo_endpoint.url}/predict")
    assert done.returncode == 0, done.stderr
    head, _, payload = done.stdout.decode().partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200")
    assert "content-type: application/json" in head.lower()
    assert json.loads(payload)["text"] == "png 40x10"  # the local host's 40x10 PNG, fetched by the server
    assert image_host.seen[-1]["path"] == "/line.png"


def test_seed_001_url_input_is_refused_without_the_allow_list(serve, image_host) -> None:
    # Defaults (no OCRKIT_URL_* variables): loopback addresses and plain http are refused.
    server = serve(build_app(ServeOptions(), predictor=EchoPredictor(), environ={}, wait=True))
    body = json.dumps({"url": image_host.url("/line.png")})
    done = curl("-X", "POST", "-d", body, f"{server.url}/predict")
    assert json.loads(done.stdout)["error"]["code"] == "url_refused"
    assert image_host.seen == []


def test_a_requests_client(echo_endpoint, sample_png) -> None:
    requests = pytest.importorskip("requests")
    with open(sample_png, "rb") as image:
        response = requests.post(
            f"{echo_endpoint.url}/predict", data=image, headers={"Content-Type": "image/png"}, timeout=60
        )
    assert response.status_code == 200 and response.json()["text"] == "png 40x10"
    bad = requests.post(f"{echo_endpoint.url}/predict", data=b"hello", headers={"Content-Type": "image/png"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "not_an_image"


def test_the_cloud_contracts_on_the_same_server(echo_endpoint, sample_png) -> None:
    # SageMaker: what the Lambda / SageMaker runtime sends to the container
    done = curl(
        "-X",
        "POST",
        "-H",
        "Content-Type: image/png",
        "--data-binary",
        f"@{sample_png}",
        f"{echo_endpoint.url}/invocations",
    )
    assert json.loads(done.stdout) == {"text": "png 40x10", "confidence": 0.875}
    assert curl(f"{echo_endpoint.url}/ping").stdout.startswith(b'{"status": "ok"')
    # Vertex AI: {"instances": [{"b64": ...}]} -> {"predictions": [...]}
    body = json.dumps({"instances": [{"b64": base64.b64encode(PNG).decode()}]})
    done = curl(
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        body,
        f"{echo_endpoint.url}/v1/models/ocrkit:predict",
    )
    assert json.loads(done.stdout)["predictions"][0]["text"] == "png 40x10"
    health = json.loads(curl(f"{echo_endpoint.url}/healthz").stdout)
    assert health == {"status": "ok", "ready": True, "model": "ocrkit"}


@pytest.mark.model
def test_the_reports_curl_call_with_a_real_model(tmp_path) -> None:
    samples = pytest.importorskip("ocrkit.core_model.samples")
    weights = small_checkpoint(tmp_path / "small.pt")
    word = tmp_path / "word.png"
    word.write_bytes(samples.sample_images(1)[0].png)
    with running_server(["--weights", str(weights), "--max-len", "12"], tmp_path=tmp_path) as served:
        done = curl(
            "--location",
            f"{served.url}/predict",
            "--header",
            "Content-Type: image/png",
            "--data-binary",
            f"@{word}",
        )
        answer = json.loads(done.stdout)
        # random-init weights: the words are meaningless, the contract is not
        assert set(answer) == {"text", "confidence", "model", "latency_ms"}
        assert isinstance(answer["text"], str) and 0.0 <= answer["confidence"] <= 1.0
