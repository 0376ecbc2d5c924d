"""The model server over HTTP with the real TorchPredictor (random weights): every contract answers."""

from __future__ import annotations

import base64

import pytest

from ocrkit.gateway.limits import Limits
from ocrkit.server import create_app
from tests.gateway.imagegen import make_png
from tests.gateway.realmodel import small_predictor
from tests.server.conftest import http_call

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def predictor():
    return small_predictor(seed=1)


def test_all_contracts_agree(serve, predictor) -> None:
    server = serve(create_app(predictor, Limits(backend_timeout_s=120), environ={}, model_name="random"))
    png = make_png(120, 40)
    b64 = base64.b64encode(png).decode()
    assert http_call(server, "GET", "/ping").status == 200
    sagemaker = http_call(server, "POST", "/invocations", png, "image/png")
    gateway = http_call(server, "POST", "/predict", png, "image/png")
    vertex = http_call(server, "POST", "/v1/models/ocrkit:predict", {"instances": [{"b64": b64}]})
    assert sagemaker.status == gateway.status == vertex.status == 200
    text = sagemaker.json()["text"]
    assert gateway.json()["text"] == text and gateway.json()["model"] == "random"
    assert vertex.json()["predictions"][0]["text"] == text
    plain = http_call(server, "POST", "/invocations", png, "image/png", {"Accept": "text/plain"})
    assert plain.text == text


def test_corrupt_pixels_are_a_400(serve, predictor) -> None:
    server = serve(create_app(predictor, Limits(backend_timeout_s=120), environ={}))
    png = bytearray(make_png(120, 40))
    at = png.find(b"IDAT")
    png[at + 4 : at + 40] = b"\x00" * 36
    reply = http_call(server, "POST", "/invocations", bytes(png), "image/png")
    assert (reply.status, reply.error_code) == (400, "undecodable_image")
