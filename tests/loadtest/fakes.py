"""Predictor factories for servers started in a subprocess (`--predictor tests.loadtest.fakes:NAME`).

They stand in for the model where a test needs exact, fast or deliberately slow answers; the tests
marked `model` serve a real (random-init, small) TorchPredictor instead.
"""

from __future__ import annotations

import os
import threading
import time

from ocrkit.gateway.images import inspect_image
from ocrkit.gateway.limits import Limits
from ocrkit.prediction import Prediction

SLOW_ENV = "OCRKIT_TEST_PREDICT_DELAY_S"


class Echo:
    """Reads each image as '<format> <w>x<h>' (so a test can check which bytes reached the model)."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.delay_s = delay_s
        self.calls: list[int] = []
        self._lock = threading.Lock()

    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        with self._lock:
            self.calls.append(len(images))
        if self.delay_s:
            time.sleep(self.delay_s)
        out = []
        for data in images:
            info = inspect_image(data, Limits())
            out.append(Prediction(f"{info.format} {info.width}x{info.height}", 0.875))
        return out


def echo() -> Echo:
    return Echo()


def slow() -> Echo:
    """Echo that takes $OCRKIT_TEST_PREDICT_DELAY_S (default 0.5 s) per model call."""
    return Echo(float(os.environ.get(SLOW_ENV, "0.5")))


def broken() -> Echo:
    """A model that fails to load (the server stays up, health answers 503)."""
    raise RuntimeError("the fake model cannot load")


def exits() -> Echo:
    """A worker that dies while loading, with gunicorn's boot-error status (the server halts)."""
    os._exit(3)


class NoisyEcho(Echo):
    """Echo that also writes to file descriptor 2 directly, as libpng does with its warnings."""

    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        os.write(2, b"libpng warning: iCCP: known incorrect sRGB profile\n")
        os.write(2, b"a native message without its newline")
        return super().predict_images(images)


def noisy() -> Echo:
    return NoisyEcho()
