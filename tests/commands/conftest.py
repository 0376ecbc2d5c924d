"""Fixtures the CLI tests share; torch is imported inside them, so torch-free tests here still run."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """A tiny random-init checkpoint (resnet18, hidden 64, 1+1 layers): quick to load, real in layout."""
    pytest.importorskip("torch")
    from ocrkit.core_model.bench import random_init_model
    from ocrkit.core_model.checkpoint import save_checkpoint
    from ocrkit.core_model.network import ModelConfig

    tiny = ModelConfig(bb_name="resnet18", hidden=64, enc_layers=1, dec_layers=1, nhead=2)
    path = tmp_path_factory.mktemp("weights") / "tiny.pt"
    return save_checkpoint(random_init_model(tiny, seed=0), path, epoch=0)
