"""One bad image costs only its own row: in preprocessing, or inside the engine's batch."""

from __future__ import annotations

import pytest

from ocrkit.batch.inference import Inference
from ocrkit.prediction import ImageDecodeError, Prediction

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
