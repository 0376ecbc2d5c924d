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


@pytest.fixture
def fake_weights(tmp_path) -> Path:
    """Random bytes: the deploy machinery (and the emulated control planes) only pack and upload them."""
    path = tmp_path / "model.pt"
    path.write_bytes(os.urandom(200_000))
    return path
