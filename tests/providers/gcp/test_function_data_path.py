"""The data path: the packaged function source, unzipped and served by functions-framework (a subprocess,
as Cloud Functions runs it), calls the Vertex `:predict` route of the real model server (create_app with a
random-init small TorchPredictor, served on 127.0.0.1 with AIP_PREDICT_ROUTE set to the path the backend
calls). The report's curl call and the JSON forms get the gateway contract's answers and errors."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.error
import urllib.request
import zipfile

import pytest

from ocrkit.providers.gcp import package
from ocrkit.providers.gcp.spec import GcpDeploySpec, gateway_environment
from ocrkit.server.app import create_app
from ocrkit.server.dev import serve_dev
from ocrkit.server.vertex import VertexRoutes
from tests.gateway.imagegen import make_png
from tests.gateway.realmodel import small_predictor
from tests.providers.gcp.conftest import BIN, PROJECT, REGION, free_port, start_server

pytestmark = [pytest.mark.model, pytest.mark.slow]

ENDPOINT = f"projects/{PROJECT}/locations/{REGION}/endpoints/1234"
PNG = make_png(64, 24)


@pytest.fixture(scope="module")
def model_server():
    predictor = small_predictor(0)
    routes = VertexRoutes(health="/health", predict=f"/v1/{ENDPOINT}:predict", port=0)
    app = create_app(predictor, vertex=routes, environ={})
    with serve_dev(app) as server:
        yield server, predictor


@pytest.fixture(scope="module")
def function_url(model_server, tmp_path_factory):
    server, _ = model_server
    folder = tmp_path_factory.mktemp("function")
    built = package.build_function_zip(folder / "function.zip")
    source = folder / "source"
    with zipfile.ZipFile(built.path) as zf:
        zf.extractall(source)
    spec = GcpDeploySpec(name="demo")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(folder),
        **gateway_environment(spec, ENDPOINT),
        "OCRKIT_GCP_VERTEX_ENDPOINT": server.url,
        "PYTHONPATH": "",
    }
    port = free_port()
    fn = start_server(
        [
            str(BIN / "functions-framework"),
            "--target=predict",
            "--source=main.py",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        port,
        "/",
        folder,
        cwd=source,
        env=env,
    )
    yield fn.url, source
    fn.stop()


def post(url: str, body: bytes, content_type: str, accept: str = "application/json"):
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": content_type, "Accept": accept}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.headers.get("Content-Type", ""), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read()


def test_the_reports_curl_call(function_url, model_server, tmp_path):
    url, source = function_url
    _, predictor = model_server
    expected = predictor.predict_images([PNG])[0]
    sample = tmp_path / "sample.png"
    sample.write_bytes(PNG)
    # curl --location http://127.0.0.1:P/ --header 'Content-Type: image/png' --data-binary '@sample.png'
    run = subprocess.run(
        [
            "curl",
            "--silent",
            "--location",
            f"{url}/",
            "--header",
            "Content-Type: image/png",
            "--data-binary",
            f"@{sample}",
        ],
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == 0
    answer = json.loads(run.stdout)
    assert answer["text"] == expected.text
    assert answer["confidence"] == pytest.approx(expected.confidence, abs=1e-4)
    # the served code is the zip's, standard library only
    assert (source / "ocrkit" / "runtime" / "vertex_backend.py").is_file()
    assert not (source / "ocrkit" / "core_model").exists()


def test_json_forms_and_text_answer(function_url, model_server):
    url, _ = function_url
    _, predictor = model_server
    expected = predictor.predict_images([PNG])[0]
    b64 = base64.b64encode(PNG).decode()
    status, _, body = post(f"{url}/predict", json.dumps({"image": b64}).encode(), "application/json")
    assert status == 200 and json.loads(body)["text"] == expected.text
    status, _, body = post(f"{url}/predict", json.dumps({"images": [b64, b64]}).encode(), "application/json")
    assert status == 200
    assert [r["text"] for r in json.loads(body)["results"]] == [expected.text, expected.text]
    status, ctype, body = post(f"{url}/predict", PNG, "image/png", accept="text/plain")
    assert status == 200 and ctype.startswith("text/plain") and body.decode().strip() == expected.text


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"not an image", "image/png", 400, "not_an_image"),
        (b"{not json", "application/json", 400, "bad_json"),
        (b'{"image": "!!!"}', "application/json", 400, "bad_base64"),
        (b"hello", "text/plain", 415, "unsupported_media_type"),
    ],
)
def test_errors(function_url, body, content_type, status, code):
    url, _ = function_url
    got, ctype, answer = post(f"{url}/predict", body, content_type)
    assert got == status and ctype.startswith("application/json")
    assert json.loads(answer)["error"]["code"] == code


def test_an_image_over_the_vertex_cap_is_refused_before_the_model(function_url):
    url, _ = function_url
    big = make_png(1400, 1400, noisy=True)
    assert len(big) > 1048576
    status, _, answer = post(f"{url}/predict", big, "image/png")
    assert status == 413 and json.loads(answer)["error"]["code"] == "image_too_large"


def test_the_backend_down_is_a_502(model_server, tmp_path):
    """A Vertex base URL that answers nothing: the gateway's 502, not a stack trace."""
    from ocrkit.gateway.messages import HttpRequest
    from ocrkit.runtime import function_entry

    env = {**gateway_environment(GcpDeploySpec(name="demo"), ENDPOINT)}
    env["OCRKIT_GCP_VERTEX_ENDPOINT"] = f"http://127.0.0.1:{free_port()}"
    gateway = function_entry.build_gateway(env)
    response = gateway.handle(HttpRequest("POST", "/", {"Content-Type": "image/png"}, PNG))
    assert response.status == 502
    assert json.loads(response.body)["error"]["code"] == "backend_failed"


