"""The model server and the platform entry points import without torch (it loads with the model)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ocrkit

ROOT = Path(ocrkit.__file__).parent
ALLOWED = ("ocrkit.gateway", "ocrkit.server", "ocrkit.prediction", "ocrkit.errors", "ocrkit.weights")

GUNICORN_ONLY = ("worker.py",)
MODULES = (
    "ocrkit.server",
    "ocrkit.server.dev",
    "ocrkit.runtime.sagemaker_entry",
)


def test_imports_without_torch_numpy_cv2_pil() -> None:
    script = f"""
import sys
for name in ("torch", "torchvision", "numpy", "cv2", "PIL"):
    sys.modules[name] = None
import importlib
for module in {MODULES!r}:
    importlib.import_module(module)
print("OK")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "OK" in done.stdout


def test_model_fn_needs_torch_only_when_called(tmp_path) -> None:
    (tmp_path / "model.pt").write_bytes(b"x")
    script = f"""
import sys
sys.modules["torch"] = None
from ocrkit.errors import OcrkitError
from ocrkit.runtime import sagemaker_entry as e
try:
    e.model_fn({str(tmp_path)!r})
except OcrkitError as exc:
    if "needs torch" in str(exc):
        print("NEEDS_TORCH")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "NEEDS_TORCH" in done.stdout, done.stderr


def test_module_level_imports_are_stdlib_or_torch_free_ocrkit() -> None:
    """Lazy imports inside functions (torch, google.cloud, sagemaker_inference) are the only exceptions."""
    # worker.py is gunicorn's worker class: gunicorn imports it by name in the serving process, and
    # nothing in ocrkit imports it (checked below), so the entries and the gateway never load gunicorn.
    files = sorted(p for p in (ROOT / "server").glob("*.py") if p.name not in GUNICORN_ONLY)
    files += [ROOT / "runtime/sagemaker_entry.py"]
    offenders = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                top = name.split(".")[0]
                ok = top == "__future__" or top in sys.stdlib_module_names
                ok = ok or any(name == a or name.startswith(a + ".") for a in ALLOWED)
                if not ok:
                    offenders.append(f"{path.name}:{node.lineno} imports {name}")
    assert offenders == []


def test_the_gunicorn_worker_is_imported_by_gunicorn_only() -> None:
    importers = [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*.py")
        if "ocrkit.server.worker import" in path.read_text(encoding="utf-8")
        or "import ocrkit.server.worker" in path.read_text(encoding="utf-8")
    ]
    assert importers == []
