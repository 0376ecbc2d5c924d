"""The base install (CLI + costing) runs `--help` and `cost`; other jobs name the extra they need."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Every package that only an extra installs, made unimportable (as on a base install).
EXTRA_ONLY = (
    "boto3",
    "botocore",
    "google",
    "grpc",
    "gunicorn",
    "prometheus_client",
    "torch",
    "torchvision",
    "cv2",
    "onnx",
    "onnxruntime",
    "numpy",
    "PIL",
    "ray",
    "matplotlib",
    "plotly",
)


def run_base_only(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    blocked = ", ".join(repr(name) for name in EXTRA_ONLY)
    script = (
        f"import sys\nfor name in ({blocked},):\n    sys.modules[name] = None\n"
        f"from ocrkit.cli import main\nmain({argv!r})\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def test_help_works_on_the_base_install(tmp_path: Path) -> None:
    proc = run_base_only(["--help"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for command in ("cost", "predict", "deploy", "serve", "batch"):
        assert command in proc.stdout


def test_cost_baseline_works_on_the_base_install(tmp_path: Path) -> None:
    proc = run_base_only(["cost", "--scenario", "baseline", "--format", "json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert '"on_demand"' in proc.stdout


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            ["deploy", "--cloud", "aws", "--name", "xx", "--dry-run"],
            "error: the AWS target needs boto3: pip install 'ocrkit[aws]'",
        ),
        (["batch", "s3://bucket/in/", "--out", "out.jsonl"], "pip install 'ocrkit[aws]'"),
        (["serve", "--port", "0"], "needs gunicorn: pip install 'ocrkit[serve]'"),
        (["predict", str(REPO / "ocrkit/assets/samples/sample01.jpg")], "pip install 'ocrkit[model]'"),
        (["cost", "--serving", "all", "--chart", "c.png"], "pip install 'ocrkit[chart]'"),
    ],
)
def test_a_command_without_its_extra_names_it_in_one_line(
    argv: list[str], expected: str, tmp_path: Path
) -> None:
    proc = run_base_only(argv, tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
