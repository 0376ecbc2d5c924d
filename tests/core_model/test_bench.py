"""bench: the result's shape with tiny settings (never its wall times)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.model

torch = pytest.importorskip("torch")

from ocrkit.core_model.bench import BenchResult, random_init_model, run_bench  # noqa: E402
from ocrkit.core_model.network import ModelConfig  # noqa: E402
from ocrkit.core_model.samples import sample_images  # noqa: E402

TINY = ModelConfig(bb_name="resnet18", hidden=64, enc_layers=1, dec_layers=1, nhead=2)


@pytest.fixture(scope="module")
def tiny_model():
    return random_init_model(TINY, seed=0)


def test_random_init_is_seeded():
    a = random_init_model(TINY, seed=3).state_dict()
    b = random_init_model(TINY, seed=3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_bench_result_shape(tiny_model):
    images = [s.png for s in sample_images(3)]
    stages = []
    result = run_bench(
        tiny_model,
        images,
        runs=1,
        reference_images=2,
        batch_sizes=(1, 4),
        warmup=1,
        max_len=4,
        progress=stages.append,
    )
    assert isinstance(result, BenchResult)
    assert result.images == 3 and result.reference_images == 2 and result.max_len == 4
    assert result.reference.samples == 2
    assert result.fast.samples == 3 and result.encoder.samples == 3
    assert set(result.throughput) == {1, 4}
    assert 1 <= result.mean_tokens <= 4
    # float32: the fast decoder reproduces the report's tokens
    assert result.identical is True
    assert result.int8 is None
    assert any("reference" in s for s in stages)

    js = result.to_json()
    for key in (
        "reference_ms_p50",
        "reference_ms_p95",
        "fast_ms_p50",
        "fast_ms_p95",
        "encoder_ms_p50",
        "mean_tokens",
        "speedup",
        "identical",
        "throughput",
        "device",
        "torch_version",
        "threads",
        "weights",
    ):
        assert key in js, key
    assert set(js["throughput"]) == {"1", "4"}
    assert js["weights"].startswith("random-init")
    assert js["speedup"] > 0 and js["fast_ms_p50"] > 0


def test_bench_int8(tiny_model):
    result = run_bench(
        tiny_model,
        [s.png for s in sample_images(2)],
        runs=1,
        reference_images=1,
        batch_sizes=(1,),
        warmup=0,
        max_len=3,
        quantize="int8",
    )
    assert result.int8 is not None
    q = result.to_json()["int8"]
    assert 0.0 <= q["char_agreement"] <= 1.0
    assert q["images"] == 2 and set(q["throughput"]) == {"1"}
    assert q["speedup"] > 0


def test_bench_rejects_bad_settings(tiny_model):
    with pytest.raises(ValueError, match="quantize"):
        run_bench(tiny_model, [sample_images(1)[0].png], quantize="fp4")
    with pytest.raises(ValueError, match="no images"):
        run_bench(tiny_model, [])
