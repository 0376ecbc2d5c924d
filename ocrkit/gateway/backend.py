"""Where the gateway sends checked image bytes: a model in this process, or (later) a remote endpoint.

A backend takes encoded image bytes and returns one `Prediction` per image, in order. It reports trouble
with exceptions that the gateway turns into answers:

- `ImageDecodeError` (from ocrkit.prediction): the model could not decode an image -> 400;
- `GatewayError`: a client mistake the backend found (a remote model server's own 4xx) -> its status;
- `BackendTimeout` -> 504, `BackendUnavailable` (model still loading) -> 503, `BackendError` -> 502.

Remote backends (SageMaker runtime, Vertex endpoint) send the same bytes to the model server, which speaks
the contracts in `ocrkit.server`, and map its answers onto these exceptions.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Protocol, runtime_checkable

from ocrkit.errors import OcrkitError
from ocrkit.gateway.errors import GatewayError
from ocrkit.prediction import ImageDecodeError, Prediction, Predictor

log = logging.getLogger("ocrkit.gateway")


class BackendError(OcrkitError):
    """The model backend failed. The message is shown to clients: keep internals out of it."""


class BackendTimeout(BackendError):
    """The model backend did not answer in time."""


class BackendUnavailable(BackendError):
    """The model backend is not ready (still loading, or failed to load)."""


@runtime_checkable
class Backend(Protocol):
    """Turns encoded images into predictions. `name` is reported to clients as `model`.

    Backends may also offer `ready() -> bool`; those without it count as always ready.
    """

    name: str

    def predict(self, images: list[bytes], *, timeout_s: float | None) -> list[Prediction]: ...


class InProcessBackend:
    """Runs any `Predictor` in this process, with a timeout.

    The predictor runs in a worker thread; the caller waits at most `timeout_s`. A thread cannot be
    stopped, so a timed-out call keeps its slot until the predictor returns: at most `max_concurrency`
    predictor calls run at once, and a request that cannot get a slot in time also answers 504.
    """

    def __init__(self, predictor: Predictor, *, name: str = "ocrkit", max_concurrency: int = 1) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        self.predictor = predictor
        self.name = name
        self._slots = threading.BoundedSemaphore(max_concurrency)

    def ready(self) -> bool:
        return True

    def predict(self, images: list[bytes], *, timeout_s: float | None) -> list[Prediction]:
        images = list(images)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        if not self._slots.acquire(timeout=-1 if timeout_s is None else timeout_s):
            raise BackendTimeout(f"the model stayed busy for {timeout_s:g} s; try again shortly")
        box: dict[str, object] = {}
        done = threading.Event()

        def work() -> None:
            try:
                box["value"] = self.predictor.predict_images(images)
            except BaseException as exc:  # handed back to the waiting request
                box["error"] = exc
            finally:
                self._slots.release()
                done.set()

        try:
            threading.Thread(target=work, name="ocrkit-predict", daemon=True).start()
        except RuntimeError:
            self._slots.release()
            log.exception("could not start a prediction thread")
            raise BackendError("the model could not take this request") from None
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not done.wait(remaining):
            raise BackendTimeout(f"the model did not answer within {timeout_s:g} s")
        if "error" in box:
            exc = box["error"]
            if isinstance(exc, ImageDecodeError | GatewayError | BackendError):
                raise exc  # type: ignore[misc]
            log.error("predictor failed", exc_info=exc)  # type: ignore[arg-type]
            raise BackendError("the model failed on this request") from None
        return check_predictions(box.get("value"), len(images))


def check_predictions(value: object, expected: int) -> list[Prediction]:
    """A backend's answer must be one Prediction per image; anything else is a backend failure."""
    if not isinstance(value, list | tuple) or len(value) != expected:
        count = len(value) if isinstance(value, list | tuple) else type(value).__name__
        log.error("backend returned %s results for %d images", count, expected)
        raise BackendError("the model returned a malformed answer")
    if not all(isinstance(p, Prediction) for p in value):
        log.error("backend returned non-Prediction items")
        raise BackendError("the model returned a malformed answer")
    return list(value)


def as_backend(model: object, *, name: str = "ocrkit", max_concurrency: int = 1) -> Backend:
    """A Backend as is; a Predictor (anything with `predict_images`) wrapped in an InProcessBackend."""
    if callable(getattr(model, "predict", None)) and not callable(getattr(model, "predict_images", None)):
        return model  # type: ignore[return-value]
    if callable(getattr(model, "predict_images", None)):
        return InProcessBackend(model, name=name, max_concurrency=max_concurrency)  # type: ignore[arg-type]
    raise TypeError(f"expected a Predictor or a Backend, got {type(model).__name__}")
