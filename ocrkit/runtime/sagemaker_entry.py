"""The SageMaker PyTorch container's handler functions (shipped as `code/inference.py` in model.tar.gz).

- `model_fn(model_dir)` loads `model.pt` (or `model/model.pt`, the report's layout) into a
  predictor on the engine `$OCRKIT_ENGINE` names (torch by default);
  the engine's runtime is imported here, lazily, so this module imports without it;
- `input_fn(body, content_type)` takes `image/png`, `image/jpeg`, `image/webp`, `image/tiff`,
  `application/x-image`, `application/octet-stream` or `application/json` (`{"image": "<base64>"}` or
  `{"images": [...]}`), with the gateway's checks (magic bytes, pixel and byte limits, truncation);
- `predict_fn(data, model)` runs the predictor on every image of the request at once: the gateway sends
  up to `limits.max_batch` images in one `{"images": [...]}` invocation, and they go through the model as
  one batch (`OCRKIT_BATCH_SIZE` images per forward pass). TorchServe's own cross-request batching is not
  used here: the inference toolkit's `Transformer.transform` runs input_fn/predict_fn once per request
  row (and reads the headers of the first row only), so `SAGEMAKER_TS_BATCH_SIZE` stays at 1;
- `output_fn(prediction, accept)` answers JSON `{"text", "confidence"}` by default and the bare text for
  `text/plain`.

Refusals are raised as the inference toolkit's `BaseInferenceToolkitError` with the right status (400,
413, 415, ...) and the JSON error body as the message, so the client gets a 4xx instead of the toolkit's
default 500. Note that the toolkit appends its own stack trace to error bodies; the gateway in front of
the endpoint answers clients with its own messages.

`model_fn` first sets OpenCV's own pixel caps from the gateway limits (`ocrkit.server.decoder`), before
OpenCV is imported, so the decoder itself refuses an image larger than the limits even if a header
check were fooled.

Settings from the environment: `OCRKIT_DEVICE` (cuda, cpu; default: cuda when present),
`OCRKIT_QUANTIZE` (none or int8), `OCRKIT_BATCH_SIZE` (32), and the gateway limits
(`OCRKIT_MAX_IMAGE_BYTES`, ...; see ocrkit.gateway.limits).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

from ocrkit.errors import OcrkitError
from ocrkit.gateway.errors import Code, GatewayError
from ocrkit.gateway.inputs import ParsedInput
from ocrkit.gateway.limits import Limits
from ocrkit.prediction import ImageDecodeError, Prediction, Predictor
from ocrkit.server.decoder import cap_decoder
from ocrkit.server.sagemaker import parse_invocation, render_invocation

WEIGHT_CANDIDATES = ("model.pt", "model/model.pt", "model.pth")
DEFAULT_ACCEPT = "application/json"


@dataclass(frozen=True)
class InvocationResult:
    """predict_fn's result: one prediction per image, and how the client asked for them."""

    predictions: list[Prediction]
    parsed: ParsedInput


def find_weights(model_dir: str | os.PathLike) -> Path:
    root = Path(model_dir)
    for name in WEIGHT_CANDIDATES:
        candidate = root / name
        if candidate.is_file():
            return candidate
    raise OcrkitError(
        f"no model weights in {root}: expected one of {', '.join(WEIGHT_CANDIDATES)}",
        hint="package the checkpoint as model.pt at the top of model.tar.gz",
    )


def model_fn(model_dir: str) -> Predictor:
    cap_decoder(Limits.from_env())  # before OpenCV loads with the model: it reads its caps once
    from ocrkit.engine import engine_from_env, load_predictor  # the engine's runtime is imported only here

    weights = find_weights(model_dir)
    return load_predictor(
        engine_from_env(),
        str(weights),
        device=os.environ.get("OCRKIT_DEVICE") or None,
        quantize=os.environ.get("OCRKIT_QUANTIZE") or "none",
        batch_size=int(os.environ.get("OCRKIT_BATCH_SIZE") or 32),
    )


def input_fn(request_body: bytes | bytearray | str, request_content_type: str | None) -> ParsedInput:
    try:
        return parse_invocation(request_body, request_content_type, _limits())
    except GatewayError as exc:
        raise toolkit_error(exc.status, exc.code, exc.message) from None


def predict_fn(input_data: ParsedInput, model: Predictor) -> InvocationResult:
    try:
        predictions = model.predict_images(input_data.payloads)
    except ImageDecodeError as exc:
        raise toolkit_error(
            400, Code.UNDECODABLE_IMAGE, f"the image could not be decoded: {exc.message}"
        ) from None
    return InvocationResult(list(predictions), input_data)


def output_fn(prediction: InvocationResult, accept: str | None) -> str:
    response = render_invocation(prediction.predictions, prediction.parsed, accept or DEFAULT_ACCEPT)
    return response.body.decode("utf-8")


def _limits() -> Limits:
    return Limits.from_env().with_(url_input=False)


def toolkit_error(status: int, code: str, message: str) -> Exception:
    """An exception the SageMaker inference toolkit answers with `status` and the JSON error body
    (a `BaseInferenceToolkitError` inside the container; an `InvocationError` elsewhere)."""
    body = json.dumps({"error": {"code": str(code), "message": message}}, ensure_ascii=False)
    try:
        from sagemaker_inference.errors import BaseInferenceToolkitError
    except ImportError:
        return InvocationError(status, str(code), message, body)

    error = BaseInferenceToolkitError(status, body, HTTPStatus(status).phrase)
    error.code = str(code)  # type: ignore[attr-defined]
    return error


class InvocationError(GatewayError):
    """A refused invocation, carrying the JSON error body."""

    def __init__(self, status: int, code: str, message: str, body: str) -> None:
        super().__init__(status, code, message)
        self.body = body
