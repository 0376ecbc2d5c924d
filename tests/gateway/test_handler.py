"""The gateway contract, end to end through Gateway.handle, with a fake predictor standing in for the
model (the model itself is exercised in test_model_integration.py)."""

from __future__ import annotations

import base64
import json

import pytest

from ocrkit.gateway import Gateway, HttpRequest, InProcessBackend, Limits
from ocrkit.gateway.backend import BackendError, BackendUnavailable
from ocrkit.prediction import Prediction
from tests.gateway.fakes import (
    BlockingPredictor,
    EchoPredictor,
    FailingPredictor,
    UndecodablePredictor,
    WrongCountPredictor,
)
from tests.gateway.imagegen import make_gif, make_png, pil_image

LOCAL = Limits(url_allow_http=True, url_allowed_networks=("127.0.0.0/8",))
PNG = make_png(32, 8)
B64 = base64.b64encode(PNG).decode()


def gateway(predictor=None, limits: Limits = LOCAL, **kwargs) -> Gateway:
    return Gateway(InProcessBackend(predictor or EchoPredictor()), limits, **kwargs)


def call(
    gw: Gateway,
    body: bytes | str | dict = b"",
    content_type: str | None = None,
    *,
    method: str = "POST",
    path: str = "/predict",
    headers: dict | None = None,
    is_base64: bool = False,
    query: dict | None = None,
):
    if isinstance(body, dict):
        body = json.dumps(body)
        content_type = content_type or "application/json"
    all_headers = dict(headers or {})
    if content_type is not None:
        all_headers["Content-Type"] = content_type
    response = gw.handle(HttpRequest(method, path, all_headers, body, is_base64, query or {}))
    if response.content_type == "application/json":
        return response.status, json.loads(response.body), response
    return response.status, response.body.decode("utf-8"), response


def assert_error(result, status: int, code: str) -> str:
    got_status, body, response = result
    assert got_status == status, body
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["code"] == code, body
    assert response.content_type == "application/json"
    assert "Traceback" not in body["error"]["message"]
    return body["error"]["message"]


# -- accepted inputs -----------------------------------------------------------------------------------


def test_raw_png_answers_text_confidence_model_latency() -> None:
    status, body, response = call(gateway(), PNG, "image/png")
    assert status == 200
    assert body["text"] == "png 32x8"
    assert body["confidence"] == 0.875
    assert body["model"] == "ocrkit"
    assert isinstance(body["latency_ms"], float)
    assert "char_probs" not in body
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["X-Request-Id"]


@pytest.mark.parametrize(
    ("fmt", "content_type", "expected"),
    [
        ("JPEG", "image/jpeg", "jpeg 45x13"),
        ("JPEG", "image/jpg", "jpeg 45x13"),
        ("PNG", "application/x-image", "png 45x13"),
        ("PNG", "application/octet-stream", "png 45x13"),
        ("JPEG", "image/png", "jpeg 45x13"),  # the bytes decide, the header is a hint
    ],
)
def test_raw_image_types(fmt: str, content_type: str, expected: str) -> None:
    pytest.importorskip("PIL")
    status, body, _ = call(gateway(), pil_image(fmt, 45, 13), content_type)
    assert (status, body["text"]) == (200, expected)


@pytest.mark.parametrize(("fmt", "content_type"), [("WEBP", "image/webp"), ("TIFF", "image/tiff")])
def test_webp_and_tiff_are_refused_by_content(fmt: str, content_type: str) -> None:
    pytest.importorskip("PIL")
    for declared in (content_type, "image/png", "application/octet-stream"):
        status, body, _ = call(gateway(), pil_image(fmt, 45, 13), declared)
        assert (status, body["error"]["code"]) == (415, "unsupported_image_format")


def test_content_type_parameters_are_ignored() -> None:
    assert call(gateway(), PNG, "Image/PNG; charset=binary")[0] == 200


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded"])
def test_raw_bytes_without_a_useful_content_type_are_sniffed(content_type) -> None:
    # curl --data-binary @file.png without -H sends application/x-www-form-urlencoded
    status, body, _ = call(gateway(), PNG, content_type)
    assert (status, body["text"]) == (200, "png 32x8")


def test_api_gateway_base64_body() -> None:
    status, body, _ = call(gateway(), B64, "image/png", is_base64=True)
    assert (status, body["text"]) == (200, "png 32x8")


