"""The deploy commands' provider-independent behaviour."""

from __future__ import annotations

import pytest

from ocrkit.errors import OcrkitError
from ocrkit.providers import available, get_provider
from tests.providers.helpers import run


def test_unknown_cloud(capsys) -> None:
    code, _, err = run(capsys, "deploy", "--cloud", "azure", "--dry-run")
    assert code == 2 and "--cloud: 'azure' is not one of aws, gcp, local" in err


def test_every_cloud_has_a_provider() -> None:
    for cloud in ("aws", "gcp", "local"):
        assert available(cloud)
        assert get_provider(cloud).cloud == cloud


def test_registry_is_lazy() -> None:
    import subprocess
    import sys

    code = (
        "import sys, ocrkit.providers; "
        "print(any(m.startswith(('boto3', 'ocrkit.providers.aws.provider')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert get_provider("aws").cloud == "aws"
    with pytest.raises(OcrkitError, match="unknown cloud"):
        get_provider("azure")


def test_region_does_not_apply_to_local(capsys) -> None:
    code, _, err = run(capsys, "status", "--cloud", "local", "--region", "us-east-1")
    assert code == 2 and "--region does not apply" in err


def test_status_of_nothing_says_how_to_deploy(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OCRKIT_STATE_DIR", str(tmp_path))
    code, _, err = run(capsys, "status", "--cloud", "aws", "--name", "nothing-here")
    assert code == 2 and "no deployment named 'nothing-here' on aws" in err and "ocrkit deploy" in err


def test_piped_plan_and_status_tables_are_not_squeezed_to_80_columns(capsys, monkeypatch) -> None:
    """Written to a pipe (no terminal, no $COLUMNS): 160 columns, so a row's settings stay on one line."""
    from ocrkit.commands import deploy as deploy_cmd
    from ocrkit.deploy.records import DeployPlan, PlannedCall, StatusReport

    monkeypatch.delenv("COLUMNS", raising=False)
    summary = "demo-gateway: python3.12, 512 MB, 30 s, reserved concurrency none, zip 1.2 MB, alias live"
    plan = DeployPlan("aws", "demo", [PlannedCall("function", "lambda:function", "create", summary)])
    deploy_cmd.render_plan(plan, deploy_cmd._stdout())
    status = StatusReport(
        "aws", "demo", [("endpoint", "demo-endpoint", "InService, 1 instance(s) on ml.g4dn.xlarge")]
    )
    deploy_cmd.render_status(status, deploy_cmd._stdout())
    out = capsys.readouterr().out
    assert any(summary in line for line in out.splitlines())
    assert any("InService, 1 instance(s) on ml.g4dn.xlarge" in line for line in out.splitlines())
    monkeypatch.setenv("COLUMNS", "100")
    assert deploy_cmd._stdout().width == 100  # an explicit $COLUMNS still wins
