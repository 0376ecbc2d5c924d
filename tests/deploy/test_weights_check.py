"""deploy checks the checkpoint (torch-free) before it builds or plans: a corrupt file or another
architecture's weights is one line and exit 2, with nothing built and no state written."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ocrkit.errors import OcrkitError
from ocrkit.weights import check_checkpoint, shipped_weights_path
from tests.providers.helpers import run


def corrupt(tmp_path: Path) -> Path:
    path = tmp_path / "corrupt.pt"
    path.write_bytes(os.urandom(50_000))
    return path


def truncated(tmp_path: Path) -> Path:
    data = shipped_weights_path().read_bytes()
    path = tmp_path / "truncated.pt"
    path.write_bytes(data[: len(data) // 2])
    return path


def other_architecture(tmp_path: Path) -> Path:
    import torch

    path = tmp_path / "mlp.pt"
    torch.save({"model": {"fc1.weight": torch.zeros(3, 2), "fc2.weight": torch.zeros(2, 3)}}, path)
    return path


def not_torch_zip(tmp_path: Path) -> Path:
    path = tmp_path / "notes.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    return path


@pytest.mark.parametrize("make", [corrupt, truncated, other_architecture, not_torch_zip])
def test_bad_checkpoints_are_one_sentence(make, tmp_path) -> None:
    with pytest.raises(OcrkitError) as bad:
        check_checkpoint(make(tmp_path))
    assert "\n" not in str(bad.value)


def test_real_checkpoints_pass(tmp_path) -> None:
    from tests.gateway.realmodel import write_checkpoint

    check_checkpoint(shipped_weights_path())
    check_checkpoint(write_checkpoint(tmp_path / "model.pt", seed=0))


def test_the_check_does_not_import_torch() -> None:
    code = (
        "import sys; from ocrkit.weights import check_checkpoint, shipped_weights_path; "
        "check_checkpoint(shipped_weights_path()); assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("cloud", ["aws", "gcp"])
@pytest.mark.parametrize("make", [corrupt, other_architecture])
def test_deploy_dry_run_refuses_bad_weights_before_planning(
    make, cloud, tmp_path, monkeypatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OCRKIT_STATE_DIR", str(tmp_path / "state"))
    # no cloud is reachable: a plan would fail on its first call, so refusing first proves the order
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    bad = make(tmp_path)
    extra = ["--project", "p-12345"] if cloud == "gcp" else ["--region", "us-east-1"]
    code, out, err = run(
        capsys, "deploy", "--cloud", cloud, "--name", "w1", "--weights", str(bad), "--dry-run", *extra
    )
    assert code == 2, out + err
    assert str(bad.name) in err and "Traceback" not in err
    assert not any((tmp_path / d).exists() for d in ("state", "build", ".ocrkit"))
