"""Checkpoints in the report's format load strictly; every bad file gives a readable OcrkitError."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ocrkit.core_model.checkpoint import (  # noqa: E402
    CheckpointError,
    infer_config,
    load_checkpoint,
    save_checkpoint,
)
from ocrkit.core_model.network import ModelConfig, TransformerModel  # noqa: E402
from ocrkit.errors import OcrkitError  # noqa: E402

from .conftest import make_model  # noqa: E402

pytestmark = pytest.mark.model


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_report_format_resnet50_loads_strictly(tmp_path):
    """A fresh resnet50/512 saved exactly as the report saved it (no config entry)."""
    torch.manual_seed(1)
    model = TransformerModel("resnet50", 92, hidden=512, enc_layers=2, dec_layers=2, nhead=4)
    path = tmp_path / "model.pt"
    torch.save({"model": model.state_dict(), "epoch": 80, "valid_loss": 0.61}, path)

    loaded = load_checkpoint(path)
    assert loaded.config == ModelConfig("resnet50", 92, 512, 2, 2, 4, 0.1)
    assert loaded.metadata == {"epoch": 80, "valid_loss": 0.61}
    assert not loaded.model.training
    assert _same_weights(model, loaded.model)


def test_architecture_inferred_from_weights(tmp_path):
    model = make_model(2, "resnet18", hidden=96, enc_layers=1, dec_layers=3, nhead=6)
    path = save_checkpoint(model, tmp_path / "small.pt", epoch=3)
    loaded = load_checkpoint(path)
    assert loaded.config == ModelConfig("resnet18", 92, 96, 1, 3, 6, 0.1)
    assert loaded.metadata["epoch"] == 3 and loaded.metadata["config"]["nhead"] == 6
    assert _same_weights(model, loaded.model)
    # without the stored config nhead falls back to the report's 4 (96 is divisible by 4)
    assert infer_config(model.state_dict()).nhead == 4


def test_bare_state_dict_and_module_prefix(tmp_path, small_model):
    bare = tmp_path / "bare.pt"
    torch.save(small_model.state_dict(), bare)
    assert _same_weights(small_model, load_checkpoint(bare).model)

    wrapped = tmp_path / "dp.pt"
    torch.save({"model": {f"module.{k}": v for k, v in small_model.state_dict().items()}}, wrapped)
    assert _same_weights(small_model, load_checkpoint(wrapped).model)


def test_extra_metadata_with_numpy_scalars_loads(tmp_path, small_model):
    """Training loops leave numpy scalars in metric lists; safe loading lets exactly those through."""
    path = tmp_path / "metrics.pt"
    meta = {
        "epoch": 12,
        "train_loss": [np.float64(2.49), np.float32(1.7)],
        "best_cer": np.float64(0.12),
        "steps": np.int64(4066),
        "optimizer": {"state": {}, "param_groups": [{"lr": 0.1, "params": [0, 1]}]},
    }
    torch.save({"model": small_model.state_dict(), **meta}, path)
    loaded = load_checkpoint(path)
    assert loaded.metadata["train_loss"][0] == pytest.approx(2.49)
    assert loaded.metadata["steps"] == 4066
    assert _same_weights(small_model, loaded.model)


def test_numpy_1x_scalar_path_is_accepted(tmp_path, small_model, monkeypatch):
    """Files written under numpy 1.x name ``numpy.core.multiarray.scalar``."""
    scalar = np._core.multiarray.scalar
    monkeypatch.setattr(scalar, "__module__", "numpy.core.multiarray")
    path = tmp_path / "np1.pt"
    torch.save({"model": small_model.state_dict(), "loss": np.float64(0.5)}, path)
    monkeypatch.undo()
    assert b"numpy.core.multiarray" in path.read_bytes()
    assert load_checkpoint(path).metadata["loss"] == 0.5


def test_other_pickled_objects_are_refused_readably(tmp_path, small_model):
    path = tmp_path / "arrays.pt"
    torch.save({"model": small_model.state_dict(), "history": np.array([1.0, 2.0])}, path)
    with pytest.raises(CheckpointError, match="safe loading refuses") as err:
        load_checkpoint(path)
    assert "numpy" in str(err.value)


def test_fp16_weights_cast_back_to_fp32(tmp_path, small_model):
    path = tmp_path / "half.pt"
    half = {k: (v.half() if v.is_floating_point() else v) for k, v in small_model.state_dict().items()}
    torch.save({"model": half}, path)
    model = load_checkpoint(path).model
    sd = model.state_dict()
    assert all(v.dtype == torch.float32 for k, v in sd.items() if v.is_floating_point())
    assert torch.equal(sd["fc_out.weight"], small_model.fc_out.weight.detach().half().float())
    assert sd["backbone.bn1.num_batches_tracked"].dtype == torch.int64


def test_renamed_key_is_listed(tmp_path, small_model):
    sd = dict(small_model.state_dict())
    sd["fc_output.weight"] = sd.pop("fc_out.weight")
    path = tmp_path / "renamed.pt"
    torch.save({"model": sd}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert "missing keys (1): fc_out.weight" in message
    assert "unexpected keys (1): fc_output.weight" in message
    assert "Traceback" not in message


def test_wrong_shape_is_listed(tmp_path, small_model):
    sd = dict(small_model.state_dict())
    sd["fc_out.bias"] = torch.zeros(7)
    path = tmp_path / "shape.pt"
    torch.save(sd, path)
    with pytest.raises(CheckpointError, match=r"wrong shape keys \(1\): fc_out.bias \(7,\)"):
        load_checkpoint(path)


def test_missing_file_and_non_torch_files(tmp_path):
    with pytest.raises(OcrkitError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nope.pt")
    text = tmp_path / "notes.txt"
    text.write_text("not weights")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(text)
    png = tmp_path / "image.pt"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(png)
    with pytest.raises(CheckpointError, match="not a file"):
        load_checkpoint(tmp_path)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(empty)
    good = tmp_path / "cut.pt"
    torch.save({"model": {"w": torch.ones(1000)}}, good)
    good.write_bytes(good.read_bytes()[:300])
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        load_checkpoint(good)


def test_no_model_key(tmp_path):
    path = tmp_path / "opt.pt"
    torch.save({"optimizer": {"lr": 0.1}, "epoch": 2}, path)
    with pytest.raises(
        CheckpointError, match=r"no model weights found \(top-level keys: 'optimizer', 'epoch'\)"
    ):
        load_checkpoint(path)


def test_save_checkpoint_is_the_report_format(tmp_path, small_model):
    path = save_checkpoint(small_model, tmp_path / "sub" / "m.pt", epoch=5)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"model", "config", "epoch"}
    assert raw["config"] == small_model.config.to_dict()
    with pytest.raises(ValueError):
        save_checkpoint(small_model, path, config={})


def test_compact_fp16_file_omits_position_tables_and_loads_back(tmp_path, small_model):
    """The shipped form: float16 tensors, no sinusoid tables; loading rebuilds both as float32."""
    from ocrkit.core_model.checkpoint import DERIVED_BUFFERS
    from ocrkit.core_model.train import save_weights

    full = save_weights(small_model, tmp_path / "full.pt")
    compact = save_weights(small_model, tmp_path / "compact.pt", half=True, step=7)
    raw = torch.load(compact, weights_only=True)
    assert not set(DERIVED_BUFFERS) & set(raw["model"])
    assert raw["omitted_buffers"] == list(DERIVED_BUFFERS) and raw["step"] == 7
    assert {v.dtype for v in raw["model"].values() if v.is_floating_point()} == {torch.float16}
    assert compact.stat().st_size < full.stat().st_size / 2

    loaded = load_checkpoint(compact).model
    expected = small_model.state_dict()
    for key, value in loaded.state_dict().items():
        assert value.dtype == expected[key].dtype, key
        want = expected[key] if key in DERIVED_BUFFERS else expected[key].half().to(expected[key].dtype)
        assert torch.equal(value, want), key


def test_only_listed_position_tables_may_be_missing(tmp_path, small_model):
    sd = dict(small_model.state_dict())
    del sd["pos_encoder.pe"], sd["fc_out.weight"]
    listed = tmp_path / "listed.pt"
    torch.save({"model": sd, "omitted_buffers": ["pos_encoder.pe", "fc_out.weight"]}, listed)
    with pytest.raises(CheckpointError, match=r"missing keys \(1\): fc_out.weight"):
        load_checkpoint(listed)  # a trained weight cannot be declared "omitted"
    unlisted = tmp_path / "unlisted.pt"
    torch.save({"model": sd}, unlisted)
    with pytest.raises(CheckpointError, match=r"missing keys \(2\): pos_encoder.pe, fc_out.weight"):
        load_checkpoint(unlisted)  # nor may a table go missing without being listed