def test_json_base64_image() -> None:
    status, body, _ = call(gateway(), {"image": B64})
    assert (status, body["text"]) == (200, "png 32x8")


def test_json_base64_wrapped_urlsafe_unpadded() -> None:
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    assert call(gateway(), {"image": wrapped})[0] == 200
    urlsafe = base64.urlsafe_b64encode(make_png(33, 9)).decode().rstrip("=")
    status, body, _ = call(gateway(), {"image": urlsafe})
    assert (status, body["text"]) == (200, "png 33x9")


def test_json_data_url() -> None:
    status, body, _ = call(gateway(), {"image": f"data:image/png;base64,{B64}"})
    assert (status, body["text"]) == (200, "png 32x8")


def test_json_b64_object() -> None:
    assert call(gateway(), {"image": {"b64": B64}})[0] == 200


def test_json_url(image_host) -> None:
    status, body, _ = call(gateway(), {"url": image_host.url("/line.png")})
    assert (status, body["text"]) == (200, "png 40x10")


def test_seed_001_style_json_without_content_type(image_host) -> None:
    # curl -X POST -d '{"url": "..."}' sends application/x-www-form-urlencoded
    body = json.dumps({"url": image_host.url("/line.png")})
    status, answer, _ = call(gateway(), body, "application/x-www-form-urlencoded")
    assert (status, answer["text"]) == (200, "png 40x10")


def test_batch_keeps_order_and_mixes_forms(image_host) -> None:
    items = [
        base64.b64encode(make_png(10, 2)).decode(),
        {"image": base64.b64encode(make_png(11, 3)).decode()},
        {"url": image_host.url("/line.png")},
        f"data:image/png;base64,{base64.b64encode(make_png(12, 4)).decode()}",
    ]
    status, body, _ = call(gateway(), {"images": items})
    assert status == 200
    assert [r["text"] for r in body["results"]] == ["png 10x2", "png 11x3", "png 40x10", "png 12x4"]
    assert body["model"] == "ocrkit" and "latency_ms" in body


def test_batch_goes_to_the_backend_in_one_call() -> None:
    predictor = EchoPredictor()
    call(gateway(predictor), {"images": [B64, B64, B64]})
    assert len(predictor.calls) == 1 and len(predictor.calls[0]) == 3


def test_char_probs_on_request() -> None:
    status, body, _ = call(gateway(), {"image": B64, "char_probs": True})
    assert body["char_probs"] == [0.5, 1.0]
    status, body, _ = call(gateway(), PNG, "image/png", query={"char_probs": "1"})
    assert body["char_probs"] == [0.5, 1.0]


def test_accept_text_plain_answers_the_text_alone() -> None:
    status, body, response = call(gateway(), PNG, "image/png", headers={"Accept": "text/plain"})
    assert (status, body) == (200, "png 32x8")
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_accept_text_plain_batch_is_one_line_per_image() -> None:
    status, body, _ = call(gateway(), {"images": [B64, B64]}, headers={"Accept": "text/plain"})
    assert (status, body) == (200, "png 32x8\npng 32x8")


@pytest.mark.parametrize(
    ("accept", "is_text"),
    [
        ("*/*", False),
        ("application/json", False),
        ("text/plain, application/json;q=0.5", True),
        ("application/json, text/plain;q=0.5", False),
        ("text/*", False),
        ("text/plain;q=0", False),
    ],
)
def test_accept_negotiation(accept: str, is_text: bool) -> None:
    _, _, response = call(gateway(), PNG, "image/png", headers={"Accept": accept})
    assert (response.content_type == "text/plain") is is_text


def test_cyrillic_text_is_utf8_json() -> None:
    class Cyrillic:
        def predict_images(self, images):
            return [Prediction("отправление", 0.97) for _ in images]

    status, body, response = call(gateway(Cyrillic()), PNG, "image/png")
    assert body["text"] == "отправление"
    assert "отправление".encode() in response.body
    status, text, _ = call(gateway(Cyrillic()), PNG, "image/png", headers={"Accept": "text/plain"})
    assert text == "отправление"


def test_root_path_and_trailing_slash() -> None:
    assert call(gateway(), PNG, "image/png", path="/")[0] == 200
    assert call(gateway(), PNG, "image/png", path="/predict/")[0] == 200


