"""`serving: function` on GCP without emulators: which resources the plan wants, the pinned requirements
against pyproject's onnx extra, the refusals made before anything is created (one line, exit 2), and the
function's model read from a local file path."""

from __future__ import annotations

import hashlib
import json
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from ocrkit.deploy.artifact import BuiltArchive
from ocrkit.deploy.serving import ServingOption
from ocrkit.errors import ConfigError, OcrkitError
from ocrkit.gateway.limits import MiB
from ocrkit.providers.gcp import function_serving
from ocrkit.providers.gcp.planner import models_for
from ocrkit.providers.gcp.spec import GcpDeploySpec, load_gcp_spec
from ocrkit.runtime import model_object
from tests.providers.helpers import run

PYPROJECT = Path(__file__).resolve().parents[3] / "pyproject.toml"


def extra(name: str) -> dict[str, Requirement]:
    deps = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"][name]
    return {Requirement(d).name.lower(): Requirement(d) for d in deps}


def test_requirements_are_the_onnx_extra_pinned_plus_functions_framework():
    onnx = extra("onnx")
    pins = dict(function_serving.REQUIREMENTS)
    framework = pins.pop("functions-framework")
    assert set(pins) == set(onnx)  # the extra's packages, no more (no torch, no google-cloud-*)
    for name, version in pins.items():
        assert Version(version) in onnx[name].specifier, (name, version)
    assert Version(framework) in extra("dev")["functions-framework"].specifier
    lines = [x for x in function_serving.requirements_txt().splitlines() if not x.startswith("#")]
    assert all("==" in line for line in lines) and len(lines) == 4


def test_the_function_option_plans_no_vertex_resource():
    keys = [m.key for m in models_for(ServingOption.function)]
    assert keys == ["bucket", "artifact", "service-account", "model-reader", "function", "invoker"]
    gpu = [m.key for m in models_for(ServingOption.gpu_endpoint)]
    assert "model-reader" not in gpu and {"model", "endpoint", "deployed-model"} <= set(gpu)
    (function,) = [m for m in models_for(ServingOption.function) if m.key == "function"]
    assert "endpoint" not in function.depends_on and "model-reader" in function.depends_on


def _archive(size: int) -> BuiltArchive:
    return BuiltArchive(Path("source.zip"), "0" * 64, size, ())


def test_a_model_too_big_for_the_memory_is_refused_with_the_size_to_set():
    with pytest.raises(OcrkitError) as err:
        function_serving.check_fit("512Mi", 512, 200 * MiB, _archive(1000))
    assert "function.model_memory 512Mi is too small" in err.value.message
    assert "model_memory to at least 2Gi" in (err.value.hint or "")
    fit = function_serving.check_fit("2Gi", 2048, 55 * MiB, _archive(1000))
    assert fit.needed_mb == function_serving.memory_needed_mb(55 * MiB) <= 2048


def test_a_model_too_big_for_any_function_and_a_source_too_big():
    with pytest.raises(OcrkitError) as err:
        function_serving.check_fit("32Gi", 32 * 1024, 7 * 1024 * MiB, _archive(1000))
    assert "too big for a Cloud Function" in err.value.message and "endpoint" in (err.value.hint or "")
    with pytest.raises(OcrkitError) as err:
        function_serving.check_fit("2Gi", 2048, MiB, _archive(function_serving.MAX_SOURCE_BYTES + 1))
    assert "100 MB" in err.value.message


@pytest.mark.parametrize("memory", ["64Mi", "33Gi", "40000Mi"])
def test_memory_out_of_range_is_a_config_error(tmp_path, memory):
    with pytest.raises(ConfigError) as err:
        load_gcp_spec(None, {"name": "demo", "serving": "function", "function": {"model_memory": memory}})
    assert "function.model_memory" in str(err.value) and "128Mi to 32Gi" in str(err.value)


def test_the_function_memory_is_model_memory_only_when_it_holds_the_model():
    spec = GcpDeploySpec(name="demo")
    assert spec.function.memory_for(ServingOption.function) == "2Gi"
    assert spec.function.memory_for(ServingOption.gpu_endpoint) == "512Mi"


def test_missing_onnx_extra_at_build_time_is_one_line_exit_2(capsys, monkeypatch, tmp_path, fake_weights):
    """Before any cloud call (no project, no credentials needed): the extra's name, exit 2."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "demo-project")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")  # anonymous credentials
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "none.json"))
    code, out, err = run(
        capsys, "deploy", "--cloud", "gcp", "--name", "demo", "--serving", "function",
        "--weights", str(fake_weights), "--dry-run",
    )  # fmt: skip
    assert code == 2
    assert "needs the onnx extra" in err and "pip install 'ocrkit[onnx]'" in err
    assert "Traceback" not in err + out


def _model_zip(folder: Path) -> Path:
    path = folder / "model-onnx.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ocrkit-onnx.json", "{}")
        zf.writestr("encoder.onnx", b"x")
    return path


def test_the_model_read_from_a_local_path_and_its_sha_checked(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    path = _model_zip(tmp_path)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    out = model_object.fetch_model({"OCRKIT_MODEL_URI": str(path), "OCRKIT_MODEL_SHA256": sha})
    assert sorted(p.name for p in out.iterdir()) == ["encoder.onnx", "ocrkit-onnx.json"]
    with pytest.raises(OcrkitError) as err:
        model_object.fetch_model({"OCRKIT_MODEL_URI": str(path), "OCRKIT_MODEL_SHA256": "0" * 64})
    assert "not the deployed" in err.value.message
    with pytest.raises(OcrkitError):
        model_object.fetch_model({})


def test_the_media_request_goes_to_the_emulator_or_google():
    emulator = model_object.media_request(
        "gs://b/models/abc/model-onnx.zip", {"STORAGE_EMULATOR_HOST": "h:9"}
    )
    assert emulator.full_url == "http://h:9/storage/v1/b/b/o/models%2Fabc%2Fmodel-onnx.zip?alt=media"
    assert "Authorization" not in emulator.headers


def test_a_function_that_cannot_load_its_model_answers_500_json_and_logs(tmp_path, monkeypatch):
    from ocrkit.runtime import onnx_function_entry as entry

    monkeypatch.setenv("OCRKIT_MODEL_URI", str(tmp_path / "missing.zip"))
    entry.reset()
    body, status, headers = entry.predict(object())
    entry.reset()
    assert status == 500 and headers["Content-Type"].startswith("application/json")
    assert json.loads(body)["error"]["code"] == "internal_error"
