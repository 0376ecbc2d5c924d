"""Dynamic batching: concurrent requests share one call of the model's fast batched decoder.

`BatchingBackend(predictor, max_batch=8, max_wait_ms=5)` is a `Backend`. Each `predict` call queues
its images and waits; one worker thread takes the first waiting request, gathers whatever else arrives
within `max_wait_ms` (up to `max_batch` images in all), runs `predictor.predict_images` once on the lot
and hands every request its own slice of the answer. On a CPU or a GPU the backbone, the encoder and
the token loop cost much less per image in a batch than one image at a time, so under concurrent load
the throughput rises; with one client the price is at most `max_wait_ms` of extra latency.

Isolation: when a combined call fails (one client sent an image the model cannot decode, say), each
request in it is run again on its own, so only the request at fault gets the error.

Timeouts: a caller waits at most its `timeout_s` (504 `BackendTimeout`); a request that timed out
before its batch started is dropped from the batch. The queue is bounded (`max_queue` requests): past
it, callers get `BackendOverloaded` (503) at once.

The worker thread starts on first use, in the process that uses the backend (safe under a pre-forking
server as long as the backend is built in the worker). Standard library only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from ocrkit.gateway.backend import BackendError, BackendTimeout, BackendUnavailable, check_predictions
from ocrkit.gateway.errors import GatewayError
from ocrkit.prediction import ImageDecodeError, Prediction, Predictor

log = logging.getLogger("ocrkit.server")


class BackendOverloaded(BackendUnavailable):
    """Too many requests are already waiting for the model; the client should retry shortly."""


@dataclass
class BatchStats:
    """Counters since start: how many model calls ran and how many images and requests they carried."""

    batches: int = 0
    images: int = 0
    requests: int = 0
    max_images: int = 0
    retried_alone: int = 0
    dropped_expired: int = 0
    sizes: dict[int, int] = field(default_factory=dict)  # images per model call -> number of calls

    @property
    def mean_batch(self) -> float:
        return self.images / self.batches if self.batches else 0.0


@dataclass(eq=False)
class _Job:
    images: list[bytes]
    deadline: float | None
    done: threading.Event = field(default_factory=threading.Event)
    result: list[Prediction] | None = None
    error: BaseException | None = None
    abandoned: bool = False  # the caller gave up waiting
    started: bool = False


class BatchingBackend:
    """A Backend that groups concurrent requests into one `predict_images` call (see module doc)."""

    def __init__(
        self,
        predictor: Predictor,
        *,
        name: str = "ocrkit",
        max_batch: int = 8,
        max_wait_ms: float = 5.0,
        max_queue: int = 256,
    ) -> None:
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        if max_wait_ms < 0:
            raise ValueError("max_wait_ms must not be negative")
        if max_queue < 1:
            raise ValueError("max_queue must be at least 1")
        self.predictor = predictor
        self.name = name
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.stats = BatchStats()
        self._queue: deque[_Job] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    # -- Backend ------------------------------------------------------------------------------------

    def ready(self) -> bool:
        return not self._closed

    def predict(self, images: list[bytes], *, timeout_s: float | None) -> list[Prediction]:
        images = list(images)
        if not images:
            return []
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        job = _Job(images, deadline)
        with self._cond:
            if self._closed:
                raise BackendUnavailable("the server is shutting down; try again shortly")
            if len(self._queue) >= self.max_queue:
                raise BackendOverloaded(
                    f"{len(self._queue)} requests are already waiting for the model; try again shortly"
                )
            self._ensure_worker()
            self._queue.append(job)
            self._cond.notify_all()
        if not job.done.wait(timeout_s):
            with self._cond:
                job.abandoned = True
                if not job.started:
                    with contextlib.suppress(ValueError):
                        self._queue.remove(job)
            raise BackendTimeout(f"the model did not answer within {timeout_s:g} s")
        if job.error is not None:
            raise job.error
        return check_predictions(job.result, len(images))

    def queued(self) -> int:
        with self._cond:
            return len(self._queue)

    def close(self, timeout: float | None = 5.0) -> None:
        """Stop taking requests; the worker finishes what is queued and exits."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # -- the worker ---------------------------------------------------------------------------------

    def _ensure_worker(self) -> None:
        """Start the worker thread (again, after a fork). Called with the lock held."""
        pid = os.getpid()
        if self._thread is not None and self._pid == pid and self._thread.is_alive():
            return
        self._pid = pid
        self._thread = threading.Thread(target=self._run, name="ocrkit-batcher", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._collect()
            if batch is None:
                return
            if batch:
                self._execute(batch)

    def _collect(self) -> list[_Job] | None:
        """Wait for work, then gather a batch; None when closed and drained."""
        with self._cond:
            while not self._queue:
                if self._closed:
                    return None
                self._cond.wait()
            first = self._queue.popleft()
            batch = [first]
            count = len(first.images)
            until = time.monotonic() + self.max_wait_s
            while count < self.max_batch:
                if self._queue:
                    nxt = self._queue[0]
                    if count + len(nxt.images) > self.max_batch:
                        break
                    batch.append(self._queue.popleft())
                    count += len(nxt.images)
                    continue
                left = until - time.monotonic()
                if left <= 0 or self._closed:
                    break
                self._cond.wait(left)
            now = time.monotonic()
            live = []
            for job in batch:
                if job.abandoned or (job.deadline is not None and job.deadline <= now):
                    self.stats.dropped_expired += 1
                    job.error = BackendTimeout("the request timed out before the model could take it")
                    job.done.set()
                    continue
                job.started = True
                live.append(job)
            self.stats.requests += len(live)
            return live

    def _execute(self, batch: list[_Job]) -> None:
        images = [image for job in batch for image in job.images]
        try:
            results = self._call(images)
        except BaseException as exc:
            if len(batch) == 1:
                self._fail(batch[0], exc)
                return
            # One request's bad image (or any failure) must not fail the others: run each alone.
            self.stats.retried_alone += len(batch)
            for job in batch:
                try:
                    job.result = self._call(job.images)
                except BaseException as single_exc:
                    self._fail(job, single_exc)
                else:
                    job.done.set()
            return
        start = 0
        for job in batch:
            job.result = results[start : start + len(job.images)]
            start += len(job.images)
            job.done.set()

    def _call(self, images: list[bytes]) -> list[Prediction]:
        results = self.predictor.predict_images(images)
        results = check_predictions(results, len(images))
        with self._cond:
            stats = self.stats
            stats.batches += 1
            stats.images += len(images)
            stats.max_images = max(stats.max_images, len(images))
            stats.sizes[len(images)] = stats.sizes.get(len(images), 0) + 1
        return results

    def _fail(self, job: _Job, exc: BaseException) -> None:
        if isinstance(exc, ImageDecodeError | GatewayError | BackendError):
            job.error = exc
        else:
            log.error("predictor failed", exc_info=exc)
            job.error = BackendError("the model failed on this request")
        job.done.set()
