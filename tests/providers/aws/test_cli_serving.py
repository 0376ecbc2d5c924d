"""`ocrkit deploy --serving ...` and `ocrkit status` through the console entry point, against moto: the
serverless plan with its price and the cheaper options, the switch header with $/hour old -> new, and the
option in status (table and JSON)."""

from __future__ import annotations

import json

import pytest

from ocrkit.costing.compare import serving_catalog
from ocrkit.deploy.state import load_state
from tests.providers.helpers import run

pytestmark = pytest.mark.slow


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")


def test_serverless_dry_run_switch_plan_and_status(aws, capsys, fake_weights, wide) -> None:
    base = ["--cloud", "aws", "--name", "demo", "--weights", str(fake_weights)]
    code, out, err = run(capsys, "deploy", *base, "--serving", "serverless-endpoint", "--dry-run")
    assert code == 0, out + err
    assert "serving: serverless-endpoint" in out and "switching" not in out
    assert "serverless 3072 MB, max concurrency 5" in out and "$0.0000/hour" in out
    assert "--serving serverless-endpoint (3072 MB): $" in out and "--serving function: $" in out
    assert load_state("demo", "aws") is None

    code, out, err = run(capsys, "deploy", *base, "--yes")
    assert code == 0, out + err
    code, out, _ = run(capsys, "deploy", *base, "--serving", "cpu-endpoint", "--dry-run")
    assert code == 0
    assert "switching gpu-endpoint → cpu-endpoint" in out
    cpu = serving_catalog("aws", "us-east-1").entry("sagemaker.hosting.ml.m5.large").list_price
    assert f"(gpu-endpoint) → ${cpu:.4f}/hour (cpu-endpoint)" in out
    assert "2 to create, 2 to update, 2 to delete" in out

    code, out, _ = run(capsys, "deploy", *base, "--serving", "cpu-endpoint", "--dry-run", "--format", "json")
    plan = json.loads(out)["plan"]
    assert plan["serving"] == "cpu-endpoint" and plan["switching_from"] == "gpu-endpoint"
    assert plan["previous_hourly_cost"] == load_state("demo", "aws").outputs["hourly_cost"]

    code, out, _ = run(capsys, "status", "--cloud", "aws", "--name", "demo")
    assert code == 0 and "serving: gpu-endpoint" in out
    code, out, _ = run(capsys, "status", "--cloud", "aws", "--name", "demo", "--format", "json")
    assert json.loads(out)["serving"] == "gpu-endpoint"
    code, out, err = run(capsys, "teardown", "--cloud", "aws", "--name", "demo", "--yes")
    assert code == 0, out + err
