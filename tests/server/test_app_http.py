"""The model server over real HTTP: SageMaker, Vertex AI and gateway contracts, with a fake predictor
standing in for the model (tests marked `model` use the real one)."""

from __future__ import annotations

import base64
import threading

import pytest

from ocrkit.gateway.limits import Limits
from ocrkit.server import LoadingBackend, VertexRoutes, create_app
from tests.gateway.fakes import BlockingPredictor, EchoPredictor, FailingPredictor
from tests.gateway.imagegen import make_gif, make_png, pil_image
from tests.server.conftest import http_call

LOCAL = Limits(url_allow_http=True, url_allowed_networks=("127.0.0.0/8",))
PNG = make_png(32, 8)
B64 = base64.b64encode(PNG).decode()
NO_AIP: dict[str, str] = {}


@pytest.fixture
def server(serve):
    return serve(create_app(EchoPredictor(), LOCAL, environ=NO_AIP))


# -- SageMaker -------------------------------------------------------------------------------------------


def test_ping(server) -> None:
    reply = http_call(server, "GET", "/ping")
    assert reply.status == 200 and reply.json()["status"] == "ok"


def test_healthz(server) -> None:
    reply = http_call(server, "GET", "/healthz")
    assert reply.status == 200 and reply.json() == {"status": "ok", "ready": True, "model": "ocrkit"}


@pytest.mark.parametrize("content_type", ["image/png", "application/x-image", "application/octet-stream"])
def test_invocations_raw_png(server, content_type: str) -> None:
    reply = http_call(server, "POST", "/invocations", PNG, content_type)
    assert reply.status == 200
    assert reply.json() == {"text": "png 32x8", "confidence": 0.875}
    assert reply.headers["content-type"] == "application/json; charset=utf-8"


def test_invocations_jpeg(server) -> None:
    pytest.importorskip("PIL")
    reply = http_call(server, "POST", "/invocations", pil_image("JPEG", 40, 12), "image/jpeg")
    assert reply.json()["text"] == "jpeg 40x12"


def test_invocations_json_and_batch(server) -> None:
    assert http_call(server, "POST", "/invocations", {"image": B64}).json()["text"] == "png 32x8"
    reply = http_call(server, "POST", "/invocations", {"images": [B64, B64]})
    assert [r["text"] for r in reply.json()["results"]] == ["png 32x8", "png 32x8"]


def test_invocations_text_plain(server) -> None:
    reply = http_call(server, "POST", "/invocations", PNG, "image/png", {"Accept": "text/plain"})
    assert (reply.status, reply.text) == (200, "png 32x8")
    assert reply.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (make_png(4, 4, claim=(100_000, 100_000)), "image/png", 413, "image_too_many_pixels"),
        (PNG[:-12], "image/png", 400, "truncated_image"),
        (b"plain words", "image/png", 400, "not_an_image"),
        (make_gif(), "image/png", 415, "unsupported_image_format"),
        (PNG, "text/html", 415, "unsupported_media_type"),
        (b"{oops", "application/json", 400, "bad_json"),
        (b'{"image": "!!!"}', "application/json", 400, "bad_base64"),
        (b"", "image/png", 400, "empty_body"),
        (b'{"url": "https://example.com/a.png"}', "application/json", 422, "url_refused"),
    ],
)
def test_invocations_errors(server, body: bytes, content_type: str, status: int, code: str) -> None:
    reply = http_call(server, "POST", "/invocations", body, content_type)
    assert (reply.status, reply.error_code) == (status, code)
    assert b"Traceback" not in reply.body


# -- the gateway contract --------------------------------------------------------------------------------


def test_predict_route_speaks_the_gateway_contract(server, image_host) -> None:
    reply = http_call(server, "POST", "/predict", PNG, "image/png")
    body = reply.json()
    assert reply.status == 200 and body["text"] == "png 32x8" and body["model"] == "ocrkit"
    assert "latency_ms" in body
    reply = http_call(server, "POST", "/predict", {"url": image_host.url("/line.png")})
    assert reply.json()["text"] == "png 40x10"
    reply = http_call(server, "POST", "/predict", PNG, "image/png", {"Accept": "text/plain"})
    assert reply.text == "png 32x8"


