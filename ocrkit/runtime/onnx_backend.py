"""The ONNX engine as a gateway backend inside a Cloud Function (`serving: function`): the export read once
from `OCRKIT_MODEL_URI` (ocrkit.runtime.model_object), loaded into ONNX Runtime in this process. Shared by
the HTTP function that holds the model (ocrkit.runtime.onnx_function_entry) and the bucket trigger
(ocrkit.runtime.gcs_trigger_entry)."""

from __future__ import annotations

from collections.abc import Mapping

from ocrkit.gateway.backend import Backend

THREADS_ENV = "OCRKIT_ONNX_THREADS"


def onnx_backend(env: Mapping[str, str]) -> Backend:
    from ocrkit.engine.onnx_runtime import OnnxPredictor
    from ocrkit.gateway.backend import InProcessBackend
    from ocrkit.runtime.model_object import fetch_model

    threads = int(env.get(THREADS_ENV) or 0) or None
    return InProcessBackend(OnnxPredictor(fetch_model(env), threads=threads), name="ocrkit")
