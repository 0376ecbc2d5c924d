"""One bad image costs only its own row: in preprocessing, or inside the engine's batch."""

from __future__ import annotations

import pytest

from ocrkit.batch.inference import Inference
from ocrkit.prediction import ImageDecodeError, Prediction
from tests.batch.conftest import SAMPLES

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


class PickyPredictor:
    """Refuses any batch holding the image b'...BAD'; reads the others as their length."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_images(self, images):
        self.calls.append(len(images))
        if any(b.endswith(b"BAD") for b in images):
            raise ImageDecodeError("image 2 of 3: not a readable image")
        return [Prediction(text=str(len(b)), confidence=0.9) for b in images]


def test_a_batch_the_engine_refuses_is_retried_image_by_image():
    engine = PickyPredictor()
    inference = Inference(engine)
    items = [
        inference.prepare(name, data) for name, data in [("a", PNG), ("b", PNG + b"BAD"), ("c", PNG + b"x")]
    ]
    rows = inference.infer(items)
    assert [(r.source, r.text, r.error) for r in rows] == [
        ("a", "40", None),
        ("b", "", "image 2 of 3: not a readable image"),
        ("c", "41", None),
    ]
    assert engine.calls == [3, 1, 1, 1]


def test_not_an_image_never_reaches_the_engine():
    engine = PickyPredictor()
    inference = Inference(engine)
    rows = inference.infer([inference.prepare("t.txt", b"hello"), inference.prepare("a", PNG)])
    assert rows[0].error.startswith("not a readable image") and rows[1].text == "40"
    assert engine.calls == [1]


def test_an_engine_that_fails_on_every_image_stops_the_run():
    class Broken:
        def predict_images(self, images):
            raise RuntimeError("out of memory")

    inference = Inference(Broken())
    with pytest.raises(RuntimeError, match="out of memory"):
        inference.infer([inference.prepare("a", PNG), inference.prepare("b", PNG)])


@pytest.mark.model
def test_a_preprocessing_failure_is_an_error_row(monkeypatch):
    class Tensors:
        def predict_tensors(self, x):
            return [Prediction(text="x", confidence=1.0)] * x.shape[0]

    inference = Inference(Tensors())

    def boom(data):
        raise ValueError("cannot resize")

    monkeypatch.setattr(inference, "_preprocess", boom)
    prepared = inference.prepare("odd.png", PNG)
    assert prepared.error == "not a readable image (ValueError: cannot resize)"
    assert inference.infer([prepared])[0].error == prepared.error


def test_threads_reach_the_onnx_engine():
    """--threads sets ONNX Runtime's intra-op threads, as it sets torch's."""
    pytest.importorskip("onnxruntime")
    from ocrkit.batch.runners.base import EngineSettings
    from ocrkit.weights import resolve_weights

    settings = EngineSettings("onnx", resolve_weights(None), batch_size=4, threads=1)
    assert settings.load().threads == 1
    assert settings.load(threads=3).threads == 3


def test_an_arrays_engine_gets_preprocessed_arrays_from_prepare():
    """An engine with ``preprocess``'s decoder and ``predict_arrays`` (the ONNX engine's shape): the
    worker-side ``prepare`` decodes and preprocesses, the model sees one stacked array."""
    import numpy as np

    from ocrkit.engine.preprocess import PILLOW, preprocess_image

    seen = []

    class Arrays:
        image_backend = PILLOW

        def predict_arrays(self, x):
            seen.append(x.shape)
            return [Prediction(text=f"{float(a.mean()):.6f}", confidence=1.0) for a in x]

    inference = Inference(Arrays())
    data = (SAMPLES / "sample01.jpg").read_bytes()
    items = [inference.prepare("a", data), inference.prepare("b", b"junk"), inference.prepare("c", data)]
    assert isinstance(items[0].payload, np.ndarray) and items[0].payload.shape == (3, 64, 256)
    assert np.array_equal(items[0].payload, preprocess_image(data, using=PILLOW))
    assert items[1].error.startswith("not a readable image")
    rows = inference.infer(items)
    assert seen == [(2, 3, 64, 256)]
    assert [r.error is None for r in rows] == [True, False, True]
