"""The build stage: model.tar.gz as the SageMaker PyTorch container reads it, self-contained and
reproducible; the Lambda zip small and torch-free."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import pytest

from ocrkit.deploy.artifact import FIXED_MTIME
from ocrkit.providers.aws.package import build_lambda_zip, build_model_artifact, lambda_modules
from tests.gateway.imagegen import make_png

REPO = Path(__file__).resolve().parents[3]

DRIVER = textwrap.dedent(
    """
    # Drives code/inference.py the way the SageMaker PyTorch serving container does: code/ first on
    # sys.path, `import inference`, model_fn(model_dir), then input_fn -> predict_fn -> output_fn.
    import base64, json, os, sys
    code_dir, model_dir, image, repo = sys.argv[1:5]
    # Nothing of the checkout or of the installed ocrkit may be found: only what the archive carries.
    def editable(finder):  # an editable install's finder (a class or an instance)
        return getattr(finder, "__module__", type(finder).__module__).startswith("__editable__")
    sys.meta_path[:] = [f for f in sys.meta_path if not editable(f)]
    sys.path[:] = [
        p for p in sys.path
        if p not in ("", ".") and os.path.realpath(p) != repo and not os.path.isdir(os.path.join(p, "ocrkit"))
    ]
    try:
        import ocrkit
        raise SystemExit(f"ocrkit is importable without the archive: {ocrkit.__file__}")
    except ModuleNotFoundError:
        pass
    sys.path.insert(0, code_dir)
    import torch
    torch.set_num_threads(1)
    import inference
    model = inference.model_fn(model_dir)
    body = open(image, "rb").read()
    answers = {}
    for content_type, payload in (
        ("image/png", body),
        ("application/json", json.dumps({"image": base64.b64encode(body).decode()})),
    ):
        data = inference.input_fn(payload, content_type)
        answers[content_type] = inference.output_fn(inference.predict_fn(data, model), "application/json")
    parsed = inference.input_fn(body, "image/png")
    answers["text/plain"] = inference.output_fn(inference.predict_fn(parsed, model), "text/plain")
    try:
        inference.input_fn(b"not an image", "image/png")
        refused = None
    except Exception as exc:
        refused = [type(exc).__name__, getattr(exc, "status", None), getattr(exc, "code", None)]
    files = {
        n: getattr(m, "__file__", None) for n, m in sys.modules.items() if n.split(".")[0] == "ocrkit"
    }
    print(json.dumps({"answers": answers, "refused": refused, "files": files}))
    """
)


@pytest.fixture(scope="module")
def model_weights(weights) -> Path:
    return weights[0]


@pytest.fixture(scope="module")
def archive(model_weights, build_dirs):
    """The artifact as deploy builds it (shared with the deploy tests through the session's build folder)."""
    return build_model_artifact(model_weights, build_dirs[0] / "model.tar.gz")


@pytest.mark.model
def test_model_archive_layout_and_reproducibility(archive, model_weights, tmp_path) -> None:
    first = archive
    second = build_model_artifact(model_weights, tmp_path / "again" / "model.tar.gz")  # built afresh
    assert not (tmp_path / "again").samefile(first.path.parent)
    assert first.sha256 == second.sha256
    with gzip.open(first.path) as gz:
        gz.read(1)
    assert first.path.read_bytes()[4:8] == b"\x00\x00\x00\x00"  # gzip header mtime 0
    with tarfile.open(first.path) as tar:
        members = tar.getmembers()
    files = {m.name for m in members if m.isfile()}
    assert {"model.pt", "code/inference.py", "code/requirements.txt"} <= files
    assert {
        "code/ocrkit/core_model/predictor.py",
        "code/ocrkit/gateway/inputs.py",
        "code/ocrkit/server/sagemaker.py",
        "code/ocrkit/errors.py",
        "code/ocrkit/prediction.py",
    } <= files
    assert not any("providers" in f or "commands" in f or "costing" in f or "deploy" in f for f in files)
    assert all(m.mtime == FIXED_MTIME and m.uid == 0 and m.gid == 0 and m.uname == "" for m in members)
    with tarfile.open(first.path) as tar:
        inference = tar.extractfile("code/inference.py").read()
    assert inference == (REPO / "ocrkit/runtime/sagemaker_entry.py").read_bytes()


@pytest.mark.model
@pytest.mark.slow
def test_archive_runs_like_the_sagemaker_container(archive, model_weights, tmp_path) -> None:
    model_dir = tmp_path / "opt-ml-model"
    with tarfile.open(archive.path) as tar:
        tar.extractall(model_dir, filter="data")
    image = tmp_path / "sample.png"
    image.write_bytes(make_png(120, 32))
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "OCRKIT_"))}
    env.update(OCRKIT_DEVICE="cpu", OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, str(driver), str(model_dir / "code"), str(model_dir), str(image), str(REPO)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])

    # the bundle is self-contained: every ocrkit module came from the archive's code/ folder
    assert result["files"], "inference.py imported no ocrkit module"
    code_dir = str(model_dir / "code")
    assert all(path.startswith(code_dir) for path in result["files"].values() if path), result["files"]
    assert "ocrkit.core_model.predictor" in result["files"]

    # the answers have the contract's shape and equal the in-process predictor's on the same weights
    import torch

    from ocrkit.core_model.predictor import TorchPredictor

    torch.set_num_threads(1)
    expected = TorchPredictor.from_weights(str(model_weights), device="cpu").predict_images(
        [image.read_bytes()]
    )[0]
    for content_type in ("image/png", "application/json"):
        doc = json.loads(result["answers"][content_type])
        assert set(doc) == {"text", "confidence"}
        assert doc["text"] == expected.text
        assert doc["confidence"] == round(expected.confidence, 4)
    assert result["answers"]["text/plain"] == expected.text
    assert result["refused"][1:] == [400, "not_an_image"]


