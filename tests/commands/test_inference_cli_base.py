"""The model commands on a base install: importable and helpful without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ocrkit.cli import app, main
from ocrkit.errors import OcrkitError


def test_commands_module_does_not_import_torch():
    code = "import sys, ocrkit.cli; assert 'torch' not in sys.modules, 'torch imported'; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize(
    "argv", [["predict", "x.png"], ["eval", "--images", "d", "--labels", "l"], ["bench"]]
)
def test_without_torch_the_commands_say_what_to_install(argv, capsys, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a)
    )
    with pytest.raises(OcrkitError) as info:
        app(args=argv, standalone_mode=False)
    assert "needs torch" in str(info.value)
    assert "pip install 'ocrkit[model]'" in str(info.value)

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "needs torch" in err and "Traceback" not in err


def test_help_texts(capsys):
    for command in ("predict", "eval", "bench"):
        main([command, "--help"])
        out = capsys.readouterr().out
        assert "--format" in out and "--weights" in out
