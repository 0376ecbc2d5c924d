"""The real TorchPredictor on a small random-init network, for tests marked `model`.

Skips (not fails) when torch or ocrkit.core_model's predictor/checkpoint modules are missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def small_model(seed: int = 0):
    torch = pytest.importorskip("torch")
    network = pytest.importorskip("ocrkit.core_model.network")
    alphabet = pytest.importorskip("ocrkit.core_model.alphabet")
    torch.manual_seed(seed)
    return network.TransformerModel("resnet18", len(alphabet.ALPHABET), 64, 1, 1, 4, 0.0).eval()


def small_predictor(seed: int = 0):
    predictor = pytest.importorskip("ocrkit.core_model.predictor")
    return predictor.TorchPredictor(small_model(seed), device="cpu", max_len=24, batch_size=8)


def write_checkpoint(path: Path, seed: int = 0) -> Path:
    checkpoint = pytest.importorskip("ocrkit.core_model.checkpoint")
    if not hasattr(checkpoint, "save_checkpoint"):
        pytest.skip("ocrkit.core_model.checkpoint.save_checkpoint is not there yet")
    return checkpoint.save_checkpoint(small_model(seed), path)
