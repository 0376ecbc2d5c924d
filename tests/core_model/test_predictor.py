"""TorchPredictor: bytes -> Predictions, weights resolution, devices, batching."""

from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")

from ocrkit.core_model.checkpoint import save_checkpoint  # noqa: E402
from ocrkit.core_model.predictor import (  # noqa: E402
    WEIGHTS_ENV,
    TorchPredictor,
    default_weights_path,
    resolve_device,
)
from ocrkit.errors import OcrkitError  # noqa: E402
from ocrkit.prediction import ImageDecodeError, Prediction, Predictor  # noqa: E402

from .conftest import make_model  # noqa: E402

pytestmark = pytest.mark.model


@pytest.fixture
def predictor(small_model) -> TorchPredictor:
    return TorchPredictor(small_model, device="cpu", max_len=30)


def test_predict_images(predictor, image_bytes):
    p: Predictor = predictor
    preds = p.predict_images(image_bytes)
    assert len(preds) == len(image_bytes)
    for pred in preds:
        assert isinstance(pred, Prediction)
        assert isinstance(pred.text, str)
        assert 0.0 <= pred.confidence <= 1.0
        assert len(pred.char_probs) == len(pred.text)
        assert 91 not in pred.tokens
    assert predictor.predict_images([]) == []


def test_batches_match_single_images(small_model, image_bytes):
    big = TorchPredictor(small_model, device="cpu", max_len=30, batch_size=32).predict_images(image_bytes)
    chunked = TorchPredictor(small_model, device="cpu", max_len=30, batch_size=3).predict_images(image_bytes)
    single = TorchPredictor(small_model, device="cpu", max_len=30, batch_size=1)
    assert [p.text for p in big] == [p.text for p in chunked]
    for i in (0, 5):
        assert single.predict_images([image_bytes[i]])[0].text == big[i].text


def test_stages_compose_to_predict_tensors(predictor, image_bytes):
    batch = predictor.preprocess(image_bytes[:3])
    encoded = predictor.encode_images(batch)
    assert encoded.memory.shape == (8, 3, 64)
    decoded = predictor.decode(encoded)
    assert [d.text for d in decoded] == [p.text for p in predictor.predict_tensors(batch)]


def test_bad_image_raises_decode_error(predictor, image_bytes):
    with pytest.raises(ImageDecodeError, match="not a readable image"):
        predictor.predict_images([b"GIF89a-not-really"])
    with pytest.raises(ImageDecodeError, match="image 2 of 2"):
        predictor.predict_images([image_bytes[0], image_bytes[1][:40]])


def test_from_weights_path_and_env(tmp_path, small_model, image_bytes, monkeypatch):
    path = save_checkpoint(small_model, tmp_path / "model.pt", epoch=1)
    expected = [p.text for p in TorchPredictor(small_model, max_len=30).predict_images(image_bytes[:3])]

    loaded = TorchPredictor.from_weights(path, device="cpu", max_len=30)
    assert [p.text for p in loaded.predict_images(image_bytes[:3])] == expected

    monkeypatch.setenv(WEIGHTS_ENV, str(path))
    from_env = TorchPredictor.from_weights(None, max_len=30)
    assert [p.text for p in from_env.predict_images(image_bytes[:3])] == expected


def test_no_weights_is_a_clear_error(monkeypatch):
    monkeypatch.delenv(WEIGHTS_ENV, raising=False)
    monkeypatch.setenv("OCRKIT_DEMO_WEIGHTS", "0")  # the shipped demo checkpoint would answer otherwise
    assert default_weights_path() is None
    with pytest.raises(OcrkitError) as err:
        TorchPredictor.from_weights(None)
    message = str(err.value)
    assert WEIGHTS_ENV in message and "model.pt" in message


def test_missing_weights_file(tmp_path, monkeypatch):
    monkeypatch.setenv(WEIGHTS_ENV, str(tmp_path / "gone.pt"))
    with pytest.raises(OcrkitError, match="checkpoint not found"):
        TorchPredictor.from_weights()


def test_device_selection_and_logging(small_model, caplog):
    with caplog.at_level(logging.INFO, logger="ocrkit.model"):
        p = TorchPredictor(small_model, device=None)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert p.device.type == expected
    assert next(p.model.parameters()).device.type == expected
    assert any(expected in r.getMessage() for r in caplog.records if r.name == "ocrkit.model")
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(OcrkitError, match="unsupported device|unknown device"):
        resolve_device("tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only behaviour")
def test_cpu_only_machine_refuses_cuda_and_fp16(small_model):
    with pytest.raises(OcrkitError, match="CUDA is not available"):
        TorchPredictor(small_model, device="cuda")
    with pytest.raises(OcrkitError, match="fp16 needs a CUDA device"):
        TorchPredictor(small_model, fp16=True)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fast_equals_reference_and_fp16_runs(image_bytes, image_batch):
    from ocrkit.core_model.decoding import reference_decode

    gpu = TorchPredictor(make_model(0), device="cuda", max_len=30)
    assert next(gpu.model.parameters()).is_cuda
    fast = gpu.decode(gpu.encode_images(image_batch[:2]))
    ref = reference_decode(gpu.model, image_batch[:2].cuda(), max_len=30)
    assert [d.tokens for d in fast] == [d.tokens for d in ref]
    half = TorchPredictor(make_model(0), device="cuda", max_len=30, fp16=True).predict_images(image_bytes)
    assert len(half) == len(image_bytes) and all(0.0 <= p.confidence <= 1.0 for p in half)


def test_invalid_options(small_model):
    with pytest.raises(OcrkitError, match="quantize"):
        TorchPredictor(small_model, quantize="fp4")
    with pytest.raises(OcrkitError, match="at least 1"):
        TorchPredictor(small_model, batch_size=0)


def test_model_with_another_alphabet_is_refused():
    from ocrkit.core_model.network import TransformerModel

    torch.manual_seed(0)
    model = TransformerModel("resnet18", 40, hidden=32, nhead=4)
    with pytest.raises(OcrkitError, match="alphabet has 92"):
        TorchPredictor(model, device="cpu")


def test_int8_predictor_on_cpu(small_model, image_bytes):
    p = TorchPredictor(small_model, device="cpu", quantize="int8", max_len=20)
    assert len(p.predict_images(image_bytes[:2])) == 2
