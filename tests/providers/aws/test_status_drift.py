"""`ocrkit status` against moto: from another directory (no state file there) it finds the deployment by
its tags as teardown does; a role policy changed by hand shows as drift in status and in the plan."""

from __future__ import annotations

import json

import boto3
import pytest

from tests.providers.aws.conftest import REGION, Deployer
from tests.providers.helpers import run

pytestmark = pytest.mark.slow


def test_status_from_another_directory_finds_the_deployment_by_tags(
    deployer: Deployer, capsys, monkeypatch, tmp_path
) -> None:
    deployer.deploy(0)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("OCRKIT_STATE_DIR", str(elsewhere / ".ocrkit" / "state"))
    code, out, err = run(capsys, "status", "--cloud", "aws", "--name", "demo", "--format", "json")
    assert code == 0, err
    rows = {r["resource"]: r for r in json.loads(out)["resources"]}
    assert rows["endpoint"]["state"].startswith("InService")
    assert rows["function"]["id"] == "demo-gateway" and rows["bucket"]["state"] == "exists"
    assert not any("left over" in r["state"] for r in rows.values())
    code, _, err = run(capsys, "status", "--cloud", "aws", "--name", "never-deployed")
    assert code == 2 and "no deployment named 'never-deployed'" in err


ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


def test_a_role_policy_changed_by_hand_is_drift_in_status_and_plan(deployer: Deployer, capsys) -> None:
    deployer.deploy(0)
    iam = boto3.client("iam", region_name=REGION)
    iam.put_role_policy(
        RoleName="demo-lambda-role", PolicyName="backdoor", PolicyDocument=json.dumps(ALLOW_ALL)
    )
    iam.put_role_policy(
        RoleName="demo-sagemaker-role",
        PolicyName="demo-least-privilege",
        PolicyDocument=json.dumps(ALLOW_ALL),
    )

    code, out, _ = run(capsys, "status", "--cloud", "aws", "--name", "demo", "--format", "json")
    status = json.loads(out)
    rows = {r["resource"]: r["state"] for r in status["resources"]}
    assert rows["lambda_role"].startswith("DRIFT: inline policy backdoor added")
    assert rows["sagemaker_role"].startswith("DRIFT: policy demo-least-privilege changed")
    assert status["healthy"] is False

    _, plan, _ = deployer.plan(0)
    changes = {c.resource: c for c in plan.changes}
    assert set(changes) == {"lambda_role", "sagemaker_role"}
    assert "drift" in changes["lambda_role"].summary and "backdoor" in changes["lambda_role"].summary
    assert "iam.DeleteRolePolicy" in changes["lambda_role"].calls
    assert "policy" in changes["sagemaker_role"].summary

    deployer.deploy(0)
    assert iam.list_role_policies(RoleName="demo-lambda-role")["PolicyNames"] == ["demo-least-privilege"]
    code, out, _ = run(capsys, "status", "--cloud", "aws", "--name", "demo", "--format", "json")
    rows = {r["resource"]: r["state"] for r in json.loads(out)["resources"]}
    assert rows["lambda_role"] == rows["sagemaker_role"] == "exists"


def test_an_update_plan_shows_old_and_new_values(deployer: Deployer, capsys) -> None:
    from ocrkit.deploy.plan import plan_to_dict

    deployer.deploy(0)
    _, plan, _ = deployer.plan(0, **{"lambda.memory_mb": 1024, "api.access_log_retention_days": 14})
    calls = {c["resource"]: c for c in plan_to_dict(plan)["calls"] if c["action"] == "update"}
    assert "MemorySize 256 → 1024" in calls["function"]["summary"]
    assert calls["function"]["details"]["diff"]["MemorySize"] == [256, 1024]
    assert "kept 30 → 14 days" in calls["api_log_group"]["summary"]
    assert calls["api_log_group"]["details"]["diff"] == {"retention days": [30, 14]}
