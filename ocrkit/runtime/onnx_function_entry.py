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

import logging
import os
import threading

from ocrkit.errors import OcrkitError
from ocrkit.gateway.cached import GatewayCache
from ocrkit.gateway.events import request_from_flask
from ocrkit.gateway.handler import Gateway
from ocrkit.runtime.function_response import internal_error
from ocrkit.runtime.onnx_backend import THREADS_ENV, onnx_backend

log = logging.getLogger("ocrkit.gateway")
logging.getLogger().setLevel(os.environ.get("OCRKIT_LOG_LEVEL", "INFO"))
__all__ = ["THREADS_ENV", "build_gateway", "get_gateway", "predict", "reset"]

_cache = GatewayCache(onnx_backend)
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
        return internal_error("the service could not load its model; see the function's log")
    response = gateway.handle(request_from_flask(request, max_body_bytes=gateway.limits.max_request_bytes))
    return response.body, response.status, dict(response.headers)
