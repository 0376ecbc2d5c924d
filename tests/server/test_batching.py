"""Dynamic batching: concurrent requests share one predictor call, each gets its own answer, failures
and timeouts stay with the request they belong to. Deterministic: the fake predictor holds its first
call until the test has queued the requests it wants batched (no sleeps, no timing assertions)."""

from __future__ import annotations

import threading
import time

import pytest

from ocrkit.gateway.backend import Backend, BackendError, BackendTimeout, BackendUnavailable
from ocrkit.gateway.limits import Limits
from ocrkit.prediction import ImageDecodeError, Prediction
from ocrkit.server import create_app
from ocrkit.server.batching import BackendOverloaded, BatchingBackend
from tests.gateway.imagegen import make_png
from tests.server.conftest import http_call

BAD = b"\x89PNG-bad"


class GatedPredictor:
    """Echoes each image's length as text; the first call waits for `gate`; optional failure modes."""

    def __init__(self, *, fail_on_bad: bool = False, crash: bool = False) -> None:
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.calls: list[list[bytes]] = []
        self.fail_on_bad = fail_on_bad
        self.crash = crash
        self._lock = threading.Lock()

    def predict_images(self, images: list[bytes]) -> list[Prediction]:
        with self._lock:
            self.calls.append(list(images))
            first = len(self.calls) == 1
        if first:
            self.entered.set()
            assert self.gate.wait(30)
        if self.crash and len(images) > 0 and images[0] == BAD:
            raise RuntimeError("secret internal detail")
        if self.fail_on_bad and BAD in images:
            raise ImageDecodeError(f"image {images.index(BAD)} could not be decoded")
        return [Prediction(f"len {len(img)}", 0.5) for img in images]


def call_in_thread(backend: Backend, images: list[bytes], timeout_s: float = 30.0):
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = backend.predict(images, timeout_s=timeout_s)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


def wait_for(condition, timeout_s: float = 10.0) -> None:
    until = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > until:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


@pytest.fixture
def gated():
    predictor = GatedPredictor()
    backend = BatchingBackend(predictor, max_batch=8, max_wait_ms=5)
    yield predictor, backend
    predictor.gate.set()
    backend.close()


def test_a_lone_request_is_answered(gated) -> None:
    predictor, backend = gated
    predictor.gate.set()
    assert backend.predict([b"abc"], timeout_s=10) == [Prediction("len 3", 0.5)]
    assert backend.ready() and backend.name == "ocrkit"


def test_requests_that_arrive_together_share_one_call(gated) -> None:
    predictor, backend = gated
    first, first_box = call_in_thread(backend, [b"x"])
    assert predictor.entered.wait(10)
    waiting = [call_in_thread(backend, [b"y" * (i + 2)]) for i in range(5)]
    wait_for(lambda: backend.queued() == 5)
    predictor.gate.set()
    for thread, _ in [(first, first_box), *waiting]:
        thread.join(10)
    assert [len(c) for c in predictor.calls] == [1, 5]
    # each caller gets the answer for its own image
    assert first_box["value"] == [Prediction("len 1", 0.5)]
    for i, (_, box) in enumerate(waiting):
        assert box["value"] == [Prediction(f"len {i + 2}", 0.5)]
    assert backend.stats.batches == 2 and backend.stats.images == 6 and backend.stats.requests == 6
    assert backend.stats.max_images == 5 and backend.stats.sizes == {1: 1, 5: 1}


def test_batches_never_exceed_max_batch(gated) -> None:
    predictor, backend = gated
    call_in_thread(backend, [b"x"])
    assert predictor.entered.wait(10)
    threads = [call_in_thread(backend, [b"z" * (i + 1)])[0] for i in range(12)]
    wait_for(lambda: backend.queued() == 12)
    predictor.gate.set()
    for thread in threads:
        thread.join(10)
    assert [len(c) for c in predictor.calls] == [1, 8, 4]


def test_a_multi_image_request_stays_whole(gated) -> None:
    predictor, backend = gated
    call_in_thread(backend, [b"x"])
    assert predictor.entered.wait(10)
    big, big_box = call_in_thread(backend, [b"a", b"bb", b"ccc"])
    wait_for(lambda: backend.queued() == 1)
    other, other_box = call_in_thread(backend, [b"dddd"] * 6)  # 3 + 6 > 8: next batch
    wait_for(lambda: backend.queued() == 2)
    predictor.gate.set()
    big.join(10)
    other.join(10)
    assert [len(c) for c in predictor.calls] == [1, 3, 6]
    assert [p.text for p in big_box["value"]] == ["len 1", "len 2", "len 3"]
    assert len(other_box["value"]) == 6


