"""A backend whose model loads in the background, so that health checks can answer while it loads.

SageMaker and Vertex AI start the container, then poll its health route until it answers 200; only then
do they send traffic. `LoadingBackend` makes that honest: `ready()` is False (health 503) until the
loader has returned, and predictions before then answer 503 `model_not_ready`.

The loading thread lives in the process that built the backend: under a pre-forking server, build the
app in each worker (no preloading in the parent), or `wait()` for the model before forking.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from ocrkit.gateway.backend import Backend, BackendUnavailable, as_backend
from ocrkit.prediction import Prediction

log = logging.getLogger("ocrkit.server")


class LoadingBackend:
    def __init__(
        self,
        loader: Callable[[], object],
        *,
        name: str = "ocrkit",
        max_concurrency: int = 1,
        start: bool = True,
    ) -> None:
        self.name = name
        self._loader = loader
        self._max_concurrency = max_concurrency
        self._inner: Backend | None = None
        self._failed = False
        self._done = threading.Event()
        self._started = False
        self._lock = threading.Lock()
        if start:
            self.start()

    def start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        threading.Thread(target=self._load, name="ocrkit-model-load", daemon=True).start()

    def _load(self) -> None:
        try:
            model = self._loader()
            self._inner = as_backend(model, name=self.name, max_concurrency=self._max_concurrency)
            log.info("model loaded")
        except Exception:
            self._failed = True
            log.exception("the model failed to load")
        finally:
            self._done.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until loading has finished (either way); True when the model is ready."""
        self._done.wait(timeout)
        return self.ready()

    def ready(self) -> bool:
        return self._inner is not None

    @property
    def failed(self) -> bool:
        return self._failed

    def status_message(self) -> str:
        if self._inner is not None:
            return "the model is loaded"
        if self._failed:
            return "the model failed to load; see the server log"
        return "the model is still loading; try again shortly"

    def predict(self, images: list[bytes], *, timeout_s: float | None) -> list[Prediction]:
        inner = self._inner
        if inner is None:
            raise BackendUnavailable(self.status_message())
        return inner.predict(images, timeout_s=timeout_s)
