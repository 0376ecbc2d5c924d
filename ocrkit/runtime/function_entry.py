"""The Cloud Function (2nd gen, HTTP): `predict(request)` runs the gateway with a Vertex AI backend.

functions-framework target `predict` in `main.py`, which only re-exports this function. The source zip
holds `main.py`, this module and what it imports (the gateway and the Vertex backend): standard library
only, torch-free. Settings come from the environment that `ocrkit deploy` sets from the tightest hop (see
ocrkit.providers.gcp.spec): `OCRKIT_VERTEX_ENDPOINT_NAME`, `OCRKIT_MAX_REQUEST_BYTES`,
`OCRKIT_MAX_IMAGE_BYTES`, `OCRKIT_BACKEND_TIMEOUT_S`, ...; `OCRKIT_GCP_VERTEX_ENDPOINT` points the backend
at another Vertex REST base URL.

Answers are Flask-style `(body, status, headers)` tuples, so nothing here imports Flask.
"""

from __future__ import annotations

import logging
import os

from ocrkit.errors import OcrkitError
from ocrkit.gateway.cached import GatewayCache
from ocrkit.gateway.events import request_from_flask
from ocrkit.runtime.function_response import internal_error
from ocrkit.runtime.vertex_backend import from_environment

log = logging.getLogger("ocrkit.gateway")
logging.getLogger().setLevel(os.environ.get("OCRKIT_LOG_LEVEL", "INFO"))


_cache = GatewayCache(lambda env: from_environment(dict(env)))
build_gateway = _cache.build
get_gateway = _cache.get
reset = _cache.reset


def predict(request: object) -> tuple[bytes, int, dict[str, str]]:
    try:
        gateway = get_gateway()
    except OcrkitError as exc:
        log.error("the function is misconfigured: %s", exc)
        return internal_error("the service is misconfigured; see the function's log")
    response = gateway.handle(request_from_flask(request, max_body_bytes=gateway.limits.max_request_bytes))
    return response.body, response.status, dict(response.headers)
