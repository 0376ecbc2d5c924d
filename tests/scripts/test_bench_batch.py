"""scripts/bench_batch.py: the folder it times is what it says, and the in-process A/B measures both sides."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_batch.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_batch", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses resolve their module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def bench_pngs():
    from ocrkit.core_model.samples import sample_images

    return [s.png for s in sample_images()]


def test_folder_cycles_the_samples_then_the_bench_images(bench, bench_pngs, tmp_path):
    bench.build_folder(tmp_path, 50, bench_pngs)
    files = sorted((tmp_path / "images").iterdir())
    assert [f.name for f in files[:2]] == ["img000000.jpg", "img000001.jpg"]
    assert len(files) == 50
    samples = sorted(bench.SAMPLES.glob("*.jpg"))
    assert files[0].read_bytes() == samples[0].read_bytes()
    assert files[12].read_bytes() == bench_pngs[0]  # after the 12 sample crops, the bench images
    assert files[44].read_bytes() == samples[0].read_bytes()  # 12 + 32: the cycle starts again
    assert os.stat(files[0]).st_ino == os.stat(files[44]).st_ino  # hard links, not copies


def test_pipeline_ab_times_the_runner_and_the_model_alone(bench, bench_pngs, tmp_path):
    pytest.importorskip("onnxruntime")
    from ocrkit.weights import resolve_weights

    bench.build_folder(tmp_path, 12, bench_pngs)
    result = bench.measure_pipeline_ab(
        tmp_path / "images",
        engine="onnx",
        weights=resolve_weights(None),
        threads=1,
        workers=2,
        batch_size=4,
        images=8,
        rounds=2,
    )
    assert (result["images"], result["rounds"], result["workers"], result["batch_size"]) == (8, 2, 2, 4)


def test_pipeline_ab_refuses_a_run_that_lost_images(bench, bench_pngs, tmp_path):
    """A runner that turns an image into an error row is no throughput figure: the A/B stops."""
    pytest.importorskip("onnxruntime")
    from ocrkit.weights import resolve_weights

    bench.build_folder(tmp_path, 4, bench_pngs)
    broken = tmp_path / "images" / "img000001.jpg"
    data = broken.read_bytes()
    broken.unlink()  # a hard link: replace it, never write through to the sample crop
    broken.write_bytes(data[:20])  # a JPEG header, no image
    with pytest.raises(SystemExit, match="4 rows for 4 images, 1 errors"):
        bench.measure_pipeline_ab(
            tmp_path / "images",
            engine="onnx",
            weights=resolve_weights(None),
            threads=1,
            workers=2,
            batch_size=4,
            images=4,
            rounds=1,
        )
