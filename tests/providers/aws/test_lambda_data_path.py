"""The data path: the Lambda entry point, called in-process with real API Gateway HTTP API (payload 2.0)
events, reaches a runtime on 127.0.0.1 that answers `POST /endpoints/{name}/invocations` with the real model
server and a random-init TorchPredictor. Answers and error codes are the gateway contract's."""

from __future__ import annotations

import base64
import json

import pytest

from ocrkit.gateway.limits import Limits
from ocrkit.providers.aws.spec import AwsDeploySpec, gateway_environment
from ocrkit.runtime import lambda_entry
from ocrkit.server.app import create_app
from ocrkit.server.dev import serve_dev
from tests.gateway.imagegen import make_png
from tests.gateway.realmodel import small_predictor
from tests.providers.aws.runtime_emulator import RuntimeEmulator

pytestmark = pytest.mark.model

PNG = make_png(64, 24)
API_ID = "a1b2c3d4e5"


def apigw_event(
    body: bytes | str | None, content_type: str | None, *, binary: bool, accept: str = "*/*"
) -> dict:
    """An HTTP API payload 2.0 event as API Gateway sends it to Lambda (shape from a real invocation)."""
    headers = {
        "accept": accept,
        "host": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-65ee2f8f-1234567890abcdef12345678",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    if content_type:
        headers["content-type"] = content_type
    event: dict = {
        "version": "2.0",
        "routeKey": "POST /predict",
        "rawPath": "/predict",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": API_ID,
            "domainName": f"{API_ID}.execute-api.us-east-1.amazonaws.com",
            "domainPrefix": API_ID,
            "http": {
                "method": "POST",
                "path": "/predict",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "POST /predict",
            "stage": "$default",
            "time": "10/Mar/2024:18:23:43 +0000",
            "timeEpoch": 1710095023000,
        },
        "isBase64Encoded": binary and bool(body),  # an empty body comes without one, not as base64
    }
    if body is not None:
        if binary:
            raw = body if isinstance(body, bytes) else body.encode()
            event["body"] = base64.b64encode(raw).decode()
            headers["content-length"] = str(len(raw))
        else:
            event["body"] = body if isinstance(body, str) else body.decode()
            headers["content-length"] = str(len(event["body"].encode()))
    return event


@pytest.fixture(scope="module")
def predictor():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny decoder steps gain nothing from a second (shared) core
    yield small_predictor(0)
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def runtime(predictor):
    emulator = RuntimeEmulator(
        endpoints={
            "demo-endpoint": create_app(predictor, Limits()),
            "strict-endpoint": create_app(predictor, Limits(max_image_bytes=100)),
            "slow-endpoint": create_app(predictor, Limits()),
        },
        delays={"slow-endpoint": 3.0},
    )
    server = serve_dev(emulator)
    yield emulator, server
    server.close()


@pytest.fixture
def lambda_env(runtime, monkeypatch):
    """The function's environment as deploy sets it, with the runtime client pointed at the emulator."""
    emulator, server = runtime
    for key, value in gateway_environment(AwsDeploySpec(name="demo"), "demo-endpoint").items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", server.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("OCRKIT_URL_ALLOW_HTTP", "true")  # the image host below is plain HTTP on 127.0.0.1
    monkeypatch.setenv("OCRKIT_URL_ALLOWED_NETWORKS", "127.0.0.0/8")
    lambda_entry.reset()
    yield emulator
    lambda_entry.reset()


def call(event: dict) -> tuple[int, dict | str, dict]:
    answer = lambda_entry.handler(event, None)
    assert set(answer) == {"statusCode", "headers", "body", "isBase64Encoded"}
    body = answer["body"]
    try:
        return answer["statusCode"], json.loads(body), answer["headers"]
    except ValueError:
        return answer["statusCode"], body, answer["headers"]


def error_code(doc) -> str:
    assert set(doc) == {"error"} and set(doc["error"]) == {"code", "message"}, doc
    return doc["error"]["code"]


def test_binary_body_base64(lambda_env, predictor) -> None:
    status, doc, headers = call(apigw_event(PNG, "image/png", binary=True))
    expected = predictor.predict_images([PNG])[0]
    assert status == 200, doc
    assert doc["text"] == expected.text
    assert doc["confidence"] == round(expected.confidence, 4)
    assert doc["model"] == "ocrkit" and doc["latency_ms"] >= 0
    assert headers["Content-Type"].startswith("application/json")
    assert lambda_env.seen[-1] == {
        "endpoint": "demo-endpoint",
        "content_type": "image/png",
        "bytes": len(PNG),
    }


def test_json_with_base64_image(lambda_env, predictor) -> None:
    body = json.dumps({"image": base64.b64encode(PNG).decode()})
    status, doc, _ = call(apigw_event(body, "application/json", binary=False))
    assert status == 200 and doc["text"] == predictor.predict_images([PNG])[0].text


def test_json_batch_goes_as_one_json_invocation(lambda_env, predictor) -> None:
    other = make_png(90, 30)
    body = json.dumps({"images": [base64.b64encode(i).decode() for i in (PNG, other)]})
    status, doc, _ = call(apigw_event(body, "application/json", binary=False))
    assert status == 200
    assert [r["text"] for r in doc["results"]] == [p.text for p in predictor.predict_images([PNG, other])]
    assert lambda_env.seen[-1]["content_type"] == "application/json"


def test_json_with_image_url(lambda_env, predictor, image_host) -> None:
    image_host.routes["/crop.png"] = (200, {"Content-Type": "image/png"}, PNG)
    body = json.dumps({"url": image_host.url("/crop.png")})
    status, doc, _ = call(apigw_event(body, "application/json", binary=False))
    assert status == 200, doc
    assert doc["text"] == predictor.predict_images([PNG])[0].text


def test_text_plain_answer(lambda_env, predictor) -> None:
    status, body, _ = call(apigw_event(PNG, "image/png", binary=True, accept="text/plain"))
    assert status == 200 and body == predictor.predict_images([PNG])[0].text


@pytest.mark.parametrize(
    ("body", "content_type", "binary", "status", "code"),
    [
        (None, "image/png", True, 400, "empty_body"),
        (b"", "application/json", False, 400, "empty_body"),
        (b"hello", "text/plain", False, 415, "unsupported_media_type"),
        (b"not an image at all", "image/png", True, 400, "not_an_image"),
        ('{"image": "***"}', "application/json", False, 400, "bad_base64"),
        ("{not json", "application/json", False, 400, "bad_json"),
    ],
)
def test_client_mistakes(lambda_env, body, content_type, binary, status, code) -> None:
    seen = len(lambda_env.seen)
    got, doc, _ = call(apigw_event(body, content_type, binary=binary))
    assert (got, error_code(doc)) == (status, code)
    assert len(lambda_env.seen) == seen  # refused before the endpoint is called


def test_model_server_refusal_keeps_its_status_and_code(lambda_env, monkeypatch) -> None:
    monkeypatch.setenv("OCRKIT_ENDPOINT_NAME", "strict-endpoint")  # the container allows 100 bytes
    lambda_entry.reset()
    status, doc, _ = call(apigw_event(PNG, "image/png", binary=True))
    assert (status, error_code(doc)) == (413, "image_too_large")


def test_endpoint_timeout_is_504(lambda_env, monkeypatch) -> None:
    monkeypatch.setenv("OCRKIT_ENDPOINT_NAME", "slow-endpoint")
    monkeypatch.setenv("OCRKIT_BACKEND_TIMEOUT_S", "1")
    lambda_entry.reset()
    status, doc, _ = call(apigw_event(PNG, "image/png", binary=True))
    assert (status, error_code(doc)) == (504, "backend_timeout")


def test_missing_endpoint_is_502_without_aws_details(lambda_env, monkeypatch) -> None:
    monkeypatch.setenv("OCRKIT_ENDPOINT_NAME", "no-such-endpoint")
    lambda_entry.reset()
    status, doc, _ = call(apigw_event(PNG, "image/png", binary=True))
    assert (status, error_code(doc)) == (502, "backend_failed")
    assert "123456789012" not in doc["error"]["message"]


def test_misconfigured_function_is_500_without_a_trace(monkeypatch) -> None:
    monkeypatch.delenv("OCRKIT_ENDPOINT_NAME", raising=False)
    lambda_entry.reset()
    answer = lambda_entry.handler(apigw_event(PNG, "image/png", binary=True), None)
    lambda_entry.reset()
    assert answer["statusCode"] == 500
    assert error_code(json.loads(answer["body"])) == "internal_error"
