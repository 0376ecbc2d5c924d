"""The engine seam: which runtime turns image bytes into text (``torch`` or ``onnx``).

Servers, batch runners, functions and the CLI call ``load_predictor``; they never reach into the
network. Torch-free at import time: each engine's runtime is imported only when that engine is
chosen, so that a torch-free install (the ONNX extra, a Lambda zip) can import this module.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

from ocrkit.errors import OcrkitError
from ocrkit.prediction import Predictor


class Engine(StrEnum):
    """``torch``: the core model (needs ``ocrkit[model]``); ``onnx``: exported graphs on ONNX Runtime."""

    torch = "torch"
    onnx = "onnx"


def parse_engine(value: str | Engine) -> Engine:
    try:
        return Engine(str(value).strip().lower())
    except ValueError:
        raise OcrkitError(
            f"unknown engine {value!r}: choose one of {', '.join(e.value for e in Engine)}"
        ) from None


#: The engine a server or function loads when nothing else says (``torch`` when unset).
ENGINE_ENV = "OCRKIT_ENGINE"


def engine_from_env(environ: Mapping[str, str] | None = None) -> Engine:
    """``$OCRKIT_ENGINE`` (torch or onnx), else torch: how deployed model servers pick the engine."""
    value = (os.environ if environ is None else environ).get(ENGINE_ENV, "").strip()
    return parse_engine(value) if value else Engine.torch


def load_predictor(
    engine: str | Engine,
    weights: str | Path | None = None,
    *,
    device: str | None = None,
    batch_size: int = 32,
    **options: object,
) -> Predictor:
    """A ``Predictor`` for ``weights`` (default resolution as everywhere) on the chosen engine."""
    chosen = parse_engine(engine)
    if chosen is Engine.torch:
        try:
            from ocrkit.core_model.predictor import TorchPredictor
        except ImportError as exc:
            raise OcrkitError(
                f"the torch engine needs torch ({exc.name} is not installed)",
                hint="pip install 'ocrkit[model]', or use --engine onnx",
            ) from None
        return TorchPredictor.from_weights(weights, device=device, batch_size=batch_size, **options)
    try:
        from ocrkit.engine.onnx_runtime import OnnxPredictor
    except ImportError as exc:  # numpy or Pillow missing: the ONNX extra is not installed
        raise OcrkitError(
            f"the ONNX engine needs the onnx extra ({exc.name} is not installed)",
            hint="pip install 'ocrkit[onnx]'",
        ) from None
    return OnnxPredictor.from_weights(weights, device=device, batch_size=batch_size, **options)
