"""Fake predictors and backends for unit tests of the gateway's own logic (routing, parsing, limits,
error mapping). They stand in for the model; the tests marked `model` use the real TorchPredictor."""

from __future__ import annotations

import threading

from ocrkit.gateway.images import inspect_image
from ocrkit.gateway.limits import Limits
from ocrkit.prediction import ImageDecodeError, Prediction


class EchoPredictor:
    """Fake: 'reads' each image as '<format> <w>x<h>' so tests can see which bytes reached the model."""

    def __init__(self) -> None:
        self.calls: list[list[bytes]] = []

    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        self.calls.append(list(images))
        out = []
        for data in images:
            info = inspect_image(data, Limits())
            out.append(Prediction(f"{info.format} {info.width}x{info.height}", 0.875, [0.5, 1.0], [1, 2]))
        return out


class FailingPredictor:
    """Fake: raises the given exception."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        raise self.exc


class BlockingPredictor:
    """Fake: blocks until released (for timeouts)."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.started = threading.Event()

    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        self.started.set()
        self.release.wait(30)
        return [Prediction("late", 0.5) for _ in images]


class WrongCountPredictor:
    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        return []


class UndecodablePredictor:
    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        raise ImageDecodeError("image 0 could not be decoded")
