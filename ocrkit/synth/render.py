"""Render one text in one font, then vary it the way scans of handwriting vary.

1. Pillow draws the text as an ink mask (white on black), at a random size and stroke.
2. albumentations bends the mask: slant (Affine shear), rotation, scale, elastic distortion,
   thicker or thinner strokes (Morphological).
3. The mask is cropped to the ink with uneven margins (as hand-cut crops are).
4. It is laid on paper: a background tone with low-frequency texture, in an ink colour (black,
   blue, violet) at a random opacity.
5. albumentations again: blur, noise, brightness/contrast, gamma, JPEG artefacts.

The "pen" style adds what a pen and a school form add (``--style pen``): albumentations'
GridDistortion (a wavy baseline, letters of uneven size) and a stronger elastic bend; then, written
here because no augmentation library models ink inside a mask: ink that fades along the stroke
(opacity times a low-frequency field), small ink blots, and ruled or squared notebook paper.
The "scan" style draws exactly the random numbers it always drew, so its images are unchanged.

Everything random derives from one integer seed, so a sample is reproducible on its own.
"""

from __future__ import annotations

from functools import lru_cache

import albumentations as A
import cv2
import numpy as np
from PIL import Image, ImageDraw

from ocrkit.synth.fonts import FontFace, load_font

#: ink colours (RGB): blacks, blues, violets as ballpoint and fountain pens leave them
_INKS = np.array(
    [
        (20, 20, 25),
        (40, 40, 45),
        (25, 35, 110),
        (30, 50, 140),
        (15, 25, 80),
        (60, 30, 110),
        (50, 50, 70),
    ],
    dtype=np.float32,
)


@lru_cache(maxsize=1)
def _geometric() -> A.Compose:
    return A.Compose(
        [
            A.Affine(
                shear={"x": (-22, 22), "y": (-3, 3)},
                rotate=(-4, 4),
                scale=(0.9, 1.1),
                border_mode=cv2.BORDER_CONSTANT,
                fill=0,
                p=0.9,
            ),
            A.ElasticTransform(alpha=12, sigma=5, border_mode=cv2.BORDER_CONSTANT, fill=0, p=0.4),
            A.OneOf(
                [
                    # ink is bright in the mask: dilation thickens strokes, erosion thins them
                    A.Morphological(scale=(2, 3), operation="dilation", p=1.0),
                    A.Morphological(scale=(2, 2), operation="erosion", p=1.0),
                ],
                p=0.35,
            ),
        ]
    )


@lru_cache(maxsize=1)
def _pen_geometric() -> A.Compose:
    """The pen style's extra bends of the ink mask, after the scan style's."""
    return A.Compose(
        [
            A.GridDistortion(
                num_steps=5, distort_limit=(-0.25, 0.25), border_mode=cv2.BORDER_CONSTANT, fill=0, p=0.6
            ),
            A.ElasticTransform(alpha=30, sigma=7, border_mode=cv2.BORDER_CONSTANT, fill=0, p=0.3),
        ]
    )