def test_routing_errors(server) -> None:
    reply = http_call(server, "GET", "/nope")
    assert (reply.status, reply.error_code) == (404, "not_found")
    reply = http_call(server, "GET", "/predict")
    assert (reply.status, reply.error_code, reply.headers["allow"]) == (405, "method_not_allowed", "POST")
    reply = http_call(server, "GET", "/invocations")
    assert reply.status == 405
    reply = http_call(server, "POST", "/ping", b"x", "text/plain")
    assert (reply.status, reply.headers["allow"]) == (405, "GET")


def test_request_id_over_http(server) -> None:
    reply = http_call(server, "POST", "/invocations", PNG, "image/png", {"X-Request-Id": "trace-42"})
    assert reply.headers["x-request-id"] == "trace-42"
    assert http_call(server, "GET", "/ping").headers["x-request-id"]


def test_oversize_body_over_http_is_413(serve) -> None:
    server = serve(create_app(EchoPredictor(), LOCAL.with_(max_request_bytes=2_000), environ=NO_AIP))
    big = make_png(60, 60, noisy=True)
    for path in ("/invocations", "/predict"):
        reply = http_call(server, "POST", path, big, "image/png")
        assert (reply.status, reply.error_code) == (413, "request_too_large")


# -- Vertex AI -------------------------------------------------------------------------------------------


def test_vertex_default_routes(server) -> None:
    assert http_call(server, "GET", "/health").status == 200
    request = {
        "instances": [{"b64": B64}, {"image": {"b64": base64.b64encode(make_png(9, 3)).decode()}}, B64]
    }
    reply = http_call(server, "POST", "/v1/models/ocrkit:predict", request)
    assert reply.status == 200
    assert reply.json() == {
        "predictions": [
            {"text": "png 32x8", "confidence": 0.875},
            {"text": "png 9x3", "confidence": 0.875},
            {"text": "png 32x8", "confidence": 0.875},
        ]
    }


def test_vertex_parameters(server) -> None:
    request = {"instances": [{"b64": B64}], "parameters": {"char_probs": True}}
    reply = http_call(server, "POST", "/v1/models/ocrkit:predict", request)
    assert reply.json()["predictions"][0]["char_probs"] == [0.5, 1.0]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        ({"inputs": []}, None, 400, "missing_field"),
        ({"instances": []}, None, 400, "invalid_field"),
        ({"instances": "x"}, None, 400, "invalid_field"),
        ({"instances": [{"b64": "###"}]}, None, 400, "bad_base64"),
        ({"instances": [{"url": "https://example.com/a.png"}]}, None, 422, "url_refused"),
        ({"instances": [{"b64": B64}] * 17}, None, 413, "batch_too_large"),
        (
            {"instances": [{"b64": base64.b64encode(make_gif()).decode()}]},
            None,
            415,
            "unsupported_image_format",
        ),
        (b"[1, 2]", "application/json", 400, "bad_json"),
        (b"{nope", "application/json", 400, "bad_json"),
        (PNG, "image/png", 415, "unsupported_media_type"),
        (b"", "application/json", 400, "empty_body"),
    ],
)
def test_vertex_errors(server, body, content_type, status: int, code: str) -> None:
    reply = http_call(server, "POST", "/v1/models/ocrkit:predict", body, content_type)
    assert (reply.status, reply.error_code) == (status, code), reply.body


def test_vertex_routes_from_aip_environment(serve, monkeypatch) -> None:
    monkeypatch.setenv("AIP_HTTP_PORT", "8085")
    monkeypatch.setenv("AIP_HEALTH_ROUTE", "/v1/endpoints/123/deployedModels/456")
    monkeypatch.setenv("AIP_PREDICT_ROUTE", "/v1/endpoints/123/deployedModels/456:predict")
    app = create_app(EchoPredictor(), LOCAL)
    assert app.vertex == VertexRoutes(
        "/v1/endpoints/123/deployedModels/456", "/v1/endpoints/123/deployedModels/456:predict", 8085
    )
    server = serve(app)
    assert http_call(server, "GET", "/v1/endpoints/123/deployedModels/456").status == 200
    reply = http_call(server, "POST", "/v1/endpoints/123/deployedModels/456:predict", {"instances": [B64]})
    assert reply.json()["predictions"][0]["text"] == "png 32x8"
    assert http_call(server, "POST", "/v1/models/ocrkit:predict", {"instances": [B64]}).status == 404


