"""InProcessBackend: timeouts, concurrency slots, error mapping (fake predictors stand in for the model)."""

from __future__ import annotations

import pytest

from ocrkit.gateway.backend import (
    Backend,
    BackendError,
    BackendTimeout,
    InProcessBackend,
    as_backend,
)
from ocrkit.gateway.errors import GatewayError
from ocrkit.prediction import ImageDecodeError, Prediction
from tests.gateway.fakes import BlockingPredictor, EchoPredictor, FailingPredictor, WrongCountPredictor
from tests.gateway.imagegen import make_png


def test_predicts_in_order() -> None:
    backend = InProcessBackend(EchoPredictor(), name="m")
    out = backend.predict([make_png(3, 1), make_png(4, 1)], timeout_s=5)
    assert [p.text for p in out] == ["png 3x1", "png 4x1"]
    assert isinstance(backend, Backend) and backend.ready()


def test_timeout_and_busy_slot() -> None:
    predictor = BlockingPredictor()
    backend = InProcessBackend(predictor, max_concurrency=1)
    try:
        with pytest.raises(BackendTimeout):
            backend.predict([make_png()], timeout_s=0.1)
        assert predictor.started.is_set()
        with pytest.raises(BackendTimeout, match="busy"):  # the abandoned call still holds the only slot
            backend.predict([make_png()], timeout_s=0.1)
    finally:
        predictor.release.set()


def test_slot_is_freed_after_a_late_answer() -> None:
    predictor = BlockingPredictor()
    backend = InProcessBackend(predictor)
    with pytest.raises(BackendTimeout):
        backend.predict([make_png()], timeout_s=0.05)
    predictor.release.set()
    assert [p.text for p in backend.predict([make_png()], timeout_s=5)] == ["late"]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ImageDecodeError("bad bytes"), ImageDecodeError),
        (GatewayError(400, "x", "y"), GatewayError),
        (BackendError("remote said no"), BackendError),
        (RuntimeError("boom"), BackendError),
        (MemoryError(), BackendError),
    ],
)
def test_errors(exc: BaseException, expected: type) -> None:
    with pytest.raises(expected):
        InProcessBackend(FailingPredictor(exc)).predict([make_png()], timeout_s=5)


def test_unexpected_errors_are_reworded() -> None:
    with pytest.raises(BackendError) as info:
        InProcessBackend(FailingPredictor(RuntimeError("/secret/path"))).predict([make_png()], timeout_s=5)
    assert "secret" not in str(info.value)


def test_malformed_answers() -> None:
    with pytest.raises(BackendError, match="malformed"):
        InProcessBackend(WrongCountPredictor()).predict([make_png()], timeout_s=5)

    class NotPredictions:
        def predict_images(self, images):
            return ["text"]

    with pytest.raises(BackendError, match="malformed"):
        InProcessBackend(NotPredictions()).predict([make_png()], timeout_s=5)


def test_as_backend() -> None:
    predictor = EchoPredictor()
    wrapped = as_backend(predictor, name="x")
    assert isinstance(wrapped, InProcessBackend) and wrapped.name == "x"
    assert as_backend(wrapped) is wrapped
    with pytest.raises(TypeError):
        as_backend(object())


def test_no_timeout() -> None:
    class Quick:
        def predict_images(self, images):
            return [Prediction("q", 1.0) for _ in images]

    assert InProcessBackend(Quick()).predict([b"x"], timeout_s=None)[0].text == "q"
