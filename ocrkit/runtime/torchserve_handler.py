"""The TorchServe handler that the Vertex AI prebuilt PyTorch prediction container runs (`model.mar`).

TorchServe loads it as a module-level handler: `handle(data, context)` (called once with `data=None` when
the model loads) and `initialize(context)`. The archive's root (`context.system_properties["model_dir"]`)
holds this file, the checkpoint (`model.pt`, the manifest's `serializedFile`) and the ocrkit modules it
imports, bundled by `ocrkit deploy`: the container has torch and torchvision but not ocrkit.

Requests: Vertex forwards `{"instances": [{"b64": "..."}, ...], "parameters": {...}}`. With TorchServe's
JSON service envelope (`service_envelope=json`; ts/torch_handler/request_envelope/json.py) each instance
arrives as its own row, a `{"b64"}` one already base64-decoded to bytes, and the envelope wraps the
answers in `{"predictions": [...]}`; without it a row is `{"body": <the whole document>}` and this handler
answers `{"predictions": [...]}` itself. Both forms work. Instances may be `{"b64": ...}`,
`{"image": {"b64": ...}}`, `{"image": "<base64>"}`, a bare base64 string or raw image bytes.

Batching: TorchServe gathers up to `batchSize` requests that arrive within `maxBatchDelay` ms and calls
`handle` once with all of them (the archive's `model-config.yaml` sets both; `ocrkit deploy` writes it
from `vertex.batch_size` / `vertex.max_batch_delay_ms`). Every image of every row then goes through the
model in one `predict_images` call, and the answers go back to their rows in order.

An image that cannot be read answers `{"error": {"code", "message"}}` in its place (the gateway's
Vertex backend turns it into the same 4xx as everywhere else); the others are still answered. Before
the model (and OpenCV with it) is imported, OpenCV's own pixel caps are set from the gateway limits
(`ocrkit.server.decoder.cap_decoder`), so a header the guard misreads still cannot make the decoder
allocate more than the limits allow. Decoding is the fast batched greedy decoder of `ocrkit.core_model`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass
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
    from ocrkit.gateway.limits import Limits
    from ocrkit.server.decoder import cap_decoder

    limits = Limits.from_env()
    cap_decoder(limits)  # before OpenCV loads: it reads its caps once
    from ocrkit.engine import engine_from_env, load_predictor

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
    _state["limits"] = limits
    log.info("ocrkit model loaded from %s on %s", serialized, device or "the default device")


def _body(row: Any) -> Any:
    """A row's content: the request body (`{"body": ...}` / `{"data": ...}`), or the row itself when the
    JSON envelope made it one instance. JSON bytes are parsed; other bytes are image bytes."""
    value = (
        row.get("body", row.get("data"))
        if isinstance(row, dict) and ("body" in row or "data" in row)
        else row
    )
    if isinstance(value, bytes | bytearray):
        try:
            return json.loads(bytes(value).decode("utf-8"))
        except ValueError:
            return bytes(value)
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


@dataclass
class _Slot:
    """One image of the batch: where its answer goes, and the bytes or the error that takes its place."""

    data: bytes | None = None
    answer: dict | None = None


def _read(instance: Any, label: str) -> _Slot:
    """An instance as the rows carry it -> checked image bytes, or the error answer in its place.

    With TorchServe's JSON envelope a `{"b64": ...}` instance arrives already base64-decoded (bytes);
    otherwise it is the JSON value the client sent.
    """
    from ocrkit.gateway.images import inspect_image
    from ocrkit.gateway.inputs import read_item

    limits = _state["limits"]
    try:
        if isinstance(instance, bytes | bytearray):
            data = bytes(instance)
            inspect_image(data, limits, label=label)
            return _Slot(data=data)
        return _Slot(data=read_item(instance, label, limits, None).data)
    except Exception as exc:  # one bad instance answers an error in its place
        return _Slot(answer=_error(exc))


def _run(slots: list[_Slot], char_probs: list[bool]) -> None:
    """Every readable image of the whole TorchServe batch in one `predict_images` call (one forward pass
    per `OCRKIT_BATCH_SIZE` images); when one of them cannot be decoded, each is retried alone so that
    only that one answers an error."""
    todo = [i for i, slot in enumerate(slots) if slot.answer is None]
    if not todo:
        return
    predictor = _state["predictor"]
    try:
        predictions = predictor.predict_images([slots[i].data for i in todo])
    except Exception:
        predictions = None
    for position, index in enumerate(todo):
        try:
            prediction = (
                predictions[position]
                if predictions is not None
                else predictor.predict_images([slots[index].data])[0]
            )
            slots[index].answer = prediction.to_json(with_char_probs=char_probs[index])
        except Exception as exc:
            slots[index].answer = _error(exc)


def _gather(body: Any) -> tuple[list[_Slot], list[bool], Any]:
    """One request row -> its image slots, their char_probs flags, and how to shape the row's answer
    (None: a bare answer per slot; a count: {"predictions": [...]} of that many slots)."""
    if isinstance(body, dict) and "instances" in body:
        instances = body["instances"] if isinstance(body["instances"], list) else [body["instances"]]
        parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        wants = parameters.get("char_probs") is True
        slots = [_read(item, f"instances[{i}]") for i, item in enumerate(instances)]
        return slots, [wants] * len(slots), len(slots)
    return [_read(body, "instance")], [False], None


def handle(data: Any, context: Any) -> list | None:
    """TorchServe's entry point: one answer per request row, in order; all rows' images in one batch.

    TorchServe hands over up to `batchSize` rows (the archive's model-config.yaml) that arrived within
    `maxBatchDelay` ms of each other.
    """
    if "predictor" not in _state:
        initialize(context)
    if data is None:
        return None
    bodies = [_body(row) for row in data]
    slots: list[_Slot] = []
    flags: list[bool] = []
    shapes: list[Any] = []
    for body in bodies:
        row_slots, row_flags, shape = _gather(body)
        slots += row_slots
        flags += row_flags
        shapes.append((len(row_slots), shape))
    _run(slots, flags)
    answers: list[Any] = []
    cursor = 0
    for count, shape in shapes:
        mine = [slot.answer for slot in slots[cursor : cursor + count]]
        cursor += count
        answers.append(mine[0] if shape is None else {"predictions": mine})
    return answers
