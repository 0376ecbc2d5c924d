"""What a prediction is, shared by the model, the gateway and the servers. Torch-free on purpose."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from ocrkit.errors import OcrkitError


@dataclass(frozen=True)
class Prediction:
    """One image's reading: the text, a confidence in [0, 1], and optionally per-character probabilities."""

    text: str
    confidence: float
    char_probs: list[float] | None = None
    tokens: list[int] = field(default_factory=list)

    def to_json(self, *, with_char_probs: bool = False) -> dict:
        out: dict = {"text": self.text, "confidence": round(float(self.confidence), 4)}
        if with_char_probs and self.char_probs is not None:
            out["char_probs"] = [round(float(p), 4) for p in self.char_probs]
        return out


class ImageDecodeError(OcrkitError):
    """The bytes are not an image the model can read (truncated, corrupt, or not an image at all)."""


class Predictor(Protocol):
    """Anything that turns encoded image bytes into predictions, one per image, in order."""

    def predict_images(self, images: list[bytes]) -> list[Prediction]: ...
