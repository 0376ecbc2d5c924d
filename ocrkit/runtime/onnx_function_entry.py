"""The Cloud Function (2nd gen, HTTP) that holds the model: `predict(request)` runs the gateway with the
ONNX engine in this process -- no Vertex AI, no second hop (`serving: function`).

functions-framework target `predict` in `main.py`, which only re-exports this function. On the first
request of an instance the exported model is read once (`ocrkit.runtime.model_object`: the one zip object
in the private bucket that the function's service account may read) and loaded into ONNX Runtime; later
requests reuse it. The gateway (parsing, limits, errors, the JSON contract) is ocrkit.gateway's, with
limits from the environment that `ocrkit deploy` sets (`OCRKIT_MAX_IMAGE_BYTES`, ...). No torch: the
source's requirements.txt holds the ONNX extra's packages and functions-framework, nothing else.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Mapping

from ocrkit.errors import OcrkitError
from ocrkit.gateway.backend import Backend, InProcessBackend
from ocrkit.gateway.cached import GatewayCache
from ocrkit.gateway.events import request_from_flask
from ocrkit.gateway.handler import Gateway

log = logging.getLogger("ocrkit.gateway")
logging.getLogger().setLevel(os.environ.get("OCRKIT_LOG_LEVEL", "INFO"))
THREADS_ENV = "OCRKIT_ONNX_THREADS"


def _backend_from_env(env: Mapping[str, str]) -> Backend:
    from ocrkit.engine.onnx_runtime import OnnxPredictor
    from ocrkit.runtime.model_object import fetch_model

    threads = int(env.get(THREADS_ENV) or 0) or None
    predictor = OnnxPredictor(fetch_model(env), threads=threads)
    return InProcessBackend(predictor, name="ocrkit")


_cache = GatewayCache(_backend_from_env)
_loading = threading.Lock()  # functions-framework serves with threads: the model is loaded once
build_gateway = _cache.build
reset = _cache.reset


def get_gateway() -> Gateway:
    with _loading:
        return _cache.get()


def predict(request: object) -> tuple[bytes, int, dict[str, str]]:
    try:
        gateway = get_gateway()
    except OcrkitError as exc:
        log.error("the function cannot load its model: %s", exc)
        body = {
            "error": {
                "code": "internal_error",
                "message": "the service could not load its model; see the function's log",
            }
        }
        return json.dumps(body).encode(), 500, {"Content-Type": "application/json; charset=utf-8"}
    response = gateway.handle(request_from_flask(request, max_body_bytes=gateway.limits.max_request_bytes))
    return response.body, response.status, dict(response.headers)
