"""Fixtures for the ONNX engine: exports made once per session (exporting needs torch and onnx)."""

from __future__ import annotations

from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "ocrkit" / "assets" / "samples"


def sample_files() -> list[Path]:
    return sorted(SAMPLES.glob("*.jpg"))


@pytest.fixture(scope="session")
def demo_export(tmp_path_factory) -> Path:
    """The shipped demo checkpoint, exported with `ocrkit export` code (skipped without torch/onnx)."""
    pytest.importorskip("torch")
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from ocrkit.core_model.onnx_export import export_checkpoint
    from ocrkit.weights import shipped_weights_path

    out = tmp_path_factory.mktemp("exports") / "demo"
    export_checkpoint(shipped_weights_path(), out)
    return out


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Every test gets its own export cache: nothing lands in the user's ~/.cache."""
    monkeypatch.setenv("OCRKIT_CACHE_DIR", str(tmp_path / "cache"))
