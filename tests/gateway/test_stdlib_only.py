"""The gateway ships inside a Lambda zip and a Cloud Function: standard library only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ocrkit

PACKAGE_ROOT = Path(ocrkit.__file__).parent
ALLOWED_OCRKIT = ("ocrkit", "ocrkit.gateway", "ocrkit.prediction", "ocrkit.errors")
BLOCKED = ("torch", "torchvision", "numpy", "cv2", "PIL", "pydantic", "yaml", "boto3", "typer", "rich")


def imported_modules(path: Path) -> list[tuple[str, int]]:
    """Every module an import statement in `path` names (top level and inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.module, node.lineno))
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            found.append(("<relative>", node.lineno))
    return found


def allowed(module: str) -> bool:
    top = module.split(".")[0]
    if top == "__future__" or top in sys.stdlib_module_names:
        return True
    return any(module == ok or module.startswith(ok + ".") for ok in ALLOWED_OCRKIT[1:]) or module == "ocrkit"


def test_gateway_modules_import_only_the_standard_library() -> None:
    files = sorted((PACKAGE_ROOT / "gateway").glob("*.py"))
    files += [PACKAGE_ROOT / "prediction.py", PACKAGE_ROOT / "errors.py", PACKAGE_ROOT / "__init__.py"]
    assert len(files) > 5
    offenders = [
        f"{path.relative_to(PACKAGE_ROOT.parent)}:{line} imports {module}"
        for path in files
        for module, line in imported_modules(path)
        if not allowed(module)
    ]
    assert offenders == []


def test_gateway_imports_and_serves_without_third_party_packages() -> None:
    blocked = ", ".join(repr(name) for name in BLOCKED)
    script = f"""
import sys
at_start = set(sys.modules)  # site-packages .pth files may preload namespace packages
for name in ({blocked},):
    sys.modules[name] = None  # any import of these now fails
import base64, struct, zlib
from ocrkit.gateway import Gateway, HttpRequest, InProcessBackend, Limits
from ocrkit.gateway.events import request_from_apigw, response_to_apigw
from ocrkit.prediction import Prediction

class Fake:
    def predict_images(self, images):
        return [Prediction("ok", 1.0) for _ in images]

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
png = (b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(b"\\x00\\x00")) + chunk(b"IEND", b""))
event = {{"version": "2.0", "rawPath": "/predict", "requestContext": {{"http": {{"method": "POST"}}}},
         "headers": {{"content-type": "image/png"}}, "body": base64.b64encode(png).decode(),
         "isBase64Encoded": True}}
answer = response_to_apigw(Gateway(InProcessBackend(Fake()), Limits()).handle(request_from_apigw(event)))
assert answer["statusCode"] == 200, answer
loaded = {{m.split(".")[0] for m, mod in sys.modules.items() if mod is not None and m not in at_start}}
third_party = sorted(loaded - set(sys.stdlib_module_names) - {{"ocrkit"}})
print("THIRD_PARTY", third_party)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "THIRD_PARTY []" in done.stdout, done.stdout
