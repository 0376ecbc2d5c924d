"""With --engine onnx nothing imports torch, torchvision or OpenCV (they are made unimportable here)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import ocrkit

from .conftest import sample_files

ROOT = Path(ocrkit.__file__).parent
BLOCK = ("torch", "torchvision", "cv2", "onnx")  # onnx (the exporter's package) is not needed either


def run_blocked(code: str, blocked=BLOCK, timeout=180) -> subprocess.CompletedProcess:
    script = "import sys\n" + "".join(f"sys.modules[{name!r}] = None\n" for name in blocked) + code
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout)


def test_engine_modules_import_nothing_heavy_at_module_level():
    """ocrkit.engine's modules import the standard library, numpy and torch-free ocrkit modules only."""
    allowed_third_party = {"numpy"}
    offenders = []
    for path in sorted((ROOT / "engine").glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                if top in sys.stdlib_module_names or top in allowed_third_party or top == "__future__":
                    continue
                if name.startswith(("ocrkit.engine", "ocrkit.errors", "ocrkit.prediction", "ocrkit.weights")):
                    continue
                # the costing schema (pydantic, a base dependency) that bench's profiles are written in
                if name in ("ocrkit", "ocrkit.core_model.alphabet", "ocrkit.costing.profiles"):
                    continue
                offenders.append(f"{path.name}:{node.lineno} imports {name}")
    assert offenders == []


def test_predict_cli_reads_samples_without_torch(demo_export):
    files = [str(p) for p in sample_files()[:3]]
    done = run_blocked(
        "from ocrkit.cli import main\n"
        f"main(['predict', '--engine', 'onnx', '--weights', {str(demo_export)!r}, *{files!r}, "
        "'--format', 'json'])\n"
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert [r["text"] for r in rows] == ["заявление", "Москва", "15.09.03"]


def test_eval_and_bench_without_torch(demo_export, tmp_path):
    labels = sample_files()[0].parent / "labels.tsv"
    done = run_blocked(
        "from ocrkit.cli import main\n"
        f"main(['eval', '--engine', 'onnx', '--weights', {str(demo_export)!r}, '--images', "
        f"{str(labels.parent)!r}, '--labels', {str(labels)!r}, '--limit', '4', '--format', 'json'])\n"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["count"] == 4
    profile = tmp_path / "onnx.yaml"
    done = run_blocked(
        "from ocrkit.cli import main\n"
        f"main(['bench', '--engine', 'onnx', '--weights', {str(demo_export)!r}, '--images', "
        f"{str(labels.parent)!r}, '--limit', '2', '--runs', '1', '--cold-runs', '1', '--save-profile', "
        f"{str(profile)!r}, '--format', 'json'])\n"
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    onnx = result["engines"]["onnx"]
    assert set(result["engines"]) == {"onnx"}
    assert onnx["cold_start_s"] > 0 and onnx["peak_rss_mb"] > 0
    from ocrkit.costing.profiles import load_profile

    saved = load_profile(profile)
    assert saved.engine == "onnx" and saved.cold_start_s == onnx["cold_start_s"]
    assert set(saved.throughput.by_batch) == {1, 8, 32}


def test_first_answer_and_server_loading_without_torch(demo_export):
    image = str(sample_files()[1])
    done = run_blocked(
        "from ocrkit.engine import first_answer\n"
        f"first_answer.main(['--engine', 'onnx', '--weights', {str(demo_export)!r}, {image!r}])\n"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["text"] == "Москва"
    done = run_blocked(
        "import os\nos.environ['OCRKIT_ENGINE'] = 'onnx'\n"
        "from ocrkit.server.production import ServeOptions, check_model_source, load_predictor\n"
        f"options = ServeOptions(weights={str(demo_export)!r}, torch_threads=1)\n"
        "print(check_model_source(options))\n"
        "p = load_predictor(options)\n"
        f"print(type(p).__name__, p.threads, p.predict_images([open({image!r}, 'rb').read()])[0].text)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "(ONNX engine)" in done.stdout and "OnnxPredictor 1 Москва" in done.stdout


def test_missing_onnxruntime_names_the_extra(demo_export):
    done = run_blocked(
        "from ocrkit.cli import main\n"
        f"main(['predict', '--engine', 'onnx', '--weights', {str(demo_export)!r}, "
        f"{str(sample_files()[0])!r}])\n",
        blocked=(*BLOCK, "onnxruntime"),
    )
    assert done.returncode == 2
    assert "ocrkit[onnx]" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_pt_without_torch_says_how_to_export(tmp_path):
    pt = tmp_path / "model.pt"
    pt.write_bytes(b"weights")
    done = run_blocked(
        "from ocrkit.cli import main\n"
        f"main(['predict', '--engine', 'onnx', '--weights', {str(pt)!r}, {str(sample_files()[0])!r}])\n"
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "ocrkit[model]" in done.stderr and "export directory" in done.stderr


@pytest.mark.parametrize("bad", ["stale", "missing-graph"])
def test_bad_export_directory_is_one_line(demo_export, tmp_path, bad):
    import shutil

    out = tmp_path / "export"
    shutil.copytree(demo_export, out)
    if bad == "stale":
        manifest = out / "ocrkit-onnx.json"
        manifest.write_text(manifest.read_text().replace(f'"{ocrkit.__version__}"', '"0.0.1"'))
    else:
        (out / "encoder.onnx").unlink()
    done = run_blocked(
        "from ocrkit.cli import main\n"
        f"main(['predict', '--engine', 'onnx', '--weights', {str(out)!r}, {str(sample_files()[0])!r}])\n"
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert ("ocrkit 0.0.1" if bad == "stale" else "encoder.onnx is missing") in done.stderr