def test_vertex_predict_route_shared_with_the_gateway(serve) -> None:
    env = {"AIP_PREDICT_ROUTE": "/predict", "AIP_HEALTH_ROUTE": "/ping"}
    server = serve(create_app(EchoPredictor(), LOCAL, environ=env))
    vertex = http_call(server, "POST", "/predict", {"instances": [{"b64": B64}]})
    assert vertex.json() == {"predictions": [{"text": "png 32x8", "confidence": 0.875}]}
    gateway = http_call(server, "POST", "/predict", {"image": B64})
    assert gateway.json()["text"] == "png 32x8" and "model" in gateway.json()
    assert http_call(server, "POST", "/predict", PNG, "image/png").json()["text"] == "png 32x8"
    assert http_call(server, "GET", "/ping").status == 200


# -- readiness and backend trouble ----------------------------------------------------------------------


def test_loading_model_answers_503_until_ready(serve) -> None:
    release = threading.Event()

    def loader():
        release.wait(10)
        return EchoPredictor()

    backend = LoadingBackend(loader)
    server = serve(create_app(backend, LOCAL, environ=NO_AIP))
    reply = http_call(server, "GET", "/ping")
    assert (reply.status, reply.error_code) == (503, "model_not_ready")
    assert http_call(server, "GET", "/health").status == 503
    assert http_call(server, "GET", "/healthz").json()["ready"] is False
    reply = http_call(server, "POST", "/invocations", PNG, "image/png")
    assert (reply.status, reply.error_code) == (503, "model_not_ready")
    release.set()
    assert backend.wait(10)
    assert http_call(server, "GET", "/ping").status == 200
    assert http_call(server, "POST", "/invocations", PNG, "image/png").status == 200


def test_failed_model_load_keeps_health_red(serve) -> None:
    def loader():
        raise FileNotFoundError("/opt/ml/model/model.pt")

    backend = LoadingBackend(loader)
    backend.wait(10)
    server = serve(create_app(backend, LOCAL, environ=NO_AIP))
    reply = http_call(server, "GET", "/ping")
    assert reply.status == 503 and "failed to load" in reply.json()["error"]["message"]
    assert "/opt/ml" not in reply.text


def test_backend_failure_and_timeout_over_http(serve) -> None:
    server = serve(create_app(FailingPredictor(RuntimeError("secret")), LOCAL, environ=NO_AIP))
    reply = http_call(server, "POST", "/invocations", PNG, "image/png")
    assert (reply.status, reply.error_code) == (502, "backend_failed") and "secret" not in reply.text
    blocking = BlockingPredictor()
    try:
        server = serve(create_app(blocking, LOCAL.with_(backend_timeout_s=0.2), environ=NO_AIP))
        reply = http_call(server, "POST", "/v1/models/ocrkit:predict", {"instances": [B64]})
        assert (reply.status, reply.error_code) == (504, "backend_timeout")
    finally:
        blocking.release.set()


def test_limits_and_routes_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("OCRKIT_MAX_BATCH", "3")
    monkeypatch.delenv("AIP_PREDICT_ROUTE", raising=False)
    app = create_app(EchoPredictor())
    assert app.limits.max_batch == 3
    assert "/v1/models/ocrkit:predict" in app.routes and app.routes["/invocations"] == ("POST",)


def test_app_without_wsgi(server) -> None:
    from ocrkit.gateway import HttpRequest

    app = create_app(EchoPredictor(), LOCAL, environ=NO_AIP)
    response = app.handle(HttpRequest("POST", "/invocations", {"Content-Type": "image/png"}, PNG))
    assert response.status == 200