def test_one_bad_image_fails_only_its_own_request() -> None:
    predictor = GatedPredictor(fail_on_bad=True)
    backend = BatchingBackend(predictor, max_batch=8)
    try:
        call_in_thread(backend, [b"x"])
        assert predictor.entered.wait(10)
        good1, box1 = call_in_thread(backend, [b"good"])
        bad, bad_box = call_in_thread(backend, [BAD])
        good2, box2 = call_in_thread(backend, [b"fine!"])
        wait_for(lambda: backend.queued() == 3)
        predictor.gate.set()
        for thread in (good1, bad, good2):
            thread.join(10)
        assert box1["value"] == [Prediction("len 4", 0.5)]
        assert box2["value"] == [Prediction("len 5", 0.5)]
        assert isinstance(bad_box["error"], ImageDecodeError)
        assert bad_box["error"].message == "image 0 could not be decoded"  # its own index, not the batch's
        assert backend.stats.retried_alone == 3
    finally:
        predictor.gate.set()
        backend.close()


def test_an_unexpected_failure_is_a_generic_backend_error() -> None:
    predictor = GatedPredictor(crash=True)
    predictor.gate.set()
    backend = BatchingBackend(predictor)
    try:
        with pytest.raises(BackendError) as caught:
            backend.predict([BAD], timeout_s=10)
        assert "secret" not in str(caught.value)
        assert backend.predict([b"ok"], timeout_s=10) == [Prediction("len 2", 0.5)]  # still serving
    finally:
        backend.close()


def test_a_caller_waits_no_longer_than_its_timeout_and_its_images_are_skipped(gated) -> None:
    predictor, backend = gated
    call_in_thread(backend, [b"x"])
    assert predictor.entered.wait(10)
    with pytest.raises(BackendTimeout):
        backend.predict([b"late"], timeout_s=0.05)
    assert backend.queued() == 0  # withdrawn from the queue
    predictor.gate.set()
    assert backend.predict([b"next"], timeout_s=10) == [Prediction("len 4", 0.5)]
    assert [c for c in predictor.calls if b"late" in c] == []


def test_the_queue_is_bounded() -> None:
    predictor = GatedPredictor()
    backend = BatchingBackend(predictor, max_batch=1, max_queue=2)
    try:
        call_in_thread(backend, [b"x"])
        assert predictor.entered.wait(10)
        call_in_thread(backend, [b"1"])
        call_in_thread(backend, [b"2"])
        wait_for(lambda: backend.queued() == 2)
        with pytest.raises(BackendOverloaded):
            backend.predict([b"3"], timeout_s=10)
    finally:
        predictor.gate.set()
        backend.close()


def test_closed_backend_refuses_and_its_worker_ends() -> None:
    predictor = GatedPredictor()
    predictor.gate.set()
    backend = BatchingBackend(predictor)
    assert backend.predict([b"a"], timeout_s=10)
    backend.close()
    assert not backend.ready()
    with pytest.raises(BackendUnavailable):
        backend.predict([b"a"], timeout_s=10)
    assert backend._thread is not None and not backend._thread.is_alive()


def test_empty_input_makes_no_call() -> None:
    predictor = GatedPredictor()
    backend = BatchingBackend(predictor)
    assert backend.predict([], timeout_s=1) == []
    assert predictor.calls == []


@pytest.mark.parametrize(
    "kwargs", [{"max_batch": 0}, {"max_wait_ms": -1}, {"max_queue": 0}], ids=["batch", "wait", "queue"]
)
def test_settings_are_checked(kwargs) -> None:
    with pytest.raises(ValueError):
        BatchingBackend(GatedPredictor(), **kwargs)


def test_behind_the_model_server_over_http(serve) -> None:
    predictor = GatedPredictor()
    predictor.gate.set()
    backend = BatchingBackend(predictor, max_batch=4, max_wait_ms=2)
    server = serve(create_app(backend, Limits(), environ={}))
    try:
        png = make_png(30, 9)
        results: list = []
        threads = [
            threading.Thread(
                target=lambda: results.append(http_call(server, "POST", "/predict", png, "image/png"))
            )
            for _ in range(6)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert [r.status for r in results] == [200] * 6
        assert {r.json()["text"] for r in results} == {f"len {len(png)}"}
        reply = http_call(server, "POST", "/invocations", png, "image/png")
        assert reply.status == 200 and reply.json()["text"] == f"len {len(png)}"
    finally:
        backend.close()
