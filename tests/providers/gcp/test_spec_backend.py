"""The GCP deploy config's checks (limits before anything is created), the Vertex backend's mapping of
answers onto the gateway's errors, credentials and Google API errors in one sentence."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ocrkit.errors import ConfigError, OcrkitError
from ocrkit.gateway.backend import BackendError, BackendTimeout, BackendUnavailable
from ocrkit.gateway.errors import GatewayError
from ocrkit.prediction import ImageDecodeError
from ocrkit.providers.gcp.spec import (
    FUNCTION_MAX_REQUEST,
    GcpDeploySpec,
    gateway_environment,
    load_gcp_spec,
    max_image_bytes_allowed,
)
from ocrkit.runtime.vertex_backend import VertexBackend, from_environment


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gcp.yaml"
    path.write_text("name: demo\n" + text, encoding="utf-8")
    return path


def test_the_shipped_config_loads_with_the_issue_settings():
    spec = load_gcp_spec().spec
    assert spec.vertex.machine_type == "n1-standard-4"
    assert spec.vertex.accelerator_type == "NVIDIA_TESLA_T4" and spec.vertex.accelerator_count == 1
    assert spec.function.runtime == "python312" and spec.function.public is False
    assert spec.limits.max_image_bytes <= max_image_bytes_allowed()


def test_the_tightest_hop_is_vertex_after_base64():
    # 1.5 MB of JSON, base64 x4/3 and the envelope: about 1.12 MiB of raw image
    assert 1_150_000 < max_image_bytes_allowed() < 1_180_000


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        ("limits:\n  max_image_bytes: 2000000\n", "limits.max_image_bytes", "tightest hop"),
        (
            "function:\n  timeout_s: 20\nvertex:\n  predict_timeout_s: 25\n",
            "vertex.predict_timeout_s",
            "shorter",
        ),
        ("vertex:\n  predict_timeout_s: 90\n", "vertex.predict_timeout_s", "60"),
        ("vertex:\n  min_replicas: 3\n  max_replicas: 2\n", "vertex.min_replicas", "more than"),
        ("function:\n  memory: lots\n", "function.memory", "512Mi"),
        ("project: Not_A_Project\n", "project", "project id"),
        ("bucket:\n  kms_key: my-key\n", "bucket.kms_key", "projects/"),
    ],
)
def test_config_mistakes_name_the_field(tmp_path, text, field, words):
    with pytest.raises(ConfigError) as info:
        load_gcp_spec(write(tmp_path, text))
    assert info.value.field == field and words in str(info.value)


def test_gateway_environment_from_the_tightest_hop():
    env = gateway_environment(GcpDeploySpec(name="demo"), "projects/p/locations/us-east4/endpoints/1")
    assert env["OCRKIT_MAX_REQUEST_BYTES"] == str(FUNCTION_MAX_REQUEST)
    assert int(env["OCRKIT_MAX_IMAGE_BYTES"]) <= max_image_bytes_allowed()
    assert int(env["OCRKIT_BACKEND_TIMEOUT_S"]) < GcpDeploySpec(name="demo").function.timeout_s


class _Vertex(BaseHTTPRequestHandler):
    answers: list[tuple[int, dict | str]] = []
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).seen.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        status, answer = type(self).answers.pop(0)
        if answer == "sleep":
            import time

            time.sleep(2)
            answer = {}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def vertex():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Vertex)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _Vertex.answers, _Vertex.seen = [], []
    yield f"http://127.0.0.1:{server.server_address[1]}", _Vertex
    server.shutdown()
    server.server_close()


ENDPOINT = "projects/p/locations/us-east4/endpoints/7"


def test_predict_sends_b64_instances_and_splits_under_the_cap(vertex):
    url, handler = vertex
    handler.answers = [
        (200, {"predictions": [{"text": "a", "confidence": 0.9}, {"text": "b", "confidence": 0.8}]}),
        (200, {"predictions": [{"text": "c", "confidence": 0.7}]}),
    ]
    backend = VertexBackend(ENDPOINT, base_url=url, token=lambda: "tok", max_request=400)
    got = backend.predict([b"x" * 100, b"y" * 100, b"z" * 100], timeout_s=5)
    assert [p.text for p in got] == ["a", "b", "c"]
    first = handler.seen[0]
    assert first["path"] == f"/v1/{ENDPOINT}:predict" and first["auth"] == "Bearer tok"
    assert first["body"]["instances"][0] == {"b64": base64.b64encode(b"x" * 100).decode()}
    assert len(handler.seen) == 2


@pytest.mark.parametrize(
    ("status", "answer", "error"),
    [
        (
            200,
            {"predictions": [{"error": {"code": "undecodable_image", "message": "bad"}}]},
            ImageDecodeError,
        ),
        (200, {"predictions": [{"error": {"code": "not_an_image", "message": "no"}}]}, GatewayError),
        (
            400,
            {"error": {"code": 400, "message": '{"error": {"code": "image_too_large", "message": "big"}}'}},
            GatewayError,
        ),
        (503, {"error": {"code": 503, "message": "unavailable"}}, BackendUnavailable),
        (429, {"error": {"code": 429, "message": "quota"}}, BackendError),
        (500, {"error": {"code": 500, "message": "boom"}}, BackendError),
        (200, {"nothing": []}, BackendError),
        (200, "sleep", BackendTimeout),
    ],
)
def test_answers_map_onto_the_gateway_errors(vertex, status, answer, error):
    url, handler = vertex
    handler.answers = [(status, answer)]
    backend = VertexBackend(ENDPOINT, base_url=url, token=None)
    with pytest.raises(error) as info:
        backend.predict([b"img"], timeout_s=0.5)
    if error is GatewayError and status == 400:
        assert info.value.code == "image_too_large"


def test_from_environment_uses_the_override_without_a_token(monkeypatch):
    backend = from_environment(
        {"OCRKIT_VERTEX_ENDPOINT_NAME": ENDPOINT, "OCRKIT_GCP_VERTEX_ENDPOINT": "http://127.0.0.1:1"}
    )
    assert backend.url == f"http://127.0.0.1:1/v1/{ENDPOINT}:predict" and backend.token is None
    real = from_environment({"OCRKIT_VERTEX_ENDPOINT_NAME": ENDPOINT, "OCRKIT_GCP_REGION": "us-east4"})
    assert real.url.startswith("https://us-east4-aiplatform.googleapis.com/v1/") and real.token is not None
    with pytest.raises(BackendError):
        from_environment({})


def test_no_credentials_without_an_override_is_one_sentence(monkeypatch, tmp_path):
    from ocrkit.providers.gcp import session

    for var in ("OCRKIT_GCP_VERTEX_ENDPOINT", "OCRKIT_GCP_FUNCTIONS_ENDPOINT", "STORAGE_EMULATOR_HOST"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    with pytest.raises(OcrkitError) as info:
        session.make_session("p-12345", "us-east4")
    assert "gcloud auth application-default login" in (info.value.hint or "") or "credentials" in str(
        info.value
    )

    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    gcp = session.make_session("p-12345", "us-east4")
    assert gcp.anonymous and gcp.project == "p-12345"


def test_google_errors_become_one_sentence():
    from google.api_core import exceptions

    from ocrkit.providers.gcp.session import gcp_errors

    with pytest.raises(OcrkitError) as info, gcp_errors("create the endpoint"):
        raise exceptions.PermissionDenied("Permission 'aiplatform.endpoints.create' denied\non resource")
    text = str(info.value.message)
    assert text.startswith("could not create the endpoint: PermissionDenied:") and "\n" not in text
    assert "roles" in (info.value.hint or "")


def test_the_gcp_target_loads_lazily() -> None:
    """`get_provider("gcp")` imports no Google client library and no torch until a deploy needs them."""
    import subprocess
    import sys

    code = (
        "import sys; from ocrkit.providers import get_provider; p = get_provider('gcp'); "
        "heavy = ('google.cloud.aiplatform', 'google.cloud.functions', 'google.cloud.storage', 'torch'); "
        "print(type(p).__name__, any(m.startswith(heavy) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "GcpProvider False"


def test_torchserve_batching_settings_are_checked(tmp_path):
    spec = load_gcp_spec(write(tmp_path, "vertex: {batch_size: 4, max_batch_delay_ms: 25}\n")).spec
    assert (spec.vertex.batch_size, spec.vertex.max_batch_delay_ms) == (4, 25)
    with pytest.raises(ConfigError, match="max_batch_delay_ms"):
        load_gcp_spec(write(tmp_path, "vertex: {max_batch_delay_ms: 30000, predict_timeout_s: 25}\n"))
    with pytest.raises(ConfigError, match="batch_size"):
        load_gcp_spec(write(tmp_path, "vertex: {batch_size: 0}\n"))
