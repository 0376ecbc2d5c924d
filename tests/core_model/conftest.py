"""Fixtures for the model tests: small random-init networks and synthetic word-like images.

Everything here is deterministic (fixed seeds). Networks are resnet18 with a small hidden size
unless a test needs the report's exact architecture.
"""

from __future__ import annotations

import numpy as np
import pytest


def synthetic_image(seed: int, *, width: int | None = None, height: int | None = None) -> np.ndarray:
    """A white BGR page with a few dark strokes, like a scanned handwritten word."""
    import cv2

    rng = np.random.default_rng(seed)
    w = width or int(rng.integers(60, 520))
    h = height or int(rng.integers(28, 96))
    img = np.full((h, w, 3), 255, np.uint8)
    for _ in range(int(rng.integers(3, 14))):
        p1 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        p2 = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.line(img, p1, p2, (int(rng.integers(0, 90)),) * 3, int(rng.integers(1, 4)))
    return img


def png_bytes(img: np.ndarray) -> bytes:
    import cv2

    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


@pytest.fixture(scope="session")
def image_bytes() -> list[bytes]:
    """Eight encoded PNG images of varied sizes (narrow ones get padded, wide ones squashed)."""
    return [png_bytes(synthetic_image(i)) for i in range(8)]


@pytest.fixture(scope="session")
def image_batch(image_bytes):
    """The same eight images preprocessed: tensor [8, 3, 64, 256]."""
    from ocrkit.core_model.preprocess import preprocess_images

    return preprocess_images(image_bytes)


def make_model(seed: int, bb_name: str = "resnet18", hidden: int = 64, **kw):
    """A random-init model in eval mode, from a fixed seed."""
    import torch

    from ocrkit.core_model.network import TransformerModel

    torch.manual_seed(seed)
    kw.setdefault("nhead", 4)
    return TransformerModel(bb_name, 92, hidden=hidden, **kw).eval()


@pytest.fixture
def small_model():
    return make_model(0)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """The model tests run single-threaded: tiny decoder ops gain nothing from a second thread, and
    on a shared 2-core machine an OpenMP team waiting for a busy core makes them many times slower."""
    try:
        import torch
    except ImportError:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
