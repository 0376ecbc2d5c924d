"""Shell completion is on, and options with a fixed set of values list them in --help."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from ocrkit.cli import app
from ocrkit.commands.choices import complete_device
from tests.cli import run as _run


def _help(*argv: str) -> str:
    result = CliRunner().invoke(app, [*argv, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_shell_completion_is_offered() -> None:
    out = _help()
    assert "--install-completion" in out and "--show-completion" in out


@pytest.mark.parametrize(
    ("command", "listed"),
    [
        (["cost"], ["aws|gcp|all", "list|report", "table|json|csv|markdown"]),
        (["batch"], ["torch|onnx", "local|ray", "jsonl|csv|tsv"]),
        (["serve"], ["torch|onnx", "debug|info|warning|error|critical"]),
        (["train"], ["resnet18|resnet34|resnet50"]),
        (["synth"], ["png|jpg", "scan|pen"]),
    ],
)
def test_help_lists_the_values_of_choice_options(command: list[str], listed: list[str]) -> None:
    out = _help(*command)
    for values in listed:
        assert values in out, (command, values)


def test_a_value_outside_the_set_is_one_line_and_exit_2(capsys) -> None:
    code, _, err = _run(capsys, "batch", "in/", "--out", "out.jsonl", "--runner", "spark")
    assert code == 2
    assert err.strip().count("\n") == 0 and "spark" in err and "'local', 'ray'" in err


def test_accepted_spellings_still_work(capsys) -> None:
    code, out, _ = _run(capsys, "cost", "--cloud", "AWS", "--method", "Report", "--format", "JSON")
    assert code == 0
    assert set(json.loads(out)["clouds"]) == {"aws"}


def test_device_stays_open_for_cuda_n_and_completes_the_known_values() -> None:
    assert complete_device("") == ["auto", "cpu", "cuda", "cuda:0"]
    assert complete_device("cu") == ["cuda", "cuda:0"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ("ocrkit cost --cloud ", ["aws", "gcp", "all"]),
        ("ocrkit predict --device c", ["cpu", "cuda", "cuda:0"]),
    ],
)
def test_bash_completion_lists_the_values(words: str, expected: list[str]) -> None:
    env = {**os.environ, "_OCRKIT_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": "3"}
    code = "import sys; sys.argv[0] = 'ocrkit'; from ocrkit.cli import main; main()"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == expected
