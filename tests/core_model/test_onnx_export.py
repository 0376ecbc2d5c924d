"""The ONNX export + engine against the torch fast decoder: same tokens, same texts (float32)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.model

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from ocrkit.core_model.alphabet import EOS, PAD  # noqa: E402
from ocrkit.core_model.checkpoint import save_checkpoint  # noqa: E402
from ocrkit.core_model.decoding import FastDecoder  # noqa: E402
from ocrkit.core_model.onnx_export import export_checkpoint, export_model  # noqa: E402
from ocrkit.core_model.predictor import TorchPredictor  # noqa: E402
from ocrkit.engine.manifest import DECODER_FILE, ENCODER_FILE, MANIFEST_FILE, read_manifest  # noqa: E402
from ocrkit.engine.onnx_runtime import OnnxPredictor  # noqa: E402
from ocrkit.engine.preprocess import OPENCV, preprocess_batch  # noqa: E402
from ocrkit.errors import OcrkitError  # noqa: E402

from .conftest import make_model  # noqa: E402

SAMPLES = Path(__file__).resolve().parents[2] / "ocrkit" / "assets" / "samples"
ZERO_SHA = "0" * 64


def sample_bytes() -> list[bytes]:
    return [p.read_bytes() for p in sorted(SAMPLES.glob("*.jpg"))]


def bench_bytes() -> list[bytes]:
    from ocrkit.core_model.samples import sample_images

    return [s.png for s in sample_images()]


def export(model, tmp_path: Path, name: str = "export") -> Path:
    out = tmp_path / name
    export_model(model, out, source_sha256=ZERO_SHA, source_name="random-init")
    return out


def mismatches(torch_out, onnx_out) -> list[str]:
    return [
        f"image {i}: torch {a.text!r} {a.tokens} vs onnx {b.text!r} {b.tokens}"
        for i, (a, b) in enumerate(zip(torch_out, onnx_out, strict=True))
        if a.tokens != b.tokens or a.text != b.text
    ]


# -- the demo checkpoint on the shipped and the built-in samples --------------------------------


@pytest.fixture(scope="module")
def demo_pair(tmp_path_factory):
    from ocrkit.weights import shipped_weights_path

    out = tmp_path_factory.mktemp("onnx") / "demo"
    export_checkpoint(shipped_weights_path(), out)
    return TorchPredictor.from_weights(shipped_weights_path(), device="cpu"), OnnxPredictor(out, threads=1)


@pytest.mark.parametrize("images", [sample_bytes, bench_bytes], ids=["12 samples", "32 bench samples"])
@pytest.mark.parametrize("batch_size", [1, 32])
def test_demo_checkpoint_same_text_as_torch(demo_pair, images, batch_size):
    tp, op = demo_pair
    data = images()
    tp.batch_size = op.batch_size = batch_size
    a, b = tp.predict_images(data), op.predict_images(data)
    assert mismatches(a, b) == []
    assert all(abs(x.confidence - y.confidence) < 1e-4 for x, y in zip(a, b, strict=True))
    assert sum(p.text != "" for p in b) == len(data)  # it read something from every image


def test_export_directory_layout(demo_pair):
    _, op = demo_pair
    m = read_manifest(op.directory)
    names = sorted(p.name for p in op.directory.iterdir())
    assert names == sorted([ENCODER_FILE, DECODER_FILE, MANIFEST_FILE])
    from ocrkit.core_model.onnx_export import sha256_of
    from ocrkit.weights import shipped_weights_path

    assert m.source_sha256 == sha256_of(shipped_weights_path())
    assert m.graphs[ENCODER_FILE] == sha256_of(op.directory / ENCODER_FILE)


def test_graphs_have_dynamic_batch_and_sequence_axes(demo_pair):
    _, op = demo_pair
    dims = {i.name: i.shape for i in op.step.get_inputs()}
    assert dims["tokens"] == ["batch", "new"] and dims["attn_mask"] == ["batch", 1, "new", "total"]
    assert dims["past_k_0"][0] == "batch" and dims["past_k_0"][2] == "past"
    assert op.encoder.get_inputs()[0].shape[0] == "batch"


# -- the report's architecture, random init: token for token ------------------------------------


def test_report_architecture_random_init_token_for_token(tmp_path):
    """resnet50 / hidden 512 / 2+2 layers / 4 heads; random weights never stop, so rows run to the cap:
    batch 12 (no lookahead) and single images (lookahead drafts verified in one pass)."""
    model = make_model(5, "resnet50", hidden=512)
    out = export(model, tmp_path)
    x = preprocess_batch(sample_bytes(), using=OPENCV)
    fast = FastDecoder(model)
    op = OnnxPredictor(out, max_len=24, threads=1)
    torch_out = fast(torch.from_numpy(x), max_len=24)
    onnx_out = op.decode(op.encode_images(x))
    assert mismatches(torch_out, onnx_out) == []
    for i in range(3):
        t1 = fast(torch.from_numpy(x[i : i + 1]), max_len=24)
        o1 = op.decode(op.encode_images(x[i : i + 1]))
        assert mismatches(t1, o1) == []
        assert o1[0].passes == t1[0].passes  # the same lookahead drafts were accepted


# -- per-row EOS and emitted PAD --------------------------------------------------------------


def _biased(base, token: int, offset: float):
    import copy

    model = copy.deepcopy(base)
    with torch.no_grad():
        model.fc_out.bias[token] += offset
    return model


def test_rows_stop_at_their_own_eos(tmp_path, image_batch):
    base = make_model(3)
    with torch.no_grad():
        base.backbone.fc.weight.mul_(20)
    for offset in [x / 8 for x in range(24)]:
        model = _biased(base, EOS, offset)
        torch_out = FastDecoder(model)(image_batch, max_len=40)
        lengths = {len(d.tokens) for d in torch_out}
        if len(lengths) >= 3 and any(d.eos for d in torch_out):
            break
    else:
        pytest.fail("no EOS bias gave rows of different lengths")
    op = OnnxPredictor(export(model, tmp_path), max_len=40, threads=1)
    onnx_out = op.decode(op.encode_images(image_batch.numpy()))
    assert mismatches(torch_out, onnx_out) == []
    assert [d.eos for d in onnx_out] == [d.eos for d in torch_out]
    for i in range(len(image_batch)):  # batch equals single images
        single = op.decode(op.encode_images(image_batch[i : i + 1].numpy()))[0]
        assert single.tokens == onnx_out[i].tokens


def test_emitted_pad_is_masked_like_torch(tmp_path, image_batch):
    base = make_model(4)
    with torch.no_grad():
        base.backbone.fc.weight.mul_(20)
    for offset in [x / 4 for x in range(40)]:
        model = _biased(base, PAD, offset)
        torch_out = FastDecoder(model)(image_batch, max_len=30)
        if any(PAD in d.tokens[1:] and len(d.tokens) > d.tokens.index(PAD) + 2 for d in torch_out):
            break
    else:
        pytest.fail("no PAD bias made a row emit PAD mid-sequence")
    op = OnnxPredictor(export(model, tmp_path), max_len=30, threads=1)
    assert mismatches(torch_out, op.decode(op.encode_images(image_batch.numpy()))) == []


# -- bad input: one line, nothing left behind ------------------------------------------------


def test_corrupt_or_foreign_checkpoint_leaves_nothing(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    out = tmp_path / "out" / "export"
    with pytest.raises(OcrkitError, match="not a PyTorch checkpoint"):
        export_checkpoint(bad, out)
    foreign = tmp_path / "foreign.pt"
    torch.save({"model": {"encoder.weight": torch.zeros(3, 3)}}, foreign)
    with pytest.raises(OcrkitError, match="does not match the OCR model"):
        export_checkpoint(foreign, out)
    assert not out.exists()
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_failed_export_removes_its_temporary_directory(tmp_path, monkeypatch):
    import ocrkit.core_model.onnx_export as ox

    def boom(*_a, **_k):
        raise RuntimeError("exporter failed")

    monkeypatch.setattr(ox, "_export", boom)
    with pytest.raises(RuntimeError):
        export(make_model(0), tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_existing_out_is_refused_and_untouched(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    with pytest.raises(OcrkitError, match="already exists"):
        export(make_model(0), tmp_path, name="mine")
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


# -- the .pt -> export cache -------------------------------------------------------------------


def test_pt_weights_are_exported_once_into_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OCRKIT_CACHE_DIR", str(tmp_path / "cache"))
    pt = save_checkpoint(make_model(1), tmp_path / "tiny.pt")
    lines: list[str] = []
    first = OnnxPredictor.from_weights(pt, on_export=lines.append, max_len=5, threads=1)
    from ocrkit.core_model.onnx_export import sha256_of

    assert first.directory == tmp_path / "cache" / "onnx" / sha256_of(pt)
    assert len(lines) == 1 and "exporting" in lines[0] and str(pt) in lines[0]
    stamp = os.stat(first.directory / ENCODER_FILE).st_mtime_ns
    second = OnnxPredictor.from_weights(pt, on_export=lines.append, max_len=5, threads=1)
    assert second.directory == first.directory and len(lines) == 1
    assert os.stat(first.directory / ENCODER_FILE).st_mtime_ns == stamp
    # a stale cache entry (another ocrkit version) is exported again
    import json

    manifest = first.directory / MANIFEST_FILE
    data = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**data, "ocrkit_version": "0.0.0"}))
    OnnxPredictor.from_weights(pt, on_export=lines.append, max_len=5, threads=1)
    assert len(lines) == 2 and read_manifest(first.directory).source_sha256 == sha256_of(pt)


def test_engine_seam_loads_onnx(tmp_path):
    from ocrkit.engine import load_predictor

    out = export(make_model(2), tmp_path)
    predictor = load_predictor("onnx", out, batch_size=4, max_len=5, threads=1)
    assert isinstance(predictor, OnnxPredictor)
    preds = predictor.predict_images(sample_bytes()[:2])
    assert len(preds) == 2 and all(len(p.tokens) <= 5 for p in preds)
    assert np.isfinite([p.confidence for p in preds]).all()


# -- a fresh synth split of 500 images --------------------------------------------------------


@pytest.mark.slow
def test_fresh_synth_split_of_500_same_text(tmp_path, demo_pair):
    """`ocrkit synth` (seed 7, never used in training): 500 images, both engines, batch 32."""
    from ocrkit.synth import find_fonts
    from ocrkit.synth.generate import SynthConfig, generate_dataset

    if not find_fonts().faces:
        pytest.skip("needs Cyrillic fonts installed")
    generate_dataset(SynthConfig(out=tmp_path / "synth", count=0, test_count=500, unseen_count=0, seed=7))
    files = sorted((tmp_path / "synth" / "test").iterdir())
    assert len(files) == 500
    data = [p.read_bytes() for p in files]
    tp, op = demo_pair
    tp.batch_size = op.batch_size = 32
    x_cv = preprocess_batch(data, using=OPENCV)
    assert np.array_equal(op.preprocess(data), x_cv)  # Pillow + numpy resize == OpenCV, bit for bit
    torch_out = tp.predict_tensors(torch.from_numpy(x_cv))
    onnx_out = op.predict_arrays(op.preprocess(data))
    different = [
        f"{files[i].name}: torch {a.text!r} vs onnx {b.text!r} "
        f"(confidences {a.confidence:.4f} / {b.confidence:.4f})"
        for i, (a, b) in enumerate(zip(torch_out, onnx_out, strict=True))
        if a.text != b.text or a.tokens != b.tokens
    ]
    assert different == []
