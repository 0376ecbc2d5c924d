"""`ocrkit export` and `ocrkit bench --engine both` through the console-script entry."""

from __future__ import annotations

import json

import pytest

from tests.cli import run

from .conftest import sample_files

pytestmark = pytest.mark.model
torch = pytest.importorskip("torch")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def tiny_pt(tmp_path_factory):
    from ocrkit.core_model.checkpoint import save_checkpoint
    from ocrkit.core_model.network import TransformerModel

    torch.manual_seed(0)
    model = TransformerModel("resnet18", 92, hidden=64, enc_layers=1, dec_layers=1, nhead=2).eval()
    return save_checkpoint(model, tmp_path_factory.mktemp("tiny") / "tiny.pt")


def test_export_command(capsys, tmp_path, tiny_pt):
    out = tmp_path / "tiny-onnx"
    code, stdout, err = run(
        capsys, "export", "--format", "onnx", "--weights", str(tiny_pt), "--out", str(out), "--output", "json"
    )
    assert code == 0, err
    summary = json.loads(stdout)
    assert summary["architecture"] == "resnet18 / hidden 64 / 1+1 layers / 2 heads"
    assert set(summary["graphs"]) == {"encoder.onnx", "decoder_step.onnx"}
    assert all(g["bytes"] > 0 for g in summary["graphs"].values())
    code, stdout, err = run(
        capsys,
        "predict",
        "--engine",
        "onnx",
        "--weights",
        str(out),
        str(sample_files()[0]),
        "--format",
        "json",
    )
    assert code == 0, err
    assert len(json.loads(stdout)) == 1


def test_export_refuses_existing_out_and_bad_checkpoints(capsys, tmp_path):
    out = tmp_path / "exists"
    out.mkdir()
    code, _, err = run(capsys, "export", "--out", str(out))
    assert code == 2 and "already exists" in err and list(out.iterdir()) == []
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02garbage")
    code, _, err = run(capsys, "export", "--weights", str(bad), "--out", str(tmp_path / "new"))
    assert code == 2 and "not a PyTorch checkpoint" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.pt", "exists"]


def test_predict_onnx_with_pt_shows_the_export_line(capsys, tiny_pt):
    code, stdout, err = run(
        capsys,
        "predict",
        "--engine",
        "onnx",
        "--weights",
        str(tiny_pt),
        str(sample_files()[0]),
        "--format",
        "json",
    )
    assert code == 0, err
    assert "exporting" in err and "to ONNX" in err
    code, _, err = run(
        capsys, "predict", "--engine", "onnx", "--weights", str(tiny_pt), str(sample_files()[0])
    )
    assert code == 0 and "exporting" not in err  # cached


def test_quantize_is_refused_for_onnx(capsys, tiny_pt):
    code, _, err = run(
        capsys,
        "predict",
        "--engine",
        "onnx",
        "--quantize",
        "int8",
        "--weights",
        str(tiny_pt),
        str(sample_files()[0]),
    )
    assert code == 2 and "torch-engine option" in err


@pytest.mark.slow
def test_bench_both_engines_side_by_side(capsys, tmp_path, tiny_pt):
    from ocrkit.costing.profiles import load_profile

    profile = tmp_path / "tiny.json"
    code, stdout, err = run(
        capsys,
        "bench",
        "--engine",
        "both",
        "--weights",
        str(tiny_pt),
        "--images",
        str(sample_files()[0].parent),
        "--limit",
        "3",
        "--runs",
        "1",
        "--cold-runs",
        "1",
        "--max-len",
        "6",
        "--threads",
        "1",
        "--save-profile",
        str(profile),
        "--format",
        "json",
    )
    assert code == 0, err
    result = json.loads(stdout)
    assert set(result["engines"]) == {"torch", "onnx"}
    assert result["identical_tokens"] == 3 and result["identical_texts"] == 3
    for name, timing in result["engines"].items():
        assert timing["threads"] == 1
        assert set(timing["throughput"]) == {"1", "8", "32"}
        assert timing["cold_start_s"] > 0 and timing["peak_rss_mb"] > 0
        saved = load_profile(tmp_path / f"tiny-{name}.json")
        assert saved.engine == name and saved.hardware.cores == 1
        assert saved.latency_batch1.p50_ms == pytest.approx(timing["fast_ms_p50"], abs=0.01)
    assert set(result["onnx_over_torch"]) == {"p50", "cold_start", "peak_rss"}
    assert not profile.exists()  # two engines: two files beside it, named by engine


def test_bench_both_needs_a_pt(capsys, tmp_path, demo_export):
    code, _, err = run(capsys, "bench", "--engine", "both", "--weights", str(demo_export))
    assert code == 2 and "give --weights the .pt" in err


@pytest.mark.slow
def test_bench_torch_save_profile_measures_cold_start(capsys, tmp_path, tiny_pt):
    from ocrkit.costing.profiles import load_profile

    profile = tmp_path / "torch.yaml"
    code, stdout, err = run(
        capsys,
        "bench",
        "--weights",
        str(tiny_pt),
        "--images",
        str(sample_files()[0].parent),
        "--limit",
        "1",
        "--runs",
        "1",
        "--reference-images",
        "1",
        "--cold-runs",
        "1",
        "--max-len",
        "3",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--save-profile",
        str(profile),
        "--format",
        "json",
    )
    assert code == 0, err
    result = json.loads(stdout)
    saved = load_profile(profile)
    assert saved.engine == "torch" and saved.cold_start_s == result["cold_start_s"] > 0
    assert saved.peak_rss_mb == result["peak_rss_mb"] > 0
    assert saved.latency_batch1.p50_ms == pytest.approx(result["fast_ms_p50"], abs=0.01)
