"""Fixtures the AWS and GCP provider tests share: checkpoints to deploy, build folders, fake weights."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def weights(tmp_path_factory) -> dict[int, Path]:
    """Two small random-init checkpoints (resnet18, hidden 64), saved by save_checkpoint."""
    from tests.gateway.realmodel import write_checkpoint

    folder = tmp_path_factory.mktemp("weights")
    return {seed: write_checkpoint(folder / f"model-{seed}.pt", seed=seed) for seed in (0, 1)}


@pytest.fixture(scope="session")
def build_dirs(tmp_path_factory) -> dict[int, Path]:
    """One build folder per checkpoint, shared by the session: each artifact is compressed once."""
    root = tmp_path_factory.mktemp("builds")
    return {seed: root / f"seed-{seed}" for seed in (0, 1)}


def structural_checkpoint(path: Path, payload: int = 200_000) -> Path:
    """A torch.save zip with the keys of ocrkit's model (ResNet + Transformer) and `payload` random bytes:
    it passes deploy's structure check; the deploy machinery only packs and uploads it."""
    import torch

    sd = {
        "backbone.conv1.weight": torch.frombuffer(bytearray(os.urandom(payload)), dtype=torch.uint8),
        "backbone.layer1.0.conv1.weight": torch.zeros(1),
        "transformer.encoder.layers.0.linear1.weight": torch.zeros(1),
        "transformer.decoder.layers.0.linear1.weight": torch.zeros(1),
        "decoder.weight": torch.zeros(4, 2),
    }
    torch.save({"model": sd}, path)
    return path


@pytest.fixture
def fake_weights(tmp_path) -> Path:
    """A structurally valid checkpoint of random bytes (see `structural_checkpoint`)."""
    return structural_checkpoint(tmp_path / "model.pt")
