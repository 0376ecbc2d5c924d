"""The local runner: ``workers`` threads read, decode and preprocess ahead; one model infers here.

Reads run a bounded window ahead of inference (two batches per worker at most), so memory stays flat
however many images there are. Each batch becomes one chunk: its rows are emitted (and made durable
by the sink) before the next batch is inferred.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor

from ocrkit.batch.inference import Inference, Prepared
from ocrkit.batch.runners.base import Emit, EngineSettings
from ocrkit.batch.sources import Source
from ocrkit.errors import OcrkitError


def read_and_prepare(source: Source, inference: Inference, key: str) -> Prepared:
    try:
        data = source.read(key)
    except OSError as exc:
        return Prepared(key, error=f"cannot read: {exc.strerror or exc}")
    except OcrkitError as exc:
        return Prepared(key, error=exc.message)
    return inference.prepare(key, data)


class LocalRunner:
    name = "local"

    def __init__(self, settings: EngineSettings, *, workers: int) -> None:
        self.settings = settings
        self.workers = workers
        self.inference: Inference | None = None

    def prepare(self) -> None:
        _quiet_opencv()
        self.inference = Inference(self.settings.load())

    def run(self, source: Source, pending: list[str], emit: Emit) -> None:
        assert self.inference is not None, "prepare() first"
        inference = self.inference
        batch = self.settings.batch_size
        window = max(2 * batch, 2 * self.workers)
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="ocrkit-batch-read")
        queued: deque[Future[Prepared]] = deque()
        keys = iter(pending)
        try:

            def refill() -> None:
                while len(queued) < window:
                    key = next(keys, None)
                    if key is None:
                        return
                    queued.append(pool.submit(read_and_prepare, source, inference, key))

            refill()
            while queued:
                items = []
                while queued and len(items) < batch:
                    items.append(queued.popleft().result())
                    refill()
                emit(inference.infer(items))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self.inference = None


def _quiet_opencv() -> None:
    """OpenCV logs its own decoder errors; unreadable images are reported as rows instead."""
    try:
        import cv2

        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    except (ImportError, AttributeError):
        pass
