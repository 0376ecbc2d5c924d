"""The model backends the Cloud Function entries build from their environment, in one place: the HTTP
function in front of a Vertex AI endpoint (ocrkit.runtime.function_entry), the HTTP function that holds
the ONNX model (ocrkit.runtime.onnx_function_entry) and the bucket-triggered function
(ocrkit.runtime.gcs_trigger_entry), which runs either one.

Imports are inside the functions: a source that runs the Vertex backend never loads ONNX Runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from ocrkit.gateway.backend import Backend

THREADS_ENV = "OCRKIT_ONNX_THREADS"


def vertex_backend(env: Mapping[str, str]) -> Backend:
    """The Vertex AI endpoint named by `OCRKIT_VERTEX_ENDPOINT_NAME` (the endpoint serving options)."""
    from ocrkit.runtime.vertex_backend import from_environment

    return from_environment(dict(env))


def onnx_backend(env: Mapping[str, str]) -> Backend:
    """The ONNX engine in this process, its export read once from `OCRKIT_MODEL_URI` (serving: function)."""
    from ocrkit.engine.onnx_runtime import OnnxPredictor
    from ocrkit.gateway.backend import InProcessBackend
    from ocrkit.runtime.model_object import fetch_model

    threads = int(env.get(THREADS_ENV) or 0) or None
    return InProcessBackend(OnnxPredictor(fetch_model(env), threads=threads), name="ocrkit")


def internal_error(message: str) -> tuple[bytes, int, dict[str, str]]:
    """The 500 an HTTP entry answers when it cannot start (the details go to the function's log)."""
    body = {"error": {"code": "internal_error", "message": message}}
    return json.dumps(body).encode(), 500, {"Content-Type": "application/json; charset=utf-8"}