def test_custom_paths() -> None:
    gw = gateway(paths=("/getPrediction",))
    assert call(gw, PNG, "image/png", path="/getPrediction")[0] == 200
    assert call(gw, PNG, "image/png", path="/predict")[0] == 404


# -- request ids --------------------------------------------------------------------------------------


def test_request_id_is_echoed_or_generated() -> None:
    _, _, response = call(gateway(), PNG, "image/png", headers={"X-Request-Id": "abc-123"})
    assert response.headers["X-Request-Id"] == "abc-123"
    _, _, response = call(gateway(), PNG, "image/png", headers={"X-Request-Id": "bad id\r\nx"})
    assert response.headers["X-Request-Id"] != "bad id\r\nx" and len(response.headers["X-Request-Id"]) == 32
    _, _, response = call(gateway(), b"", "image/png")
    assert response.headers["X-Request-Id"]  # errors carry one too


# -- client errors --------------------------------------------------------------------------------------


def test_pixel_bomb_is_413() -> None:
    message = assert_error(
        call(gateway(), make_png(4, 4, claim=(100_000, 100_000)), "image/png"), 413, "image_too_many_pixels"
    )
    assert "100,000" in message


def test_pixel_bomb_never_reaches_the_model() -> None:
    predictor = EchoPredictor()
    call(gateway(predictor), make_png(4, 4, claim=(100_000, 100_000)), "image/png")
    assert predictor.calls == []


def test_truncated_png_is_400() -> None:
    assert_error(call(gateway(), PNG[:-12], "image/png"), 400, "truncated_image")


@pytest.mark.parametrize("content_type", ["image/png", "application/octet-stream", None])
def test_non_image_is_400(content_type) -> None:
    assert_error(call(gateway(), b"this is not an image at all", content_type), 400, "not_an_image")


def test_empty_body_is_400() -> None:
    assert_error(call(gateway(), b"", "image/png"), 400, "empty_body")


def test_bad_base64_is_400() -> None:
    assert_error(call(gateway(), {"image": "not base64 at all!!"}), 400, "bad_base64")
    assert_error(call(gateway(), {"image": "QUJD\u00e9"}), 400, "bad_base64")
    assert_error(call(gateway(), {"image": "data:image/png,rawtext"}), 400, "bad_base64")
    assert_error(call(gateway(), "%%%not-base64%%%", "image/png", is_base64=True), 400, "bad_base64")


def test_base64_of_a_non_image_is_400() -> None:
    assert_error(call(gateway(), {"image": base64.b64encode(b"hello").decode()}), 400, "not_an_image")


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"image": "abc"', b"\xff\xfe{}", b"[" * 100_000 + b"]" * 100_000],
)
def test_bad_json_is_400(body: bytes) -> None:
    assert_error(call(gateway(), body, "application/json"), 400, "bad_json")


def test_json_that_is_not_an_object_is_400() -> None:
    assert_error(call(gateway(), b'["a"]', "application/json"), 400, "bad_json")


def test_missing_field_is_400() -> None:
    message = assert_error(call(gateway(), {"picture": B64}), 400, "missing_field")
    assert "image" in message and "url" in message


@pytest.mark.parametrize(
    "body",
    [
        {"image": B64, "url": "https://example.com/a.png"},
        {"image": 12},
        {"image": ""},
        {"images": "abc"},
        {"images": []},
        {"images": [12]},
        {"images": [{"image": B64, "url": "https://x"}]},
        {"image": B64, "char_probs": "yes"},
    ],
)
def test_invalid_fields_are_400(body: dict) -> None:
    assert_error(call(gateway(), body), 400, "invalid_field")


def test_batch_item_errors_name_the_item() -> None:
    message = assert_error(call(gateway(), {"images": [B64, "####"]}), 400, "bad_base64")
    assert "images[1]" in message


def test_batch_over_the_limit_is_413() -> None:
    assert_error(
        call(gateway(limits=LOCAL.with_(max_batch=2)), {"images": [B64] * 3}), 413, "batch_too_large"
    )


def test_gif_is_415() -> None:
    assert_error(call(gateway(), make_gif(), "image/png"), 415, "unsupported_image_format")
    assert_error(call(gateway(), make_gif(), None), 415, "unsupported_image_format")
    assert_error(
        call(gateway(), {"image": base64.b64encode(make_gif()).decode()}), 415, "unsupported_image_format"
    )


