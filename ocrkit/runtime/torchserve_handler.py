"""The TorchServe handler that the Vertex AI prebuilt PyTorch prediction container runs (`model.mar`).

TorchServe loads it as a module-level handler: `handle(data, context)` (called once with `data=None` when
the model loads) and `initialize(context)`. The archive's root (`context.system_properties["model_dir"]`)
holds this file, the checkpoint (`model.pt`, the manifest's `serializedFile`) and the ocrkit modules it
imports, bundled by `ocrkit deploy`: the container has torch and torchvision but not ocrkit.

Requests: Vertex forwards `{"instances": [{"b64": "..."}, ...], "parameters": {...}}`. With TorchServe's
JSON service envelope (the Vertex containers set `service_envelope=json`) each instance arrives as its own
request row, `{"body": {"b64": "..."}}`, and the envelope wraps the answers in `{"predictions": [...]}`;
without it a row holds the whole document and this handler answers `{"predictions": [...]}` itself. Both
forms work. Instances may be `{"b64": ...}`, `{"image": {"b64": ...}}`, `{"image": "<base64>"}` or a bare
base64 string, as on the ocrkit model server's Vertex route.

A row whose image cannot be read answers `{"error": {"code", "message"}}` in its place (the gateway's
Vertex backend turns it into the same 4xx as everywhere else); the other rows are still answered.
Decoding is the fast batched greedy decoder of `ocrkit.core_model` (`TorchPredictor`).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

log = logging.getLogger("ocrkit.torchserve")

_state: dict[str, Any] = {}


def _properties(context: Any) -> dict:
    return dict(getattr(context, "system_properties", None) or {})


def _manifest(context: Any) -> dict:
    return dict(getattr(context, "manifest", None) or {})


def initialize(context: Any) -> None:
    """Load the checkpoint named by the manifest from the model directory, on the GPU when there is one."""
    properties = _properties(context)
    model_dir = str(properties.get("model_dir") or os.getcwd())
    if model_dir not in sys.path:
        sys.path.insert(0, model_dir)  # the bundled ocrkit modules
    from ocrkit.engine import engine_from_env, load_predictor
    from ocrkit.gateway.limits import Limits

    serialized = (_manifest(context).get("model") or {}).get("serializedFile") or "model.pt"
    device = os.environ.get("OCRKIT_DEVICE") or None
    gpu = properties.get("gpu_id")
    if device is None and gpu is not None:
        import torch

        device = f"cuda:{gpu}" if torch.cuda.is_available() else "cpu"
    _state["predictor"] = load_predictor(
        engine_from_env(),
        os.path.join(model_dir, serialized),
        device=device,
        quantize=os.environ.get("OCRKIT_QUANTIZE") or "none",
        batch_size=int(os.environ.get("OCRKIT_BATCH_SIZE") or 32),
    )
    _state["limits"] = Limits.from_env()
    log.info("ocrkit model loaded from %s on %s", serialized, device or "the default device")


def _body(row: Any) -> Any:
    value = row.get("body", row.get("data")) if isinstance(row, dict) else row
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8")
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _error(exc: BaseException) -> dict:
    from ocrkit.gateway.errors import Code, GatewayError
    from ocrkit.prediction import ImageDecodeError

    if isinstance(exc, GatewayError):
        return {"error": {"code": str(exc.code), "message": exc.message}}
    if isinstance(exc, ImageDecodeError):
        return {
            "error": {
                "code": str(Code.UNDECODABLE_IMAGE),
                "message": f"the image could not be decoded: {exc}",
            }
        }
    log.exception("prediction failed", exc_info=exc)
    return {"error": {"code": str(Code.BACKEND_FAILED), "message": "the model failed on this request"}}


def _predict_one(instance: Any, char_probs: bool) -> dict:
    from ocrkit.gateway.inputs import read_item

    try:
        image = read_item(instance, "instance", _state["limits"], None)
        prediction = _state["predictor"].predict_images([image.data])[0]
        return prediction.to_json(with_char_probs=char_probs)
    except Exception as exc:  # one bad instance answers an error in its place
        return _error(exc)


def _answer(doc: Any) -> Any:
    if isinstance(doc, dict) and "instances" in doc:
        instances = doc["instances"] if isinstance(doc["instances"], list) else [doc["instances"]]
        parameters = doc.get("parameters") if isinstance(doc.get("parameters"), dict) else {}
        char_probs = parameters.get("char_probs") is True
        return {"predictions": [_predict_one(i, char_probs) for i in instances]}
    return _predict_one(doc, False)


def handle(data: Any, context: Any) -> list | None:
    """TorchServe's entry point: one answer per request row, in order."""
    if "predictor" not in _state:
        initialize(context)
    if data is None:
        return None
    return [_answer(_body(row)) for row in data]
