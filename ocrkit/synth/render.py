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
The "joined" style is the pen style drawn letter by letter (``draw_joined_ink``): letters set
closer than the font sets them, each on a slightly shifted baseline, and neighbouring lowercase
letters joined by a connecting stroke from one letter's foot to the next one's shoulder, as a
connected school hand joins them. Print and semi-connected faces then look like joined writing,
where dropped letters inside joined words are the model's main error. Written here too: no
augmentation library draws text, and Pillow sets a string only as a whole.
The "scan" style draws exactly the random numbers it always drew, so its images are unchanged.

Everything random derives from one integer seed, so a sample is reproducible on its own.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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


def _glyph_mask(path: str, size: int, ch: str) -> tuple[np.ndarray, tuple[int, int]]:
    """``ch``'s ink (bool [H, W]) and its offset from the origin Pillow draws the letter at."""
    glyph, offset = load_font(Path(path), size).getmask2(ch)
    return np.asarray(glyph, dtype=np.uint8).reshape(glyph.size[::-1]) > 127, offset


@lru_cache(maxsize=256)
def _stroke_width(path: str, size: int) -> int:
    """The face's stroke width at ``size`` (pixels): twice the deepest ink in an "о"."""
    mask, _ = _glyph_mask(path, size, "о")
    if not mask.any():
        return 2
    depth = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    return max(1, round(2 * float(depth.max())))


def _joins(a: str, b: str) -> bool:
    return a.isalpha() and b.isalpha() and a.islower() and b.islower()


@lru_cache(maxsize=4096)
def _glyph_ends(path: str, size: int, ch: str) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Where a connecting stroke leaves ``ch`` and where one enters it, from the origin Pillow draws at.

    The exit is the rightmost ink in the lower third of the x-height band, the entry the leftmost
    ink in its middle: a joined hand leaves a letter at its foot and enters the next at its side.
    From the glyph's own ink, not ``getbbox``, which includes the side bearings.
    """
    font = load_font(Path(path), size)
    x_top, baseline = font.getbbox("х")[1], font.getmetrics()[0]
    mask, (ox, oy) = _glyph_mask(path, size, ch)
    band = baseline - x_top
    if not mask.any() or band <= 0:
        return None

    def extreme(lo: float, hi: float, right: bool) -> tuple[float, float] | None:
        rows = range(max(0, int(lo) - oy), min(mask.shape[0], int(hi) - oy + 1))
        best = None
        for r in rows:
            cols = np.nonzero(mask[r])[0]
            if len(cols):
                x = float(cols.max() if right else cols.min())
                if best is None or (x > best[0] if right else x < best[0]):
                    best = (x, float(r))
        return None if best is None else (best[0] + ox, best[1] + oy)

    exit_ = extreme(baseline - band / 3, baseline, right=True)
    entry = extreme(x_top + 0.2 * band, x_top + 0.6 * band, right=False)
    return None if exit_ is None or entry is None else (exit_, entry)


def draw_joined_ink(
    text: str, face: FontFace, rng: np.random.Generator, pen: np.random.Generator, join_p: float | None = None
) -> np.ndarray:
    """The text as an ink mask, letter by letter, closer set and joined (the "joined" style).

    ``join_p`` (default: drawn per image, 0.5-1.0) is the chance that two neighbouring lowercase
    letters get a connecting stroke.
    """
    size = int(rng.integers(28, 46))
    font = load_font(face.path, size)
    ascent, descent = font.getmetrics()
    stroke = _stroke_width(str(face.path), size)
    if join_p is None:
        join_p = float(pen.uniform(0.5, 1.0))
    tighten = float(pen.uniform(0.0, 0.12)) * size  # how much closer than the font sets letters
    margin = size
    width = int(font.getlength(text)) + 2 * margin + len(text) * 2
    img = Image.new("L", (width, ascent + descent + 2 * margin), 0)
    draw = ImageDraw.Draw(img)
    x = float(margin)
    previous: tuple[str, float, float] | None = None  # letter and where it was drawn
    for ch in text:
        if ch.isspace():
            x += font.getlength(" ") * float(pen.uniform(0.8, 1.3))
            previous = None
            continue
        y = margin + float(pen.normal(0.0, 0.03 * size))
        # drawn for every letter, joined or not: the same seed sets the same letters either way
        roll, thickness = float(pen.random()), float(pen.uniform(0.6, 1.0))
        draw.text((x, y), ch, font=font, fill=255)
        if previous is not None and _joins(previous[0], ch) and roll < join_p:
            leaving = _glyph_ends(str(face.path), size, previous[0])
            entering = _glyph_ends(str(face.path), size, ch)
            if leaving and entering:
                a = np.array([previous[1] + leaving[0][0], previous[2] + leaving[0][1]])
                b = np.array([x + entering[1][0], y + entering[1][1]])
                # from the foot of one letter up to the side of the next: a quadratic Bezier
                c = np.array([(a[0] + b[0]) / 2, max(a[1], b[1])])
                t = np.linspace(0.0, 1.0, 12)[:, None]
                curve = (1 - t) ** 2 * a + 2 * (1 - t) * t * c + t**2 * b
                points = [tuple(p) for p in curve]
                draw.line(points, fill=255, width=max(2, round(stroke * thickness)), joint="curve")
        previous = (ch, x, y)
        x += font.getlength(ch) - tighten * float(pen.uniform(0.5, 1.0))
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
    # the pen (and joined) style's own random numbers: the scan style's sequence stays as it was
    pen = np.random.default_rng([seed, 1]) if style in ("pen", "joined") else None
    if style == "joined":
        mask = draw_joined_ink(text, face, rng, np.random.default_rng([seed, 2]))
    else:
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
