"""Image bytes -> the network's input tensor, for the torch engine.

The steps (decode, resize to height 64, pad or squash to width 256, normalise) live in the torch-free
``ocrkit.engine.preprocess``, which both engines share; this module only wraps the result in a tensor.
The torch engine decodes and resizes with OpenCV, as the report did, unless ``$OCRKIT_IMAGE_BACKEND``
says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ocrkit.core_model.network import IMAGE_HEIGHT, IMAGE_WIDTH
from ocrkit.engine.preprocess import OPENCV, backend, normalize, preprocess_batch
from ocrkit.engine.preprocess import preprocess_array as _preprocess_array
from ocrkit.engine.preprocess import preprocess_image as _preprocess_image
from ocrkit.engine.preprocess import process_image as _process_image

__all__ = [
    "decode_image",
    "normalize",
    "preprocess_array",
    "preprocess_image",
    "preprocess_images",
    "process_image",
]


def _backend():
    return backend(OPENCV.name)


def decode_image(data: bytes) -> np.ndarray:
    """Encoded image bytes (PNG, JPEG, BMP, TIFF, WebP...) -> BGR uint8 array [H, W, 3]."""
    return _backend().decode(data)


def process_image(img: np.ndarray, height: int = IMAGE_HEIGHT, width: int = IMAGE_WIDTH) -> np.ndarray:
    """The report's ``process_image`` (see ``ocrkit.engine.preprocess``): float [height, width, 3]."""
    return _process_image(img, height, width, resize=_backend().resize)


def preprocess_array(img: np.ndarray) -> np.ndarray:
    """A decoded BGR (or grey) image -> network input [3, 64, 256] float32."""
    return _preprocess_array(img, using=_backend())


def preprocess_image(data: bytes) -> np.ndarray:
    """Encoded image bytes -> network input [3, 64, 256] float32."""
    return _preprocess_image(data, using=_backend())


def preprocess_images(images: Sequence[bytes]) -> torch.Tensor:
    """A batch of encoded images -> tensor [B, 3, 64, 256]. A bad image names its position."""
    return torch.from_numpy(preprocess_batch(images, using=_backend()))