def test_declared_gif_is_415() -> None:
    assert_error(call(gateway(), PNG, "image/gif"), 415, "unsupported_image_format")


@pytest.mark.parametrize("content_type", ["text/html", "text/plain", "application/xml", "video/mp4"])
def test_unsupported_content_types_are_415(content_type: str) -> None:
    assert_error(call(gateway(), PNG, content_type), 415, "unsupported_media_type")


def form(*parts: tuple[str, str | None, bytes], boundary: str = "----ocrkit1234") -> tuple[bytes, str]:
    """A multipart/form-data body as browsers and curl send it: parts are (name, filename, data)."""
    out = b""
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        kind = "Content-Type: image/png\r\n" if filename else ""
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n{kind}\r\n".encode() + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def test_multipart_form_uploads_are_read() -> None:
    body, ctype = form(("image", "crop.png", make_png(45, 13)))
    status, doc, _ = call(gateway(), body, ctype)
    assert (status, doc["text"]) == (200, "png 45x13")
    body, ctype = form(
        ("note", None, b"ignored"),
        ("image", "a.png", make_png(10, 5)),
        ("image", "b.png", make_png(20, 5)),
        ("char_probs", None, b"false"),
    )
    status, doc, _ = call(gateway(), body, ctype)
    assert status == 200 and [r["text"] for r in doc["results"]] == ["png 10x5", "png 20x5"]


@pytest.mark.parametrize(
    ("body", "ctype", "status", "code"),
    [
        (*form(("note", None, b"x")), 400, "missing_field"),
        (b"no parts at all", "multipart/form-data; boundary=zzz", 400, "bad_request"),
        (b"--x\r\n", "multipart/form-data", 400, "bad_request"),
        (*form(("image", "x.png", b"not an image")), 400, "not_an_image"),
        (*form(*[("image", "x.png", PNG)] * 17), 413, "batch_too_large"),
    ],
)
def test_bad_multipart_forms_are_4xx(body: bytes, ctype: str, status: int, code: str) -> None:
    assert_error(call(gateway(), body, ctype), status, code)


def test_compressed_body_is_415() -> None:
    assert_error(
        call(gateway(), PNG, "image/png", headers={"Content-Encoding": "gzip"}), 415, "unsupported_media_type"
    )


def test_oversize_body_is_413() -> None:
    gw = gateway(limits=LOCAL.with_(max_request_bytes=1000))
    assert_error(call(gw, make_png(40, 40, noisy=True), "image/png"), 413, "request_too_large")
    big_b64 = base64.b64encode(make_png(40, 40, noisy=True)).decode()
    assert_error(call(gw, big_b64, "image/png", is_base64=True), 413, "request_too_large")


def test_oversize_image_is_413() -> None:
    gw = gateway(limits=LOCAL.with_(max_image_bytes=300))
    big = make_png(40, 40, noisy=True)
    assert len(big) > 300
    assert_error(call(gw, big, "image/png"), 413, "image_too_large")
    assert_error(call(gw, {"image": base64.b64encode(big).decode()}), 413, "image_too_large")


def test_refused_urls_are_422() -> None:
    strict = gateway(limits=Limits())
    for url in (
        "http://example.com/a.png",
        "https://127.0.0.1/a.png",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.1.1.1/a.png",
        "https://[::1]/a.png",
    ):
        assert_error(call(strict, {"url": url}), 422, "url_refused")


def test_url_fetch_failure_is_422(image_host) -> None:
    assert_error(call(gateway(), {"url": image_host.url("/missing.png")}), 422, "url_fetch_failed")


def test_url_input_can_be_switched_off(image_host) -> None:
    gw = gateway(limits=LOCAL.with_(url_input=False))
    assert_error(call(gw, {"url": image_host.url("/line.png")}), 422, "url_refused")


def test_fetched_non_image_is_400(image_host) -> None:
    image_host.routes["/page.html"] = (200, {"Content-Type": "text/html"}, b"<html>hi</html>")
    message = assert_error(call(gateway(), {"url": image_host.url("/page.html")}), 400, "not_an_image")
    assert "fetched from 'url'" in message


def test_unknown_path_is_404() -> None:
    assert_error(call(gateway(), PNG, "image/png", path="/nope"), 404, "not_found")


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_wrong_method_is_405(method: str) -> None:
    result = call(gateway(), b"", None, method=method)
    assert_error(result, 405, "method_not_allowed")
    assert result[2].headers["Allow"] == "POST"


