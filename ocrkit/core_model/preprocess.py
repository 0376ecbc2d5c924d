"""Image bytes -> the network's input, exactly as the report's ``input_fn`` + ``process_image`` did it.

Order of operations (each step matters for bit-compatibility with the trained model):

1. ``cv2.imdecode(bytes, cv2.IMREAD_COLOR)``: 3-channel BGR uint8 (alpha dropped, grey expanded).
2. Resize (bilinear, the cv2 default) to height 64, keeping the aspect ratio:
   ``new_width = int(width * 64 / height)``.
3. Convert to float32. If narrower than 256, pad on the right with white (255); if wider,
   squash (resize again, on the float image) to exactly 256.
4. ``astype(uint8)`` (truncation, as the report did), divide by the image's own maximum
   (float64), transpose to CHW, float32.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch

from ocrkit.core_model.network import IMAGE_HEIGHT, IMAGE_WIDTH
from ocrkit.prediction import ImageDecodeError


def decode_image(data: bytes) -> np.ndarray:
    """Encoded image bytes (PNG, JPEG, BMP, TIFF, WebP...) -> BGR uint8 array [H, W, 3]."""
    if not data:
        raise ImageDecodeError("empty body: not a readable image")
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    except cv2.error as exc:  # some corrupt headers make OpenCV raise instead of returning None
        raise ImageDecodeError(f"not a readable image ({exc.err or 'decoder error'})") from None
    if img is None or img.size == 0:
        raise ImageDecodeError(
            "not a readable image (truncated, corrupt, or not an image format OpenCV can decode)"
        )
    return img


def process_image(img: np.ndarray, height: int = IMAGE_HEIGHT, width: int = IMAGE_WIDTH) -> np.ndarray:
    """The report's ``process_image``: resize to ``height`` keeping the aspect ratio, then pad
    right with white or squash to ``width``. Returns float [height, width, 3], values 0..255."""
    if img.ndim == 2:  # a grey array handed in directly
        img = np.stack([img, img, img], axis=-1)
    rows, cols = img.shape[:2]
    new_cols = max(1, int(cols * (height / rows)))
    img = cv2.resize(img, (new_cols, height))
    rows, cols = img.shape[:2]

    img = img.astype("float32")
    if cols < width:
        pad = np.full((rows, width - cols, 3), 255, dtype=np.float32)
        img = np.concatenate((img, pad), axis=1)
    elif cols > width:
        img = cv2.resize(img, (width, height))
    return img


def normalize(img: np.ndarray) -> np.ndarray:
    """uint8 truncation, divide by the image's own maximum, HWC -> CHW float32."""
    img = img.astype("uint8")
    peak = img.max()
    scaled = img / (peak if peak > 0 else 1)  # an all-black image stays zeros instead of NaN
    return np.ascontiguousarray(np.transpose(scaled, (2, 0, 1)), dtype=np.float32)


def preprocess_array(img: np.ndarray) -> np.ndarray:
    """A decoded BGR (or grey) image -> network input [3, 64, 256] float32."""
    return normalize(process_image(img))


def preprocess_image(data: bytes) -> np.ndarray:
    """Encoded image bytes -> network input [3, 64, 256] float32."""
    return preprocess_array(decode_image(data))


def preprocess_images(images: Sequence[bytes]) -> torch.Tensor:
    """A batch of encoded images -> tensor [B, 3, 64, 256]. A bad image names its position."""
    arrays = []
    for i, data in enumerate(images):
        try:
            arrays.append(preprocess_image(data))
        except ImageDecodeError as exc:
            if len(images) == 1:
                raise
            raise ImageDecodeError(f"image {i + 1} of {len(images)}: {exc.message}") from None
    if not arrays:
        return torch.empty(0, 3, IMAGE_HEIGHT, IMAGE_WIDTH)
    return torch.from_numpy(np.stack(arrays))
