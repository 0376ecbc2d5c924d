"""`GET /openapi.json` describes the real server: its paths are the route table, every error code is
listed with its status, the document is valid OpenAPI 3.1, and what it documents is what answers."""

from __future__ import annotations

import json
import subprocess

import pytest

from ocrkit.gateway.errors import Code
from ocrkit.server.openapi import error_codes
from ocrkit.server.production import OWN_ROUTES, ServeOptions, build_app
from tests.gateway.fakes import EchoPredictor
from tests.gateway.imagegen import make_png
from tests.loadtest.servers import get, running_server
from tests.server.conftest import http_call

PNG = make_png(40, 10)


def spec_of(environ: dict) -> tuple[dict, object]:
    app = build_app(ServeOptions(), predictor=EchoPredictor(), environ=environ, wait=True)
    status = {}

    def start_response(line, headers, exc_info=None):
        status["line"] = line

    body = b"".join(app({"REQUEST_METHOD": "GET", "PATH_INFO": "/openapi.json"}, start_response))
    assert status["line"].startswith("200")
    return json.loads(body), app


@pytest.mark.parametrize("environ", [{}, {"AIP_PREDICT_ROUTE": "/predict", "AIP_HEALTH_ROUTE": "/ping"}])
def test_the_document_is_valid_and_lists_exactly_the_routes(environ: dict) -> None:
    validator = pytest.importorskip("openapi_spec_validator")
    spec, app = spec_of(environ)
    validator.validate(spec)
    routes = {**app.app.routes, **OWN_ROUTES}
    documented = {(path, method.upper()) for path, ops in spec["paths"].items() for method in ops}
    served = {(path, method) for path, methods in routes.items() for method in methods}
    assert documented == served


def test_every_error_code_is_documented_with_one_status() -> None:
    spec, _ = spec_of({})
    listed = [code for codes in error_codes().values() for code in codes]
    assert sorted(listed) == sorted(str(c) for c in Code)  # each code once
    enum = spec["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
    assert set(enum) == {str(c) for c in Code}
    predict = spec["paths"]["/predict"]["post"]
    assert {"200", "400", "413", "415", "503"} <= set(predict["responses"])
    assert "multipart/form-data" in predict["requestBody"]["content"]
    assert "Retry-After" in predict["responses"]["503"]["headers"]


def test_what_is_documented_answers(serve) -> None:
    spec, app = spec_of({})
    server = serve(app)
    for path, ops in spec["paths"].items():
        concrete = path.replace("{name}", "app.js")
        for method, op in ops.items():
            reply = http_call(server, method.upper(), concrete, b"" if method == "post" else None)
            assert str(reply.status) in op["responses"], (path, method, reply.status)


@pytest.mark.slow
def test_curl_form_upload_against_a_real_server(tmp_path) -> None:
    image = tmp_path / "crop.png"
    image.write_bytes(PNG)
    with running_server(["--predictor", "tests.loadtest.fakes:echo"], tmp_path=tmp_path) as served:
        done = subprocess.run(
            ["curl", "-sS", "-F", f"image=@{image}", f"{served.url}/predict"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["text"] == "png 40x10"  # before: 415
        status, _, body = get(served.url, "/openapi.json")
        assert status == 200 and json.loads(body)["openapi"].startswith("3.1")
