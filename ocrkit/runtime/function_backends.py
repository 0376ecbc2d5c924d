"""What the Cloud Function entries share: the Vertex AI backend built from the environment (the HTTP
gateway in front of an endpoint, ocrkit.runtime.function_entry, and the bucket trigger with an endpoint
option, ocrkit.runtime.gcs_trigger_entry) and the 500 an HTTP entry answers when it cannot start.

The ONNX engine's backend is ocrkit.runtime.onnx_backend, a module of its own: a function source is
bundled from the modules its entry imports, and the gateway's must not carry the ONNX engine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ocrkit.gateway.backend import Backend


def vertex_backend(env: Mapping[str, str]) -> Backend:
    """The Vertex AI endpoint named by `OCRKIT_VERTEX_ENDPOINT_NAME` (the endpoint serving options)."""
    from ocrkit.runtime.vertex_backend import from_environment

    return from_environment(dict(env))


def internal_error(message: str) -> tuple[bytes, int, dict[str, str]]:
    """The 500 an HTTP entry answers when it cannot start (the details go to the function's log)."""
    body = {"error": {"code": "internal_error", "message": message}}
    return json.dumps(body).encode(), 500, {"Content-Type": "application/json; charset=utf-8"}
