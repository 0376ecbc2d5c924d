"""Image bytes -> the network's input, in numpy; shared by the torch and the ONNX engines.

The report's ``input_fn`` + ``process_image``, step by step (each step matters for bit-compatibility
with the trained model):

1. decode to a 3-channel BGR uint8 array (alpha dropped, grey expanded, EXIF orientation applied);
2. resize (bilinear) to height 64 keeping the aspect ratio: ``new_width = int(width * 64 / height)``;
3. convert to float32; narrower than 256: pad on the right with white (255); wider: squash (resize
   again, on the float image) to exactly 256;
4. ``astype(uint8)`` (truncation, as the report did), divide by the image's own maximum (float64),
   transpose to CHW, float32.

Two backends do steps 1-2 (and the squash): ``opencv`` (``cv2.imdecode`` + ``cv2.resize``, what the
report used; the torch engine's) and ``pillow`` (Pillow's decoders + ``ocrkit.engine.resize``, a numpy
copy of OpenCV's bilinear arithmetic; the ONNX engine's, because OpenCV is ~170 MB unpacked). Tests
check both give the same arrays on the sample sets. ``OCRKIT_IMAGE_BACKEND=opencv|pillow`` overrides
the choice for both engines.

Known differences of the ``pillow`` decoder, outside what the tests cover: 16-bit PNGs are reduced to
8 bits by dropping the low byte (as OpenCV does), CMYK JPEGs are converted by Pillow's own formula.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ocrkit.engine.resize import resize_linear
from ocrkit.errors import OcrkitError
from ocrkit.prediction import ImageDecodeError

IMAGE_HEIGHT = 64
IMAGE_WIDTH = 256
PAD_VALUE = 255
BACKEND_ENV = "OCRKIT_IMAGE_BACKEND"

#: What the export manifest records: the preprocessing the graphs expect.
PREPROCESSING: dict = {
    "height": IMAGE_HEIGHT,
    "width": IMAGE_WIDTH,
    "channels": "BGR",
    "resize": "bilinear (OpenCV INTER_LINEAR) to the height, keeping the aspect ratio",
    "narrow": f"pad right with {PAD_VALUE}",
    "wide": "bilinear squash (float32) to the width",
    "scale": "uint8 truncation, then divide by the image's maximum",
    "layout": "NCHW float32",
}

Resize = Callable[[np.ndarray, int, int], np.ndarray]


@dataclass(frozen=True)
class ImageBackend:
    """How encoded bytes become a BGR uint8 array, and how arrays are resized."""

    name: str
    decode: Callable[[bytes], np.ndarray]
    resize: Resize


# -- OpenCV ----------------------------------------------------------------------------------------


def _cv2_decode(data: bytes) -> np.ndarray:
    import cv2  # noqa: PLC0415 - optional: the ONNX install has no OpenCV

    _check_not_empty(data)
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


def _cv2_resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2  # noqa: PLC0415

    return cv2.resize(img, (width, height))


# -- Pillow + numpy --------------------------------------------------------------------------------


def _pil_decode(data: bytes) -> np.ndarray:
    from PIL import Image, ImageOps, UnidentifiedImageError  # noqa: PLC0415

    _check_not_empty(data)
    try:
        with Image.open(io.BytesIO(data)) as im:
            im = ImageOps.exif_transpose(im)  # OpenCV's imdecode applies the EXIF orientation too
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im)
                arr = (arr.astype(np.uint32) >> 8).clip(0, 255).astype(np.uint8)
                arr = np.stack([arr, arr, arr], axis=-1)
            else:
                arr = np.asarray(im.convert("RGB"))[:, :, ::-1]
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageDecodeError(f"not a readable image ({str(exc).splitlines()[0][:120]})") from None
    if arr.size == 0:
        raise ImageDecodeError("not a readable image (no pixels)")
    return np.ascontiguousarray(arr)


def _check_not_empty(data: bytes) -> None:
    if not data:
        raise ImageDecodeError("empty body: not a readable image")


OPENCV = ImageBackend("opencv", _cv2_decode, _cv2_resize)
PILLOW = ImageBackend("pillow", _pil_decode, resize_linear)
BACKENDS = {b.name: b for b in (OPENCV, PILLOW)}


def backend(preferred: str | None = None) -> ImageBackend:
    """``$OCRKIT_IMAGE_BACKEND`` if set, else ``preferred``, else OpenCV when installed, else Pillow."""
    name = os.environ.get(BACKEND_ENV, "").strip().lower() or preferred
    if name:
        if name not in BACKENDS:
            raise OcrkitError(f"{BACKEND_ENV}={name!r}: choose opencv or pillow")
        return BACKENDS[name]
    try:
        import cv2  # noqa: F401, PLC0415
    except ImportError:
        return PILLOW
    return OPENCV


# -- the report's steps ----------------------------------------------------------------------------


def process_image(
    img: np.ndarray, height: int = IMAGE_HEIGHT, width: int = IMAGE_WIDTH, *, resize: Resize = _cv2_resize
) -> np.ndarray:
    """The report's ``process_image``: resize to ``height`` keeping the aspect ratio, then pad
    right with white or squash to ``width``. Returns float32 [height, width, 3], values 0..255."""
    if img.ndim == 2:  # a grey array handed in directly
        img = np.stack([img, img, img], axis=-1)
    rows, cols = img.shape[:2]
    new_cols = max(1, int(cols * (height / rows)))
    img = resize(img, new_cols, height)
    rows, cols = img.shape[:2]

    img = img.astype("float32")
    if cols < width:
        pad = np.full((rows, width - cols, 3), PAD_VALUE, dtype=np.float32)
        img = np.concatenate((img, pad), axis=1)
    elif cols > width:
        img = resize(img, width, height)
    return img


def normalize(img: np.ndarray) -> np.ndarray:
    """uint8 truncation, divide by the image's own maximum, HWC -> CHW float32.

    Divides in float32 straight into the CHW array: for uint8 over 1..255 that is bit for bit the
    report's float64 division cast to float32 (every pair checked, ``tests/engine``), at a quarter
    of the cost -- it runs on every image of a batch job: 0.18 ms of 0.68 before, 0.045 ms now.
    """
    img = img.astype("uint8")
    peak = img.max()
    out = np.empty((img.shape[2], img.shape[0], img.shape[1]), dtype=np.float32)
    # an all-black image stays zeros instead of NaN
    np.divide(np.transpose(img, (2, 0, 1)), np.float32(peak if peak > 0 else 1), out=out)
    return out


def preprocess_array(img: np.ndarray, *, using: ImageBackend | None = None) -> np.ndarray:
    """A decoded BGR (or grey) image -> network input [3, 64, 256] float32."""
    return normalize(process_image(img, resize=(using or backend()).resize))


def preprocess_image(data: bytes, *, using: ImageBackend | None = None) -> np.ndarray:
    """Encoded image bytes -> network input [3, 64, 256] float32."""
    chosen = using or backend()
    return preprocess_array(chosen.decode(data), using=chosen)


def preprocess_batch(images: Sequence[bytes], *, using: ImageBackend | None = None) -> np.ndarray:
    """A batch of encoded images -> array [B, 3, 64, 256] float32. A bad image names its position."""
    chosen = using or backend()
    arrays = []
    for i, data in enumerate(images):
        try:
            arrays.append(preprocess_image(data, using=chosen))
        except ImageDecodeError as exc:
            if len(images) == 1:
                raise
            raise ImageDecodeError(f"image {i + 1} of {len(images)}: {exc.message}") from None
    if not arrays:
        return np.empty((0, 3, IMAGE_HEIGHT, IMAGE_WIDTH), dtype=np.float32)
    return np.stack(arrays)
