"""The model function (`--serving function`): `handler(event, context)` runs the gateway with the ONNX
engine in this process -- no SageMaker endpoint behind it.

Handler string: `ocrkit.runtime.function_model_entry.handler`. The zip holds this module, the gateway,
the ONNX engine and the manylinux wheels of onnxruntime, numpy and Pillow (see
ocrkit.providers.aws.function_package); the exported model is read from the private bucket once per
execution environment (ocrkit.runtime.model_source). Request parsing, limits, answers and errors are the
gateway's, exactly as behind `lambda_entry` (which calls an endpoint instead).

Inside Lambda (`AWS_LAMBDA_FUNCTION_NAME` set) the model loads while the module is imported, in the
function's init phase, so that provisioned-concurrency environments are ready before their first request;
elsewhere it loads on the first request.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from ocrkit.errors import OcrkitError
from ocrkit.gateway.backend import Backend, InProcessBackend
from ocrkit.gateway.cached import GatewayCache
from ocrkit.runtime.lambda_entry import apigw_handler

log = logging.getLogger("ocrkit.gateway")
logging.getLogger().setLevel(os.environ.get("OCRKIT_LOG_LEVEL", "INFO"))


def _backend_from_env(env: Mapping[str, str]) -> Backend:
    from ocrkit.engine.onnx_runtime import OnnxPredictor
    from ocrkit.runtime.model_source import model_dir, threads

    predictor = OnnxPredictor(model_dir(env), threads=threads(env))
    return InProcessBackend(predictor, name="ocrkit", max_concurrency=1)


_cache = GatewayCache(_backend_from_env)
build_gateway = _cache.build
get_gateway = _cache.get
reset = _cache.reset


handler = apigw_handler(get_gateway)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # pragma: no cover - inside Lambda only
    try:
        get_gateway()
    except OcrkitError as exc:  # answered by handler() with a 500 that points at this log line
        log.error("the model did not load at init: %s", exc)
