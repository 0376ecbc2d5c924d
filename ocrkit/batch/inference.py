"""Images to rows around any engine's ``Predictor``: decode/preprocess (in worker threads), then infer.

The preprocessing (decode, resize, pad, scale) runs in the worker threads, so it overlaps inference
and the model thread sees ready arrays: with the torch engine ``core_model.preprocess`` then
``predict_tensors``; with the ONNX engine its own decoder then ``predict_arrays``, resizing with
OpenCV when it is installed -- ``ocrkit.engine.resize`` reproduces ``cv2.resize`` bit for bit
(``tests/engine/test_preprocess.py``), but in numpy it costs ~10 ms an image, as much as the model
itself, where OpenCV takes well under one. Any other ``Predictor`` gets the bytes, checked to be an
image first. An image that cannot be read becomes an error row; a batch the engine refuses is
retried image by image so that one bad image never costs its neighbours their rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ocrkit.batch.records import ResultRow
from ocrkit.batch.sniff import HEAD_BYTES, image_kind
from ocrkit.errors import OcrkitError
from ocrkit.prediction import ImageDecodeError, Prediction, Predictor

if TYPE_CHECKING:
    from ocrkit.engine.preprocess import ImageBackend


@dataclass(frozen=True)
class Prepared:
    """One image ready for the engine, or why it is not."""

    source: str
    payload: Any = None
    error: str | None = None


def _fast_resize(chosen: ImageBackend) -> ImageBackend:
    """``chosen``'s decoder with OpenCV's resize when OpenCV is installed (the same arrays, faster)."""
    from ocrkit.engine.preprocess import OPENCV, ImageBackend

    if chosen.name == OPENCV.name:
        return chosen
    try:
        import cv2  # noqa: F401, PLC0415 - optional: the ONNX install has no OpenCV
    except ImportError:
        return chosen
    return ImageBackend(f"{chosen.name} + opencv resize", chosen.decode, OPENCV.resize)


class Inference:
    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self._tensors = callable(getattr(predictor, "predict_tensors", None))
        arrays = callable(getattr(predictor, "predict_arrays", None))
        self._arrays = not self._tensors and arrays and hasattr(predictor, "image_backend")
        if self._tensors:
            from ocrkit.core_model.preprocess import preprocess_image

            self._preprocess = preprocess_image
        elif self._arrays:
            from functools import partial

            from ocrkit.engine.preprocess import preprocess_image as preprocess_with

            self._preprocess = partial(preprocess_with, using=_fast_resize(predictor.image_backend))

    @property
    def preprocessed(self) -> bool:
        """Whether ``prepare`` decodes and preprocesses (else the engine does, in ``infer``)."""
        return self._tensors or self._arrays

    def prepare(self, source: str, data: bytes) -> Prepared:
        """Decode and preprocess one image (thread-safe; OpenCV and numpy release the GIL)."""
        try:
            if self.preprocessed:
                return Prepared(source, self._preprocess(data))
            if image_kind(data[:HEAD_BYTES]) is None:
                raise ImageDecodeError("not a readable image (its first bytes are no image format's)")
            return Prepared(source, data)
        except ImageDecodeError as exc:
            return Prepared(source, error=exc.message)
        except Exception as exc:  # noqa: BLE001 - an odd image (e.g. a resize OpenCV refuses) is a row
            return Prepared(source, error=f"not a readable image ({type(exc).__name__}: {exc})")

    def _run(self, payloads: Sequence[Any]) -> list[Prediction]:
        if self._tensors:
            import numpy as np
            import torch

            with torch.inference_mode():
                return self.predictor.predict_tensors(torch.from_numpy(np.stack(payloads)))
        if self._arrays:
            import numpy as np

            return self.predictor.predict_arrays(np.stack(payloads))
        return self.predictor.predict_images(list(payloads))

    def infer(self, items: Sequence[Prepared]) -> list[ResultRow]:
        """Rows for ``items``, in order."""
        ready = [item for item in items if item.error is None]
        outcomes: dict[int, Prediction | str] = {}
        if ready:
            try:
                for item, pred in zip(ready, self._run([i.payload for i in ready]), strict=True):
                    outcomes[id(item)] = pred
            except Exception:  # noqa: BLE001 - find the image(s) at fault, one by one
                failures = 0
                for item in ready:
                    try:
                        outcomes[id(item)] = self._run([item.payload])[0]
                    except (ImageDecodeError, OcrkitError) as exc:
                        outcomes[id(item)] = exc.message
                        failures += 1
                    except Exception as exc:  # noqa: BLE001
                        outcomes[id(item)] = f"{type(exc).__name__}: {exc}"
                        failures += 1
                if failures == len(ready) and len(ready) > 1:
                    raise  # every image fails alone too: the engine is broken, not the images
        rows = []
        for item in items:
            if item.error is not None:
                rows.append(ResultRow.failed(item.source, item.error))
                continue
            outcome = outcomes[id(item)]
            if isinstance(outcome, str):
                rows.append(ResultRow.failed(item.source, outcome))
            else:
                rows.append(ResultRow(item.source, outcome.text, float(outcome.confidence)))
        return rows
