"""Provisioned concurrency on the `live` alias, at the boto3 boundary (moto has no provisioned-concurrency
API): the plan reads it, and the step sets or removes it on the alias, never on $LATEST."""

from __future__ import annotations

from pathlib import Path

import boto3
from botocore.stub import Stubber

from ocrkit.deploy.artifact import BuiltArchive
from ocrkit.deploy.plan import Context
from ocrkit.deploy.progress import RecordingEvents
from ocrkit.deploy.records import ResourceRecord
from ocrkit.deploy.state import new_state
from ocrkit.providers.aws.desired import desired_state
from ocrkit.providers.aws.lambda_ import plan_function_alias
from ocrkit.providers.aws.names import Names
from ocrkit.providers.aws.planning import AwsPlanContext
from ocrkit.providers.aws.spec import AwsDeploySpec

NAMES = Names("demo", "123456789012", "us-east-1")


class OneClient:
    def __init__(self, client) -> None:
        self._client = client

    def client(self, service: str, **kw):
        assert service == "lambda"
        return self._client


def planner_for(provisioned: int, recorded: int, tmp_path: Path):
    lam = boto3.client("lambda", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    spec = AwsDeploySpec.model_validate({"name": "demo", "lambda": {"provisioned_concurrency": provisioned}})
    archive = BuiltArchive(tmp_path / "a", "ab" * 32, 10, ())
    state = new_state("demo", "aws", root=tmp_path)
    alias = ResourceRecord("lambda:alias", "demo-gateway:live", {"provisioned": recorded})
    state.record("function_alias", alias)
    desired = desired_state(spec, NAMES, archive, archive)
    planner = AwsPlanContext(OneClient(lam), desired, state, quota=lambda n: None)
    planner.seen.actions["function"] = "noop"
    return planner, lam, state


def test_provisioned_concurrency_is_put_on_the_alias(tmp_path) -> None:
    planner, lam, state = planner_for(2, 0, tmp_path)
    with Stubber(lam) as stub:
        stub.add_response(
            "get_alias",
            {"Name": "live", "FunctionVersion": "3", "AliasArn": NAMES.alias_arn},
            {"FunctionName": "demo-gateway", "Name": "live"},
        )
        stub.add_client_error(
            "get_provisioned_concurrency_config",
            "ProvisionedConcurrencyConfigNotFoundException",
            http_status_code=404,
            expected_params={"FunctionName": "demo-gateway", "Qualifier": "live"},
        )
        step = plan_function_alias(planner)
        assert step.call.action == "update" and "provisioned concurrency 2" in step.call.summary
        stub.add_response(
            "put_provisioned_concurrency_config",
            {"RequestedProvisionedConcurrentExecutions": 2, "Status": "IN_PROGRESS"},
            {"FunctionName": "demo-gateway", "Qualifier": "live", "ProvisionedConcurrentExecutions": 2},
        )
        events = RecordingEvents()
        result = step.run(Context(state, events))
        stub.assert_no_pending_responses()
    # no new version: neither the code nor the function's settings changed
    assert result.record.attrs == {"provisioned": 2, "version": "3"}
    assert any("provisioned concurrency 2" in m for m in events.infos)


def test_provisioned_concurrency_back_to_zero_is_removed(tmp_path) -> None:
    planner, lam, state = planner_for(0, 2, tmp_path)
    with Stubber(lam) as stub:
        stub.add_response("get_alias", {"Name": "live", "FunctionVersion": "3"}, None)
        current = {"RequestedProvisionedConcurrentExecutions": 2}
        stub.add_response("get_provisioned_concurrency_config", current, None)
        step = plan_function_alias(planner)
        assert step.call.action == "update"
        stub.add_response(
            "delete_provisioned_concurrency_config", {}, {"FunctionName": "demo-gateway", "Qualifier": "live"}
        )
        step.run(Context(state, RecordingEvents()))
        stub.assert_no_pending_responses()


def test_unchanged_alias_makes_no_call(tmp_path) -> None:
    planner, lam, state = planner_for(0, 0, tmp_path)
    with Stubber(lam) as stub:
        stub.add_response("get_alias", {"Name": "live", "FunctionVersion": "3"}, None)
        step = plan_function_alias(planner)
        assert step.call.action == "noop"
        step.run(Context(state, RecordingEvents()))
        stub.assert_no_pending_responses()
