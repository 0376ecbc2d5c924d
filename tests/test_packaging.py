"""Layout promises: configs ship inside the wheel; the torch-free layers import without torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# Runs the given code with torch, torchvision, numpy and cv2 made unimportable.
_BLOCK = """
import sys
for name in ("torch", "torchvision", "numpy", "cv2", "PIL"):
    sys.modules[name] = None
"""

TORCH_FREE_MODULES = [
    "ocrkit.cli",
    "ocrkit.commands.cost",
    "ocrkit.commands.inference",
    "ocrkit.costing",
    "ocrkit.gateway",
    "ocrkit.prediction",
    "ocrkit.weights",
    "ocrkit.deploy",
    "ocrkit.providers",
    "ocrkit.extras",
    "ocrkit.image_inputs",
    "ocrkit.commands.choices",
    "ocrkit.commands.status",
    "ocrkit.deploy.inventory",
    "ocrkit.deploy.survey",
    "ocrkit.providers.aws.inventory",
    "ocrkit.providers.gcp.inventory",
    "ocrkit.providers.local.inventory",
]


@pytest.mark.parametrize("module", TORCH_FREE_MODULES)
def test_torch_free_layers_import_without_torch(module: str) -> None:
    code = _BLOCK + f"import importlib; importlib.import_module({module!r}); print('ok')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def test_cli_help_without_torch() -> None:
    code = _BLOCK + "from ocrkit.cli import main; main(['--help'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert "cost" in proc.stdout


def test_version_flag() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from ocrkit.cli import main; main(['--version'])"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0
    assert proc.stdout.startswith("ocrkit ")


@pytest.mark.slow
def test_wheel_ships_configs_and_finds_them_from_any_directory(tmp_path: Path) -> None:
    """`pip install .` (not only -e) must find the scenarios: build the wheel, run from it elsewhere."""
    out = tmp_path / "dist"
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-v",  # the build backend's warnings reach pip's output only when verbose
            "--no-deps",
            "--no-build-isolation",
            str(REPO),
            "-w",
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert build.returncode == 0, build.stderr
    output = build.stdout + build.stderr
    # No setuptools warnings: data folders are declared packages, the license is an SPDX string.
    for warning in (
        "absent from the `packages` configuration",
        "SetuptoolsDeprecationWarning",
        "BuildBackendWarning",
    ):
        assert warning not in output, [line for line in output.splitlines() if warning in line][:3]
    wheel = next(out.glob("ocrkit-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "ocrkit-0.1.0.dist-info/licenses/LICENSE" in names
    assert any(n.startswith("ocrkit/configs/pricing/serving/") and n.endswith(".yaml") for n in names)
    assert any(n.startswith("ocrkit/configs/profiles/") and n.endswith(".yaml") for n in names)
    assert "ocrkit/configs/deploy/local.yaml" in names
    assert not any("__pycache__" in n for n in names)
    assert "ocrkit/configs/scenarios/baseline.yaml" in names
    assert "ocrkit/configs/scenarios/extended.yaml" in names
    assert any(n.startswith("ocrkit/configs/pricing/") and n.endswith(".yaml") for n in names)
    assert "ocrkit/server/static/index.html" in names  # the web page served at GET /
    assert "ocrkit/assets/demo-ocr.pt" in names  # the default weights of predict, serve and deploy
    assert "ocrkit/assets/samples/labels.tsv" in names

    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(site)
    code = (
        "import ocrkit, sys; assert ocrkit.__file__.startswith(sys.argv[1]), ocrkit.__file__;"
        "from ocrkit.cli import main;"
        "main(['cost', '--scenario', 'baseline', '--method', 'report', '--format', 'json'])"
    )
    # -I would drop the venv's site-packages; -P keeps the repo checkout off sys.path.
    proc = subprocess.run(
        [sys.executable, "-P", "-c", code, str(site)], capture_output=True, text=True, cwd=elsewhere, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["clouds"]["aws"]["plans"]["on_demand"]["total"] == "711.65"


def test_usage_errors_exit_2_without_traceback() -> None:
    for argv in (["cost", "--bogus"], ["nosuch-command"]):
        proc = subprocess.run(
            [sys.executable, "-c", f"from ocrkit.cli import main; main({argv!r})"],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 2, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr
        assert "Error" in proc.stderr


def test_error_messages_print_brackets_literally() -> None:
    """`pip install 'ocrkit[model]'` in a hint must not be eaten as console markup."""
    proc = subprocess.run(
        [sys.executable, "-c", "from ocrkit.cli import main; main(['cost', '--scenario', '[bold]x[/bold]'])"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "[bold]x[/bold]" in proc.stderr


def _make_dry_run(target: str, tmp_path: Path) -> str:
    """The commands `make TARGET` would run on a fresh machine (no venv yet), without running them."""
    proc = subprocess.run(
        ["make", "-n", "-C", str(REPO), target, f"VENV={tmp_path / 'fresh-venv'}"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_demo_installs_only_what_the_demo_runs(tmp_path: Path) -> None:
    demo = _make_dry_run("demo", tmp_path)
    assert "-e '.[model,serve]'" in demo  # predict/eval (model) and deploy --cloud local (serve)
    for unused in ("chromium", "fonts-", "apt-get", "[all", "dev]"):
        assert unused not in demo


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_installs_every_extra_and_the_system_packages(tmp_path: Path) -> None:
    test = _make_dry_run("test", tmp_path)
    assert "-e '.[all,dev]'" in test
    assert "chromium" in test and "fonts-dejavu-core" in test
    assert "pytest" in test