def _low_freq(shape: tuple[int, int], cell: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth random field in [-1, 1] (roughly), varying over ``cell`` pixels."""
    h, w = shape
    coarse = rng.standard_normal((max(2, h // cell), max(2, w // cell))).astype(np.float32)
    return np.clip(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC) / 2.0, -1, 1)


def pen_ink(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Fading ink (opacity falls where a low-frequency field is low) and, sometimes, small blots."""
    out = mask.astype(np.float32)
    if rng.random() < 0.5:
        depth = rng.uniform(0.2, 0.6)
        out *= 1.0 - depth * (0.5 + 0.5 * _low_freq(mask.shape, int(rng.integers(8, 30)), rng))
    if rng.random() < 0.2:
        ys, xs = np.nonzero(mask > 128)
        for _ in range(int(rng.integers(1, 3)) if len(xs) else 0):
            i = int(rng.integers(len(xs)))
            axes = (int(rng.integers(1, 4)), int(rng.integers(1, 3)))
            cv2.ellipse(out, (int(xs[i]), int(ys[i])), axes, float(rng.uniform(0, 180)), 0, 360, 255.0, -1)
    return np.clip(out, 0, 255).astype(np.uint8)


def notebook(bg: np.ndarray, ink_top: int, ink_bottom: int, rng: np.random.Generator) -> np.ndarray:
    """Ruled lines below (and often above) the writing, or a squared grid, in pale blue or grey."""
    h, w = bg.shape[:2]
    colour = bg[0, 0] - np.array(rng.choice([(40, 25, 5), (45, 45, 45), (30, 15, 0)]), dtype=np.float32)
    colour = tuple(float(c) for c in colour)
    if rng.random() < 0.5:  # squared paper: a cell is about half the letter height
        step = max(6, int((ink_bottom - ink_top) * rng.uniform(0.4, 0.7)))
        y0, x0 = int(rng.integers(0, step)), int(rng.integers(0, step))
        for y in range(y0, h, step):
            cv2.line(bg, (0, y), (w - 1, y), colour, 1)
        for x in range(x0, w, step):
            cv2.line(bg, (x, 0), (x, h - 1), colour, 1)
    else:  # a ruled line at the baseline (ink may cross it), sometimes one at the top as well
        y = min(h - 1, ink_bottom - int(rng.integers(0, max(1, (ink_bottom - ink_top) // 4))))
        cv2.line(bg, (0, y), (w - 1, y), colour, 1)
        if rng.random() < 0.4:
            cv2.line(bg, (0, max(0, ink_top)), (w - 1, max(0, ink_top)), colour, 1)
    return bg


@lru_cache(maxsize=1)
def _photometric() -> A.Compose:
    return A.Compose(
        [
            A.GaussianBlur(sigma_limit=(0.3, 1.1), p=0.4),
            A.GaussNoise(std_range=(0.01, 0.06), p=0.5),
            A.RandomBrightnessContrast(brightness_limit=(-0.15, 0.1), contrast_limit=(-0.3, 0.1), p=0.5),
            A.RandomGamma(gamma_limit=(80, 120), p=0.3),
            A.ImageCompression(quality_range=(40, 95), p=0.3),
        ]
    )


def _seed32(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def draw_ink(text: str, face: FontFace, rng: np.random.Generator) -> np.ndarray:
    """The text as an ink mask (uint8, ink = 255) with room around it for the distortions."""
    size = int(rng.integers(28, 46))
    font = load_font(face.path, size)
    stroke = 1 if rng.random() < 0.15 else 0
    left, top, right, bottom = font.getbbox(text, stroke_width=stroke)
    margin = size
    w = max(1, right - left) + 2 * margin
    h = max(1, bottom - top) + 2 * margin
    img = Image.new("L", (w, h), 0)
    ImageDraw.Draw(img).text(
        (margin - left, margin - top), text, font=font, fill=255, stroke_width=stroke, stroke_fill=255
    )
    return np.asarray(img)


def crop_to_ink(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Crop to the ink's bounding box plus uneven margins (left/right wider than top/bottom)."""
    ys, xs = np.nonzero(mask > 40)
    if len(xs) == 0:
        return mask
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    ink_h = y1 - y0
    pad_top = int(rng.integers(1, max(2, int(0.35 * ink_h))))
    pad_bottom = int(rng.integers(1, max(2, int(0.35 * ink_h))))
    pad_left = int(rng.integers(1, max(2, int(0.6 * ink_h))))
    pad_right = int(rng.integers(1, max(2, int(0.8 * ink_h))))
    out = np.zeros((ink_h + pad_top + pad_bottom, x1 - x0 + pad_left + pad_right), dtype=mask.dtype)
    out[pad_top : pad_top + ink_h, pad_left : pad_left + x1 - x0] = mask[y0:y1, x0:x1]
    return out


def paper(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A background [H, W, 3] float32: a light tone (white to greyish/yellowish) with soft texture."""
    h, w = shape
    base = rng.uniform(175, 255)
    tint = np.array([rng.uniform(-8, 4), rng.uniform(-6, 4), rng.uniform(-18, 4)], dtype=np.float32)
    bg = np.full((h, w, 3), base, dtype=np.float32) + tint
    amp = rng.uniform(0, 22)
    if amp > 1:
        coarse = rng.standard_normal((max(2, h // 12), max(2, w // 12))).astype(np.float32)
        texture = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
        bg += amp * texture[..., None] / 2.5
    if rng.random() < 0.15:  # a ruled line, as on form paper
        y = int(rng.integers(int(0.6 * h), h))
        cv2.line(bg, (0, y), (w - 1, y), color=tuple(float(c) for c in bg[0, 0] - 60), thickness=1)
    return np.clip(bg, 0, 255)


def render_sample(text: str, face: FontFace, seed: int, style: str = "scan") -> np.ndarray:
    """One augmented image of ``text`` in ``face``: RGB uint8 [H, W, 3]. Same seed, same pixels."""
    rng = np.random.default_rng(seed)
    # the pen style's own random numbers: the scan style's sequence stays as it was
    pen = np.random.default_rng([seed, 1]) if style == "pen" else None
    mask = draw_ink(text, face, rng)
    geo = _geometric()
    geo.set_random_seed(_seed32(rng))
    mask = geo(image=mask)["image"]
    if pen is not None:
        extra = _pen_geometric()
        extra.set_random_seed(_seed32(pen))
        mask = pen_ink(extra(image=mask)["image"], pen)
    mask = crop_to_ink(mask, rng)

    bg = paper(mask.shape[:2], rng)
    if pen is not None and pen.random() < 0.4:
        ys = np.nonzero(mask.max(axis=1) > 40)[0]
        if len(ys):
            bg = notebook(bg, int(ys.min()), int(ys.max()), pen)
    ink = _INKS[int(rng.integers(len(_INKS)))] + rng.uniform(-10, 10, size=3).astype(np.float32)
    alpha = (mask.astype(np.float32) / 255.0 * rng.uniform(0.75, 1.0))[..., None]
    img = bg * (1 - alpha) + np.clip(ink, 0, 255) * alpha
    img = np.clip(img, 0, 255).astype(np.uint8)

    photo = _photometric()
    photo.set_random_seed(_seed32(rng))
    return photo(image=img)["image"]
