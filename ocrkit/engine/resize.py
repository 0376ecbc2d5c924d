"""OpenCV's bilinear ``cv2.resize`` (``INTER_LINEAR``) reproduced in numpy, bit for bit.

The model was trained on images resized by OpenCV, and OpenCV alone is ~170 MB unpacked: too much
for a Lambda zip next to ONNX Runtime. OpenCV's result is not the textbook bilinear one, so this
module follows its arithmetic step by step (``modules/imgproc/src/resize.cpp``):

* source coordinates in float32: ``fx = (float)((dx + 0.5) * scale - 0.5)``, ``scale = 1 / (dst / src)``
  in double; ``sx = floor(fx)``; weights ``1 - fx`` and ``fx``; horizontally, a coordinate left of
  the first or right of the last pixel is clamped to it with weight 1; vertically the rows are
  clamped but the weights are not;
* uint8 images in fixed point: weights rounded to 11 bits (``rint(w * 2048)``), the horizontal pass
  summed exactly in int32, the vertical pass rounded as OpenCV's SIMD loop does it, on every column
  (``((S0 >> 4) * b0 >> 16) + ((S1 >> 4) * b1 >> 16) + 2 >> 2``; its scalar formula,
  ``S0 * b0 + S1 * b1 + 2**21 >> 22``, differs by one now and then and is not what the wheel runs);
* a 2x downscale on both axes is OpenCV's INTER_AREA (the mean of each 2x2 block, rounded);
* float32 images in float32, ``S0 * w0 + S1 * w1`` with each product rounded (no fused multiply-add).

``tests/engine/test_preprocess.py`` checks the result equals ``cv2.resize`` on the sample sets and
on random images of many sizes.
"""

from __future__ import annotations

import numpy as np

_COEF_BITS = 11
_COEF_SCALE = 1 << _COEF_BITS  # INTER_RESIZE_COEF_SCALE


def _scale(src: int, dst: int) -> float:
    return 1.0 / (dst / src)  # OpenCV: inv_scale = (double)dst / src; scale = 1. / inv_scale


def _coords(src: int, dst: int) -> tuple[np.ndarray, np.ndarray]:
    """Per destination index: the left/top source index (unclamped) and the float32 fraction."""
    f = ((np.arange(dst, dtype=np.float64) + 0.5) * _scale(src, dst) - 0.5).astype(np.float32)
    s = np.floor(f).astype(np.int64)
    frac = (f - s.astype(np.float32)).astype(np.float32)
    return s, frac


def _x_coords(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s, frac = _coords(src, dst)
    left = s < 0
    right = s >= src - 1
    frac = np.where(left | right, np.float32(0), frac).astype(np.float32)
    s = np.where(left, 0, np.where(right, src - 1, s))
    return s, np.minimum(s + 1, src - 1), frac


def _y_coords(src: int, dst: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s, frac = _coords(src, dst)
    return np.clip(s, 0, src - 1), np.clip(s + 1, 0, src - 1), frac


def _fixed(frac: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w0 = np.rint((np.float32(1) - frac) * np.float32(_COEF_SCALE)).astype(np.int32)
    w1 = np.rint(frac * np.float32(_COEF_SCALE)).astype(np.int32)
    return w0, w1


def _area_2x(img: np.ndarray) -> np.ndarray:
    s = img.astype(np.int32)
    total = s[0::2, 0::2] + s[0::2, 1::2] + s[1::2, 0::2] + s[1::2, 1::2]
    return ((total + 2) >> 2).astype(np.uint8)


def resize_linear(img: np.ndarray, width: int, height: int) -> np.ndarray:
    """``cv2.resize(img, (width, height))`` for uint8 or float32 images [H, W] or [H, W, C]."""
    if img.dtype not in (np.uint8, np.float32):
        raise TypeError(f"resize_linear handles uint8 and float32 images, not {img.dtype}")
    if width < 1 or height < 1:
        raise ValueError("the output size must be positive")
    squeeze = img.ndim == 2
    src = img[:, :, None] if squeeze else img
    h, w, cn = src.shape
    if (h, w) == (height, width):
        out = src.copy()
    elif img.dtype == np.uint8 and _scale(w, width) == 2.0 and _scale(h, height) == 2.0:
        out = _area_2x(src)
    elif img.dtype == np.uint8:
        out = _resize_u8(src, width, height)
    else:
        out = _resize_f32(src, width, height)
    return out[:, :, 0] if squeeze else out


def _resize_u8(src: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w, cn = src.shape
    x0, x1, fx = _x_coords(w, width)
    a0, a1 = _fixed(fx)
    y0, y1, fy = _y_coords(h, height)
    b0, b1 = _fixed(fy)
    s = src.astype(np.int32)
    rows = np.union1d(y0, y1)
    horiz = np.zeros((h, width, cn), dtype=np.int32)
    sr = s[rows]
    horiz[rows] = sr[:, x0, :] * a0[None, :, None] + sr[:, x1, :] * a1[None, :, None]
    top = horiz[y0].reshape(height, width * cn).astype(np.int64)
    bottom = horiz[y1].reshape(height, width * cn).astype(np.int64)
    bb0, bb1 = b0[:, None].astype(np.int64), b1[:, None].astype(np.int64)
    # 16-bit lanes: each product's high half, then a rounding shift by 2 (VResizeLinearVec_32s8u).
    out = ((((top >> 4) * bb0) >> 16) + (((bottom >> 4) * bb1) >> 16) + 2) >> 2
    return np.clip(out, 0, 255).astype(np.uint8).reshape(height, width, cn)


def _resize_f32(src: np.ndarray, width: int, height: int) -> np.ndarray:
    h, w, cn = src.shape
    x0, x1, fx = _x_coords(w, width)
    a0 = (np.float32(1) - fx).astype(np.float32)[None, :, None]
    a1 = fx[None, :, None]
    horiz = (src[:, x0, :] * a0).astype(np.float32) + (src[:, x1, :] * a1).astype(np.float32)
    y0, y1, fy = _y_coords(h, height)
    b0 = (np.float32(1) - fy).astype(np.float32)[:, None, None]
    b1 = fy[:, None, None]
    return ((horiz[y0] * b0).astype(np.float32) + (horiz[y1] * b1).astype(np.float32)).astype(np.float32)
