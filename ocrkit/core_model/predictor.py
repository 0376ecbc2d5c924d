"""``TorchPredictor``: image bytes in, ``Prediction``s out, with the fast batched decoder.

Implements the torch-free ``ocrkit.prediction.Predictor`` protocol that the gateway and the model
servers program against. Stages are exposed separately for benchmarks:
``preprocess_images`` (bytes -> tensor) -> ``encode_images`` (backbone + encoder) -> ``decode``
(the token loop); ``predict_tensors`` runs the last two.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor

from ocrkit.core_model.alphabet import ALPHABET, EOS
from ocrkit.core_model.checkpoint import load_checkpoint
from ocrkit.core_model.decoding import QUANTIZE_CHOICES, Decoded, Encoded, FastDecoder
from ocrkit.core_model.network import MAX_DECODE_LEN, TransformerModel
from ocrkit.core_model.preprocess import preprocess_images
from ocrkit.errors import OcrkitError
from ocrkit.prediction import Prediction
from ocrkit.weights import WEIGHTS_ENV, default_weights_path, resolve_weights

__all__ = ["WEIGHTS_ENV", "TorchPredictor", "default_weights_path", "resolve_device", "resolve_weights"]

log = logging.getLogger("ocrkit.model")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"``: CUDA when available, else CPU. An explicit CUDA request must be satisfiable."""
    if device is None or str(device) == "auto":
        dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise OcrkitError(f"unknown device {device!r} ({exc})") from None
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise OcrkitError(f"device {device!r} requested but CUDA is not available on this machine")
        if dev.type not in ("cpu", "cuda"):
            raise OcrkitError(f"unsupported device {device!r}: use 'cpu' or 'cuda'")
    return dev


def _describe(dev: torch.device) -> str:
    if dev.type == "cuda":
        index = dev.index if dev.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return f"cpu ({torch.get_num_threads()} threads)"


def to_prediction(d: Decoded) -> Prediction:
    text_tokens = d.tokens[: d.tokens.index(EOS)] if d.eos else list(d.tokens)
    return Prediction(text=d.text, confidence=d.confidence, char_probs=d.char_probs, tokens=text_tokens)


class TorchPredictor:
    """The OCR model on one device, reading images in batches with the fast greedy decoder.

    ``device``: None picks CUDA when available, else CPU. ``fp16``: autocast on CUDA.
    ``quantize="int8"``: int8 decoder projections on CPU (faster; tokens may differ slightly).
    ``lookahead``: n-gram lookahead for a lone image (same tokens, fewer passes when repetitive).
    Thread-safe: concurrent calls share only read-only weights.
    """

    def __init__(
        self,
        model: TransformerModel,
        *,
        device: str | torch.device | None = None,
        quantize: str = "none",
        batch_size: int = 32,
        max_len: int = MAX_DECODE_LEN,
        fp16: bool = False,
        lookahead: bool = True,
    ) -> None:
        if quantize not in QUANTIZE_CHOICES:
            raise OcrkitError(f"quantize must be one of {', '.join(QUANTIZE_CHOICES)}, not {quantize!r}")
        if batch_size < 1 or max_len < 1:
            raise OcrkitError("batch_size and max_len must be at least 1")
        if model.config.outtoken != len(ALPHABET):
            raise OcrkitError(
                f"the model predicts {model.config.outtoken} tokens but the alphabet has {len(ALPHABET)}"
            )
        self.device = resolve_device(device)
        if quantize == "int8" and self.device.type != "cpu":
            raise OcrkitError("quantize='int8' is for CPU inference; on CUDA use fp16 instead")
        if fp16 and self.device.type != "cuda":
            raise OcrkitError("fp16 needs a CUDA device; on CPU use quantize='int8' for speed")
        self.model = model.to(self.device).eval()
        self.quantize = quantize
        self.batch_size = batch_size
        self.max_len = max_len
        self.fp16 = fp16
        self.decoder = FastDecoder(self.model, quantize=quantize, lookahead=lookahead)
        log.info(
            "model on %s%s%s, batch size %d",
            _describe(self.device),
            ", fp16 autocast" if fp16 else "",
            ", int8 decoder" if quantize == "int8" else "",
            batch_size,
        )

    @classmethod
    def from_weights(
        cls,
        path: str | Path | None = None,
        *,
        device: str | torch.device | None = None,
        quantize: str = "none",
        batch_size: int = 32,
        max_len: int = MAX_DECODE_LEN,
        fp16: bool = False,
        lookahead: bool = True,
    ) -> TorchPredictor:
        """Load a checkpoint (explicit path, else ``$OCRKIT_WEIGHTS``, else the shipped demo) and wrap it."""
        loaded = load_checkpoint(resolve_weights(path))
        return cls(
            loaded.model,
            device=device,
            quantize=quantize,
            batch_size=batch_size,
            max_len=max_len,
            fp16=fp16,
            lookahead=lookahead,
        )

    def _autocast(self):
        if self.fp16:
            return torch.autocast("cuda", dtype=torch.float16)
        return contextlib.nullcontext()

    # -- stages --------------------------------------------------------------------------------

    def preprocess(self, images: Sequence[bytes]) -> Tensor:
        """Encoded images -> input tensor [B, 3, 64, 256] on CPU (raises ``ImageDecodeError``)."""
        return preprocess_images(images)

    def encode_images(self, batch: Tensor) -> Encoded:
        """Backbone + encoder for a preprocessed batch (moved to the model's device)."""
        batch = batch.to(self.device, non_blocking=True)
        with self._autocast():
            return self.decoder.encode(batch)

    def decode(self, encoded: Encoded) -> list[Decoded]:
        """The greedy token loop on an encoded batch."""
        with self._autocast():
            return self.decoder.decode(encoded, max_len=self.max_len)

    def predict_tensors(self, batch: Tensor) -> list[Prediction]:
        """Preprocessed images [B, 3, 64, 256] -> predictions, in chunks of ``batch_size``."""
        out: list[Prediction] = []
        for start in range(0, batch.shape[0], self.batch_size):
            chunk = batch[start : start + self.batch_size]
            out.extend(to_prediction(d) for d in self.decode(self.encode_images(chunk)))
        return out

    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        """Encoded images (PNG, JPEG, ...) -> one prediction each, in order."""
        if not images:
            return []
        return self.predict_tensors(self.preprocess(images))
