"""The Lambda behind API Gateway: `handler(event, context)` runs the gateway with a SageMaker backend.

Handler string: `ocrkit.runtime.lambda_entry.handler`. The zip holds this module, the gateway and
the SageMaker backend: standard library only, plus the boto3 that the Python runtime provides. Settings come
from the environment that `ocrkit deploy` sets from the tightest hop (see ocrkit.providers.aws.spec):
`OCRKIT_ENDPOINT_NAME`, `OCRKIT_MAX_REQUEST_BYTES`, `OCRKIT_MAX_IMAGE_BYTES`, `OCRKIT_BACKEND_TIMEOUT_S`, ...

The gateway is built once per execution environment (on the first request) and reused while the
environment stays warm.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

from ocrkit.errors import OcrkitError
from ocrkit.gateway.backend import Backend
from ocrkit.gateway.cached import GatewayCache
from ocrkit.gateway.events import request_from_apigw, response_to_apigw

log = logging.getLogger("ocrkit.gateway")
logging.getLogger().setLevel(os.environ.get("OCRKIT_LOG_LEVEL", "INFO"))


def _backend_from_env(env: Mapping[str, str]) -> Backend:
    from ocrkit.runtime.sagemaker_backend import from_environment

    return from_environment(env)


_cache = GatewayCache(_backend_from_env)
build_gateway = _cache.build
get_gateway = _cache.get
reset = _cache.reset


def apigw_handler(get: Callable[[], Any]) -> Callable[..., dict]:
    """A Lambda handler for API Gateway v2 events around `get` (the cached gateway): one shape for every
    function entry, whatever backend its gateway has; a gateway that cannot be built answers 500."""

    def handler(event: dict, context: object = None) -> dict:
        try:
            gateway = get()
        except OcrkitError as exc:
            log.error("the function is misconfigured: %s", exc)
            return _misconfigured()
        return response_to_apigw(gateway.handle(request_from_apigw(event or {})))

    return handler


handler = apigw_handler(get_gateway)


def _misconfigured() -> dict:
    body = {
        "error": {"code": "internal_error", "message": "the service is misconfigured; see the function's log"}
    }
    return {
        "statusCode": 500,
        "headers": {"Content-Type": "application/json; charset=utf-8"},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
