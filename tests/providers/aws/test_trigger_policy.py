"""The trigger's pieces that need no cloud: its role policy per serving option (parsed: exactly these
grants, no `*` resource), its environment, the notification rules, and the config's checks."""

from __future__ import annotations

import pytest

from ocrkit.batch.trigger import TriggerRule
from ocrkit.errors import ConfigError
from ocrkit.providers.aws import policies
from ocrkit.providers.aws.names import Names
from ocrkit.providers.aws.spec import (
    function_environment,
    gateway_environment,
    load_aws_spec,
    trigger_environment,
)

N = Names("arch", "123456789012", "eu-west-1")
IN = "arn:aws:s3:::arch-in-123456789012-eu-west-1"
QUEUE = "arn:aws:sqs:eu-west-1:123456789012:arch-trigger-dlq"
GROUP = "arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/arch-s3-trigger"
LOGS = {GROUP, f"{GROUP}:*"}


def grants(doc: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for s in doc["Statement"]:
        assert s["Effect"] == "Allow" and "NotAction" not in s and "NotResource" not in s
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
        assert "*" not in resources
        for a in actions:
            out.setdefault(a, set()).update(resources)
    return out


def common(rule: TriggerRule) -> dict[str, set[str]]:
    return {
        "s3:GetObject": {f"{IN}/{rule.input_prefix}*"},
        "s3:PutObject": {f"{IN}/{rule.output_prefix}*", f"{IN}/{rule.error_prefix}*"},
        "sqs:SendMessage": {QUEUE},
        **{a: LOGS for a in ("logs:CreateLogGroup", "logs:CreateLogStream")},
        **{a: LOGS for a in ("logs:DescribeLogStreams", "logs:PutLogEvents")},
    }


def test_endpoint_options_may_invoke_the_one_endpoint_and_nothing_more() -> None:
    rule = TriggerRule("scans/in/", "scans-out/", "scans-failed/")
    doc = policies.trigger_role_policy(N, rule=rule, endpoint=True)
    assert policies.findings(doc) == []
    want = common(rule)
    want["sagemaker:InvokeEndpoint"] = {"arn:aws:sagemaker:eu-west-1:123456789012:endpoint/arch-endpoint"}
    assert grants(doc) == want


def test_function_option_reads_the_one_model_object_instead() -> None:
    rule = TriggerRule()
    doc = policies.trigger_role_policy(N, rule=rule, endpoint=False, model_key="arch/onnx-abc.tar.gz")
    assert policies.findings(doc) == []
    want = common(rule)
    want["s3:GetObject"] = want["s3:GetObject"] | {
        "arn:aws:s3:::arch-123456789012-eu-west-1/arch/onnx-abc.tar.gz"
    }
    assert grants(doc) == want
    assert not any(a.startswith("sagemaker:") for a in grants(doc))


def test_environment_carries_the_rule_and_the_backend_settings() -> None:
    spec = load_aws_spec(None, {"name": "arch", "trigger.enabled": True}).spec
    rule = spec.trigger.rule()
    env = trigger_environment(spec, gateway_environment(spec, "arch-endpoint"), rule)
    assert TriggerRule.from_env(env) == rule
    assert env["OCRKIT_ENDPOINT_NAME"] == "arch-endpoint"
    assert env["OCRKIT_BACKEND_TIMEOUT_S"] == "25"  # the endpoint's invocation timeout, inside the 120 s
    assert "OCRKIT_URL_INPUT" not in env  # no request bodies, no URL fetching

    spec = load_aws_spec(None, {"name": "arch", "serving": "function", "trigger.enabled": True}).spec
    env = trigger_environment(spec, function_environment(spec, "s3://b/k", "ab" * 32), spec.trigger.rule())
    assert env["OCRKIT_MODEL_URI"] == "s3://b/k" and env["OCRKIT_BACKEND_TIMEOUT_S"] == "119"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"trigger.output_prefix": "incoming/done/"}, "trigger.output_prefix"),
        ({"trigger.input_prefix": "incoming"}, "trigger.input_prefix"),
        ({"trigger.suffixes": ["png"]}, "trigger.suffixes"),
        ({"trigger.timeout_s": 20}, "trigger.timeout_s"),  # not more than the endpoint's 25 s
        ({"trigger.max_retry_attempts": 3}, "max_retry_attempts"),
    ],
)
def test_bad_trigger_settings_are_one_line(overrides, field) -> None:
    with pytest.raises(ConfigError) as caught:
        load_aws_spec(None, {"trigger.enabled": True, **overrides})
    assert field in str(caught.value) and "\n" not in str(caught.value)


def test_trigger_off_by_default_and_checked_only_when_on() -> None:
    assert load_aws_spec(None).spec.trigger.enabled is False
    # a trigger section that would be refused does not stop a deploy without the trigger
    assert load_aws_spec(None, {"trigger.timeout_s": 20}).spec.trigger.timeout_s == 20