def test_source_zip_is_small_and_reproducible(tmp_path):
    a = package.build_function_zip(tmp_path / "a" / "function.zip")
    b = package.build_function_zip(tmp_path / "b" / "function.zip")
    assert a.sha256 == b.sha256 and a.size < 200_000
    assert "main.py" in a.members


def _state(tmp_path, url: str, public: bool):
    from ocrkit.deploy.records import ResourceRecord
    from ocrkit.deploy.state import new_state

    state = new_state("demo", "gcp", tmp_path)
    state.resources["function"] = ResourceRecord("functions:function", "projects/p/locations/r/functions/f")
    state.outputs.update(url=url, invoke_url=f"{url}/predict", public=public, project=PROJECT, region=REGION)
    return state


def test_invoke_a_private_function_with_anonymous_credentials_sends_no_token(
    function_url, model_server, tmp_path, monkeypatch
):
    from ocrkit.providers.gcp.provider import GcpProvider

    url, _ = function_url
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    monkeypatch.setenv("OCRKIT_GCP_FUNCTIONS_ENDPOINT", "http://127.0.0.1:1")  # an emulator: anonymous
    result = GcpProvider().invoke(_state(tmp_path, url, public=False), PNG, "image/png")
    assert result.status == 200 and "text" in json.loads(result.body)


def test_invoke_a_private_function_sends_an_identity_token(function_url, tmp_path, monkeypatch):
    """With real credentials the request carries `fetch_id_token(audience=the function URL)`."""
    from google.oauth2 import id_token

    from ocrkit.providers.gcp.provider import GcpProvider
    from ocrkit.providers.gcp.session import GcpSession

    url, _ = function_url
    audiences = []

    def fake_fetch(request, audience):
        audiences.append(audience)
        return "id-token-123"

    monkeypatch.setattr(id_token, "fetch_id_token", fake_fetch)
    provider = GcpProvider(session=GcpSession(project=PROJECT, region=REGION, credentials=object()))
    result = provider.invoke(_state(tmp_path, url, public=False), PNG, "image/png")
    assert result.status == 200 and audiences == [url]