def test_lambda_zip_is_small_torch_free_and_reproducible(tmp_path) -> None:
    first = build_lambda_zip(tmp_path / "a" / "gateway.zip")
    second = build_lambda_zip(tmp_path / "b" / "gateway.zip")
    assert first.sha256 == second.sha256
    assert first.size < 1_000_000
    with zipfile.ZipFile(first.path) as zf:
        names = zf.namelist()
        infos = zf.infolist()
    assert "ocrkit/runtime/lambda_entry.py" in names
    assert "ocrkit/runtime/sagemaker_backend.py" in names
    assert "ocrkit/gateway/handler.py" in names
    for banned in ("torch", "numpy", "cv2", "PIL", "core_model", "costing", "deploy/", "pydantic", "boto"):
        assert not any(banned in n for n in names), banned
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in infos)


def test_lambda_zip_imports_with_the_standard_library_alone(tmp_path) -> None:
    """Unzipped into a folder and imported by a Python that sees no site-packages (like a bare runtime
    plus the zip): the entry point and everything it imports load, without boto3 even."""
    archive = build_lambda_zip(tmp_path / "gateway.zip")
    root = tmp_path / "task"
    with zipfile.ZipFile(archive.path) as zf:
        zf.extractall(root)
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import ocrkit.runtime.lambda_entry as e; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'boto3', 'pydantic')))"
    )
    done = subprocess.run(
        [sys.executable, "-S", "-c", code, str(root)], capture_output=True, text=True, cwd=root
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_lambda_bundle_is_exactly_what_the_entry_imports() -> None:
    modules = set(lambda_modules())
    assert "ocrkit.runtime.lambda_entry" in modules
    assert not any(
        m.startswith(("ocrkit.core_model", "ocrkit.server", "ocrkit.costing", "ocrkit.deploy"))
        for m in modules
    )
    assert "ocrkit.providers.aws.provider" not in modules  # the registry imports providers lazily
