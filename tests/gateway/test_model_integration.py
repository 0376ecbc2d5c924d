"""The gateway in front of the real model (random weights): every input form reaches TorchPredictor and
its answers come back in the contract's shape."""

from __future__ import annotations

import base64
import json
import struct

import pytest

from ocrkit.gateway import Gateway, HttpRequest, InProcessBackend, Limits
from tests.gateway.imagegen import make_png, pil_image
from tests.gateway.realmodel import small_predictor

pytestmark = pytest.mark.model

LOCAL = Limits(url_allow_http=True, url_allowed_networks=("127.0.0.0/8",), backend_timeout_s=120)


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    return Gateway(InProcessBackend(small_predictor(), name="random-resnet18"), LOCAL)


def post(gw: Gateway, body, content_type: str, **headers):
    response = gw.handle(HttpRequest("POST", "/predict", {"Content-Type": content_type, **headers}, body))
    return response.status, response


def check_answer(response) -> dict:
    body = json.loads(response.body)
    assert isinstance(body["text"], str)
    assert 0.0 <= body["confidence"] <= 1.0
    assert body["model"] == "random-resnet18"
    return body


def test_raw_png(gateway) -> None:
    status, response = post(gateway, make_png(120, 40), "image/png")
    assert status == 200, response.body
    check_answer(response)


@pytest.mark.parametrize(("fmt", "content_type"), [("JPEG", "image/jpeg")])
def test_other_formats(gateway, fmt: str, content_type: str) -> None:
    pytest.importorskip("PIL")
    status, response = post(gateway, pil_image(fmt, 120, 40), content_type)
    assert status == 200, response.body
    check_answer(response)


def test_same_image_same_answer_in_every_form(gateway, image_host) -> None:
    png = make_png(120, 40)
    image_host.routes["/word.png"] = (200, {"Content-Type": "image/png"}, png)
    b64 = base64.b64encode(png).decode()
    answers = [
        post(gateway, png, "image/png")[1],
        gateway.handle(HttpRequest("POST", "/predict", {"Content-Type": "image/png"}, b64, True)),
        post(gateway, json.dumps({"image": b64}), "application/json")[1],
        post(gateway, json.dumps({"image": f"data:image/png;base64,{b64}"}), "application/json")[1],
        post(gateway, json.dumps({"url": image_host.url("/word.png")}), "application/json")[1],
    ]
    texts = {check_answer(r)["text"] for r in answers}
    assert len(texts) == 1


def test_batch_and_text_plain(gateway) -> None:
    b64 = [base64.b64encode(make_png(100 + i * 20, 40)).decode() for i in range(3)]
    status, response = post(gateway, json.dumps({"images": b64}), "application/json")
    assert status == 200
    results = json.loads(response.body)["results"]
    assert len(results) == 3
    status, response = post(gateway, json.dumps({"images": b64}), "application/json", Accept="text/plain")
    assert response.body.decode("utf-8") == "\n".join(r["text"] for r in results)


def test_corrupt_image_data_is_400_from_the_decoder(gateway) -> None:
    png = bytearray(make_png(120, 40))
    at = png.find(b"IDAT")
    (length,) = struct.unpack(">I", png[at - 4 : at])
    png[at + 4 : at + 4 + length] = b"\x55" * length  # headers intact, pixel data garbage
    status, response = post(gateway, bytes(png), "image/png")
    assert status == 400, response.body
    assert json.loads(response.body)["error"]["code"] == "undecodable_image"