# -- backend failures ----------------------------------------------------------------------------------


def test_backend_failure_is_502_without_internals() -> None:
    result = call(
        gateway(FailingPredictor(RuntimeError("CUDA out of memory at /secret/path"))), PNG, "image/png"
    )
    message = assert_error(result, 502, "backend_failed")
    assert "secret" not in message and "CUDA" not in message


def test_backend_timeout_is_504() -> None:
    predictor = BlockingPredictor()
    try:
        gw = gateway(predictor, limits=LOCAL.with_(backend_timeout_s=0.2))
        assert_error(call(gw, PNG, "image/png"), 504, "backend_timeout")
    finally:
        predictor.release.set()


def test_model_decode_failure_is_400() -> None:
    assert_error(call(gateway(UndecodablePredictor()), PNG, "image/png"), 400, "undecodable_image")


def test_wrong_prediction_count_is_502() -> None:
    assert_error(call(gateway(WrongCountPredictor()), PNG, "image/png"), 502, "backend_failed")


class _Backend:
    name = "remote"

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def predict(self, images, *, timeout_s):
        raise self.exc


def test_backend_errors_map_to_their_statuses() -> None:
    assert_error(
        call(Gateway(_Backend(BackendError("endpoint said 500")), LOCAL), PNG, "image/png"),
        502,
        "backend_failed",
    )
    result = call(Gateway(_Backend(BackendUnavailable("loading")), LOCAL), PNG, "image/png")
    assert_error(result, 503, "model_not_ready")
    assert result[2].headers["Retry-After"]


def test_unexpected_exception_is_a_generic_500(caplog) -> None:
    result = call(Gateway(_Backend(KeyError("internal detail")), LOCAL), PNG, "image/png")
    message = assert_error(result, 500, "internal_error")
    assert "internal detail" not in message and "KeyError" not in message
    assert result[2].headers["X-Request-Id"] in message
    assert any("unexpected error" in r.message for r in caplog.records)


def test_model_name_comes_from_the_backend() -> None:
    class Named:
        name = "cyrillic-resnet50"

        def predict(self, images, *, timeout_s):
            return [Prediction("a", 1.0) for _ in images]

    assert call(Gateway(Named(), LOCAL), PNG, "image/png")[1]["model"] == "cyrillic-resnet50"


def test_errors_stay_json_when_text_is_accepted() -> None:
    result = call(gateway(), b"nope", "image/png", headers={"Accept": "text/plain"})
    assert_error(result, 400, "not_an_image")


def test_slow_url_fetch_comes_out_of_the_backend_budget(image_host) -> None:
    from tests.gateway.imagehost import slow_route

    image_host.routes["/slow.png"] = slow_route(0.4)
    predictor = EchoPredictor()
    gw = gateway(predictor, limits=LOCAL.with_(backend_timeout_s=0.3, url_timeout_s=5))
    assert_error(call(gw, {"url": image_host.url("/slow.png")}), 504, "backend_timeout")
    assert predictor.calls == []


def test_a_json_integer_of_5000_digits_is_400_not_500() -> None:
    """Python refuses to turn more than 4300 digits into an int (a ValueError, not a JSONDecodeError)."""
    body = '{"image": "x", "char_probs": ' + "9" * 5000 + "}"
    status, doc, _ = call(gateway(), body, "application/json")
    assert (status, doc["error"]["code"]) == (400, "bad_json")


def test_the_pixels_of_one_request_are_bounded_not_only_each_image() -> None:
    """16 images of 3000 x 1000 pass one by one (3 MP each) but hold 48 MP together."""
    big = base64.b64encode(make_png(4, 4, claim=(3000, 1000))).decode()
    status, doc, _ = call(gateway(), json.dumps({"images": [big] * 16}), "application/json")
    assert (status, doc["error"]["code"]) == (413, "request_too_many_pixels")
    assert "48,000,000 pixels" in doc["error"]["message"]
    status, _, _ = call(gateway(), json.dumps({"images": [big] * 13}), "application/json")
    assert status != 413  # 39 MP: under the limit (the fake model answers)
    small = Limits(max_request_pixels=5_000_000)
    status, doc, _ = call(gateway(limits=small), json.dumps({"images": [big] * 2}), "application/json")
    assert (status, doc["error"]["code"]) == (413, "request_too_many_pixels")
