"""Platform shapes: API Gateway (HTTP API 2.0, REST 1.0, function URLs) and Flask-style requests."""

from __future__ import annotations

import base64
import io
import json

from ocrkit.gateway import Gateway, InProcessBackend, Limits
from ocrkit.gateway.events import request_from_apigw, request_from_flask, response_to_apigw
from ocrkit.gateway.messages import HttpResponse
from tests.gateway.fakes import EchoPredictor
from tests.gateway.imagegen import make_png

PNG = make_png(32, 8)


def http_api_event(body: bytes, content_type: str = "image/png", path: str = "/predict", stage="$default"):
    """What API Gateway HTTP API sends Lambda for the report's `curl --data-binary @test.png`."""
    return {
        "version": "2.0",
        "routeKey": "POST /predict",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": content_type, "accept": "*/*", "x-amzn-trace-id": "Root=1-abc"},
        "requestContext": {"http": {"method": "POST", "path": path}, "stage": stage, "requestId": "req-1"},
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def test_http_api_event_round_trip() -> None:
    gateway = Gateway(InProcessBackend(EchoPredictor()), Limits())
    request = request_from_apigw(http_api_event(PNG))
    assert (request.method, request.path, request.is_base64) == ("POST", "/predict", True)
    answer = response_to_apigw(gateway.handle(request))
    assert answer["statusCode"] == 200 and answer["isBase64Encoded"] is False
    assert json.loads(answer["body"])["text"] == "png 32x8"
    assert answer["headers"]["Content-Type"].startswith("application/json")


def test_named_stage_is_stripped() -> None:
    request = request_from_apigw(http_api_event(PNG, path="/prod/predict", stage="prod"))
    assert request.path == "/predict"


def test_rest_api_event() -> None:
    event = {
        "httpMethod": "POST",
        "path": "/predict",
        "headers": {"Content-Type": "application/json"},
        "multiValueHeaders": {"Content-Type": ["application/json"], "Accept": ["text/plain"]},
        "queryStringParameters": {"char_probs": "1"},
        "body": json.dumps({"image": base64.b64encode(PNG).decode()}),
        "isBase64Encoded": False,
    }
    request = request_from_apigw(event)
    assert request.headers["accept"] == "text/plain" and request.query == {"char_probs": "1"}
    response = Gateway(InProcessBackend(EchoPredictor()), Limits()).handle(request)
    assert (response.status, response.body) == (200, b"png 32x8")


def test_missing_body_becomes_empty() -> None:
    request = request_from_apigw({"version": "2.0", "rawPath": "/predict", "requestContext": {"http": {}}})
    assert request.body == b"" and request.method == "GET"


def test_binary_response_is_base64() -> None:
    answer = response_to_apigw(HttpResponse(200, {"Content-Type": "image/png"}, PNG))
    assert answer["isBase64Encoded"] is True and base64.b64decode(answer["body"]) == PNG


class _FlaskLike:
    def __init__(self, body: bytes, headers: dict) -> None:
        self.method = "POST"
        self.path = "/"
        self.headers = headers
        self.args = {}
        self.stream = io.BytesIO(body)


def test_flask_like_request_is_capped() -> None:
    request = request_from_flask(_FlaskLike(PNG, {"Content-Type": "image/png"}), max_body_bytes=10)
    assert len(request.body) == 11  # one byte over, so the gateway refuses it with 413
    gateway = Gateway(InProcessBackend(EchoPredictor()), Limits(max_request_bytes=10))
    assert gateway.handle(request).status == 413
    full = request_from_flask(_FlaskLike(PNG, {"Content-Type": "image/png"}), max_body_bytes=10_000)
    assert Gateway(InProcessBackend(EchoPredictor()), Limits()).handle(full).status == 200
